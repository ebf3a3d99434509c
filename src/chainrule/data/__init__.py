"""Data for training: datasets and mini-batch loading, splits and preprocessing, and loaders
for the bundled 8x8 digits, MNIST, Fashion-MNIST and CSV tables.

Nothing here reads a fixed machine path except the documented default search
locations of ``load_mnist``/``load_fashion_mnist``; the digits ship inside the package.
"""

from chainrule.data.dataset import Dataset, TensorDataset, as_dataset
from chainrule.data.digits import load_digits
from chainrule.data.download import ChecksumError, download_file
from chainrule.data.idx import IDXFormatError, read_idx
from chainrule.data.loader import DataLoader, collate
from chainrule.data.mnist import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_MIRRORS,
    MNIST_MIRRORS,
    PUBLIC_MIRRORS,
    DatasetNotFoundError,
    load_fashion_mnist,
    load_mnist,
)
from chainrule.data.preprocessing import Standardizer, one_hot, standardize, train_test_split
from chainrule.data.registry import (
    DATASETS,
    NamedDataset,
    check_dataset_name,
    load_dataset,
    match_classes,
)
from chainrule.data.tabular import CSVData, load_csv, read_features

__all__ = [
    "CSVData", "ChecksumError", "DATASETS", "DataLoader", "Dataset", "DatasetNotFoundError",
    "FASHION_MNIST_CLASSES", "FASHION_MNIST_MIRRORS", "IDXFormatError", "MNIST_MIRRORS",
    "NamedDataset", "PUBLIC_MIRRORS", "Standardizer", "TensorDataset", "as_dataset",
    "check_dataset_name", "collate", "download_file", "load_csv", "load_dataset",
    "load_digits", "load_fashion_mnist", "load_mnist", "match_classes", "one_hot",
    "read_features", "read_idx", "standardize", "train_test_split",
]
