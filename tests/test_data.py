"""Tests of chainrule.data: loaders, splits, preprocessing, and the real dataset files."""

from __future__ import annotations

import functools
import gzip
import http.server
import os
import shutil
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from chainrule.autograd.tensor import Tensor
from chainrule.data import (
    FASHION_MNIST_CLASSES,
    ChecksumError,
    DataLoader,
    Dataset,
    DatasetNotFoundError,
    IDXFormatError,
    Standardizer,
    TensorDataset,
    download_file,
    load_csv,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    one_hot,
    read_idx,
    standardize,
    train_test_split,
)
from chainrule.data.mnist import SHA256

SHARED = Path("/work/shared/data")
needs_shared = pytest.mark.skipif(not SHARED.is_dir(),
                                  reason=f"the real dataset files are not on this machine "
                                         f"({SHARED} is absent)")
DIGIT_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


# -- the real MNIST / Fashion-MNIST files -------------------------------------------------------


@pytest.fixture(scope="module")
def mnist():
    return load_mnist(SHARED)


@pytest.fixture(scope="module")
def fashion():
    return load_fashion_mnist(SHARED)


def _check_mnist_like(splits):
    (x_train, y_train), (x_test, y_test) = splits
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == np.uint8 and x_test.dtype == np.uint8
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert y_train.dtype == np.int64
    assert set(np.unique(y_train)) == set(range(10)) == set(np.unique(y_test))
    assert x_train.max() == 255 and x_train.min() == 0
    assert x_train.flags.writeable


@needs_shared
def test_mnist_idx(mnist):
    _check_mnist_like(mnist)
    # Published facts: the first training digit is a 5, the first test digit a 7.
    assert mnist[0][1][0] == 5 and mnist[1][1][0] == 7


@needs_shared
def test_fashion_mnist_idx(fashion):
    _check_mnist_like(fashion)
    assert np.array_equal(np.bincount(fashion[0][1]), [6000] * 10)
    assert np.array_equal(np.bincount(fashion[1][1]), [1000] * 10)
    assert len(FASHION_MNIST_CLASSES) == 10


@needs_shared
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_npz_and_gz_give_identical_arrays(name, mnist, fashion):
    loader = load_mnist if name == "mnist" else load_fashion_mnist
    from_gz = mnist if name == "mnist" else fashion
    from_npz = loader(SHARED / f"{name}.npz")
    for a, b in zip((*from_gz[0], *from_gz[1]), (*from_npz[0], *from_npz[1]), strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)


@needs_shared
def test_flatten_and_scale(mnist, tmp_path):
    # Through an .npz in a directory found by name, to cover that search path as well.
    os.symlink(SHARED / "mnist.npz", tmp_path / "mnist.npz")
    (x, y), (xt, _) = load_mnist(tmp_path, flatten=True, scale=True)
    assert x.shape == (60000, 784) and xt.shape == (10000, 784) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_allclose(x[0] * 255, mnist[0][0][0].reshape(-1), atol=1e-4)


@needs_shared
def test_env_var_directory(monkeypatch):
    monkeypatch.setenv("CHAINRULE_DATA", str(SHARED / "mnist.npz"))
    (x, _), _ = load_mnist()
    assert x.shape == (60000, 28, 28)


@needs_shared
def test_other_dataset_files_are_refused():
    # Both datasets use the same file names, so a directory of Fashion-MNIST files passed to
    # load_mnist must not be read as MNIST.
    with pytest.raises(ValueError, match="is a Fashion-MNIST file, not MNIST"):
        load_mnist(SHARED / "fashion-mnist")


def test_missing_dataset_names_paths_and_hint(tmp_path, monkeypatch):
    monkeypatch.delenv("CHAINRULE_DATA_MIRROR", raising=False)
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "mnist") in message and "train-images-idx3-ubyte" in message
    assert "mnist.npz" in message and "CHAINRULE_DATA" in message
    with pytest.raises(DatasetNotFoundError, match="apt install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path, download=False)


# -- the strict IDX parser ------------------------------------------------------------------------


def _idx_bytes(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + payload


def test_idx_roundtrip_plain_and_gzip(tmp_path):
    data = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    raw = _idx_bytes(2051, data.shape, data.tobytes())
    (tmp_path / "a").write_bytes(raw)
    (tmp_path / "a.gz").write_bytes(gzip.compress(raw))
    assert np.array_equal(read_idx(tmp_path / "a", 2051), data)
    assert np.array_equal(read_idx(tmp_path / "a.gz", 2051), data)
    # Big-endian int32 (type code 0x0C) comes back in native byte order.
    ints = np.array([1, -2, 70000], dtype=np.int32)
    (tmp_path / "i").write_bytes(_idx_bytes(0x0C01, (3,), ints.astype(">i4").tobytes()))
    assert np.array_equal(read_idx(tmp_path / "i"), ints)


def test_idx_truncated_payload(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(_idx_bytes(2049, (60000,), bytes(59000))))
    with pytest.raises(IDXFormatError, match=r"train-labels-idx1-ubyte\.gz: truncated data.*"
                       r"60000 bytes after the header, but the file holds only 59000"):
        read_idx(path, 2049)


@needs_shared
def test_idx_truncated_real_file(tmp_path):
    # The first 3 KB of the real (gzip) test labels: the gzip stream itself ends early.
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes((SHARED / "mnist" / path.name).read_bytes()[:3000])
    with pytest.raises(IDXFormatError, match=r"t10k-labels-idx1-ubyte\.gz: corrupt or truncated"):
        read_idx(path, 2049)


def test_idx_wrong_magic(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(_idx_bytes(2049, (4,), bytes(4)))
    with pytest.raises(IDXFormatError, match=r"t10k-images-idx3-ubyte: wrong magic number: "
                       r"expected 2051 .*found 2049"):
        read_idx(path, 2051)
    (tmp_path / "junk").write_bytes(b"PK\x03\x04 not an idx file")
    with pytest.raises(IDXFormatError, match="not an IDX file"):
        read_idx(tmp_path / "junk")


def test_idx_trailing_bytes_and_short_header(tmp_path):
    (tmp_path / "long").write_bytes(_idx_bytes(2049, (3,), bytes(5)))
    with pytest.raises(IDXFormatError, match="2 unexpected bytes after the 3 data bytes"):
        read_idx(tmp_path / "long", 2049)
    (tmp_path / "short").write_bytes(struct.pack(">I", 2051) + b"\0\0\0\1")
    with pytest.raises(IDXFormatError, match="truncated header: expected 3 dimension sizes"):
        read_idx(tmp_path / "short", 2051)


def test_truncated_file_in_a_dataset_directory(tmp_path):
    # A dataset directory whose test labels are short: the loader fails, naming the file.
    images = np.zeros((60000, 28, 28), np.uint8).tobytes()
    files = {"train-images-idx3-ubyte": _idx_bytes(2051, (60000, 28, 28), images),
             "train-labels-idx1-ubyte": _idx_bytes(2049, (60000,), bytes(60000)),
             "t10k-images-idx3-ubyte": _idx_bytes(2051, (10000, 28, 28), images[:7840000]),
             "t10k-labels-idx1-ubyte": _idx_bytes(2049, (10000,), bytes(9999))}
    (tmp_path / "mnist").mkdir()
    for name, raw in files.items():
        (tmp_path / "mnist" / name).write_bytes(raw)
    with pytest.raises(IDXFormatError, match=r"t10k-labels-idx1-ubyte: truncated data"):
        load_mnist(tmp_path)


# -- downloads with sha256 verification -----------------------------------------------------------


@pytest.fixture
def http_root(tmp_path):
    """A local HTTP server in a thread serving tmp_path/www; yields (directory, base URL)."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


@needs_shared
def test_download_accepts_good_and_refuses_tampered(http_root, tmp_path):
    root, url = http_root
    good = SHARED / "mnist" / "t10k-labels-idx1-ubyte.gz"
    shutil.copy(good, root / good.name)
    tampered = bytearray(good.read_bytes())
    tampered[100] ^= 1
    (root / "tampered.gz").write_bytes(bytes(tampered))
    out = tmp_path / "out"

    dest = download_file(f"{url}/{good.name}", out / good.name, SHA256["mnist"][3])
    assert dest.read_bytes() == good.read_bytes()

    with pytest.raises(ChecksumError, match=r"sha256 mismatch .*tampered\.gz: expected "
                       + SHA256["mnist"][3]):
        download_file(f"{url}/tampered.gz", out / "bad.gz", SHA256["mnist"][3])
    assert _leftovers(out) == [good.name]  # no bad.gz and no temporary file


@needs_shared
def test_load_mnist_downloads_from_mirror(http_root, tmp_path):
    root, url = http_root
    for name in os.listdir(SHARED / "mnist"):
        os.symlink(SHARED / "mnist" / name, root / name)
    target = tmp_path / "data"
    (x, y), (xt, yt) = load_mnist(target, mirrors=[f"{url}/missing/", url])
    assert x.shape == (60000, 28, 28) and yt.shape == (10000,)
    assert len(_leftovers(target / "mnist")) == 4
    # Second call: found locally, the server is not needed.
    assert load_mnist(target, download=False)[1][1].shape == (10000,)


@needs_shared
def test_load_refuses_tampered_download(tmp_path, monkeypatch):
    # A file:// mirror given by the environment variable, with one tampered file.
    mirror = tmp_path / "mirror" / "fashion-mnist"
    mirror.mkdir(parents=True)
    for name in os.listdir(SHARED / "fashion-mnist"):
        if name.startswith("t10k"):
            shutil.copy(SHARED / "fashion-mnist" / name, mirror / name)
    (mirror / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8bnot the real file")
    monkeypatch.setenv("CHAINRULE_DATA_MIRROR", (tmp_path / "mirror").as_uri())
    target = tmp_path / "data"
    with pytest.raises(ChecksumError, match=r"(?s)train-images-idx3-ubyte\.gz.*sha256 mismatch"):
        load_fashion_mnist(target)
    assert _leftovers(target / "fashion-mnist") == []


def test_download_unreachable_mirror(tmp_path):
    with pytest.raises(OSError, match=r"could not download train-images-idx3-ubyte\.gz"):
        load_mnist(tmp_path, mirrors=[(tmp_path / "nowhere").as_uri()])
    assert _leftovers(tmp_path / "mnist") == []


# -- bundled digits -----------------------------------------------------------------------------


def test_load_digits():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 16 and np.all(X == np.round(X))
    assert np.bincount(y).tolist() == DIGIT_COUNTS
    Xs, _ = load_digits(scale=True)
    assert Xs.max() == 1.0 and np.allclose(Xs * 16, X)


def test_load_digits_refuses_a_damaged_bundled_file(monkeypatch):
    from chainrule.data import ChecksumError, digits

    monkeypatch.setattr(digits, "DIGITS_SHA256", "0" * 64)  # as if the file had changed
    with pytest.raises(ChecksumError, match=r"load_digits: the bundled .*digits\.csv\.gz is "
                                            r"damaged \(sha256 09f66e6d.*expected 0{64}\)"):
        load_digits()


# -- Dataset and DataLoader ---------------------------------------------------------------------


def _xy(n=10):
    return np.arange(n * 3, dtype=np.float32).reshape(n, 3), np.arange(n, dtype=np.int64)


def test_tensor_dataset_items_and_length_check():
    x, y = _xy()
    ds = TensorDataset(x, Tensor(y))
    assert len(ds) == 10
    xi, yi = ds[3]
    assert isinstance(xi, Tensor) and np.array_equal(xi.data, x[3]) and yi.item() == 3
    with pytest.raises(ValueError, match=r"same length along the first axis.*\(10, 3\).*\(9,\)"):
        TensorDataset(x, y[:9])


def test_loader_batches_and_len():
    x, y = _xy(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 == len(batches)
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    xb, yb = batches[0]
    assert isinstance(xb, Tensor) and xb.dtype == np.float32 and yb.dtype == np.int64
    assert np.array_equal(np.concatenate([b[0].data for b in batches]), x)
    dropped = DataLoader(TensorDataset(x, y), batch_size=4, drop_last=True)
    assert len(dropped) == 2 and [len(b[1]) for b in dropped] == [4, 4]
    assert len(DataLoader(TensorDataset(x, y), batch_size=20, drop_last=True)) == 0
    # Batches are copies: changing one in place leaves the dataset alone.
    xb.data[:] = -1
    assert x.min() >= 0


def test_loader_shuffle_is_reproducible_and_new_each_epoch():
    x, y = _xy(50)

    def epochs(loader, k=3):
        return [np.concatenate([b[1].data for b in loader]) for _ in range(k)]

    a = epochs(DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, seed=7))
    b = epochs(DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, seed=7))
    c = epochs(DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, seed=8))
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a[0], c[0])
    assert all(sorted(e.tolist()) == list(range(50)) for e in a)
    # Rows stay paired with their labels after shuffling.
    for xb, yb in DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, seed=1):
        assert np.array_equal(xb.data, x[yb.data])
    g = DataLoader(TensorDataset(x, y), batch_size=50, shuffle=True,
                   generator=np.random.default_rng(7))
    assert np.array_equal(next(iter(g))[1].data, a[0])


def test_loader_fast_path_does_not_index_examples():
    class NoItems(TensorDataset):
        def __getitem__(self, index):
            raise AssertionError("the TensorDataset fast path must not read single examples")

    x, y = _xy(10)
    assert sum(len(b[0]) for b in DataLoader(NoItems(x, y), batch_size=3, shuffle=True)) == 10


def test_loader_generic_dataset_and_errors():
    class Squares(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.float32([i, i * i]), i

    (xb, yb), (x2, _) = list(DataLoader(Squares(), batch_size=3))
    assert xb.shape == (3, 2) and yb.data.tolist() == [0, 1, 2] and x2.shape == (2, 2)
    with pytest.raises(TypeError, match="abstract"):
        Dataset()
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        DataLoader(Squares(), batch_size=0)
    with pytest.raises(ValueError, match="either seed or generator"):
        DataLoader(Squares(), seed=1, generator=np.random.default_rng())


# -- train_test_split, one_hot, standardization ---------------------------------------------------


def test_train_test_split_sizes_order_and_seed():
    x, y = _xy(10)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, seed=0)
    assert len(x_test) == 3 and len(x_train) == 7  # ceil(0.25 * 10), as scikit-learn
    assert np.array_equal(x_train[:, 0] / 3, y_train) and np.array_equal(x_test[:, 0] / 3, y_test)
    assert sorted(np.concatenate([y_train, y_test]).tolist()) == list(range(10))
    again = train_test_split(x, y, test_size=0.25, seed=0)
    assert np.array_equal(again[3], y_test)
    a, b = train_test_split(Tensor(y), test_size=4, seed=0)
    assert isinstance(a, Tensor) and len(a) == 6 and len(b) == 4
    with pytest.raises(ValueError, match="different lengths"):
        train_test_split(x, y[:5])
    with pytest.raises(ValueError, match="must be in \\(0, 1\\)"):
        train_test_split(x, test_size=1.5)


def test_train_test_split_stratified():
    X, y = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(X, y, test_size=0.2, seed=3, stratify=y)
    assert len(y_test) == 360 and len(y_train) == 1437
    share = np.array(DIGIT_COUNTS) * 0.2
    assert np.all(np.abs(np.bincount(y_test, minlength=10) - share) < 1)
    # The rows still match their labels.
    rows = {tuple(r): label for r, label in zip(X.tolist(), y.tolist(), strict=True)}
    assert all(rows[tuple(r)] == label for r, label in zip(x_test.tolist(), y_test.tolist(),
                                                            strict=True))
    with pytest.raises(ValueError, match="at least 2 examples of every class"):
        train_test_split(np.arange(5), stratify=[0, 0, 1, 1, 2])


def test_one_hot():
    out = one_hot(np.array([2, 0, 1]))
    assert out.dtype == np.float32 and out.tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0]]
    assert one_hot([1], num_classes=4).shape == (1, 4)
    assert isinstance(one_hot(Tensor(np.array([0, 1]))), Tensor)
    with pytest.raises(ValueError, match="does not fit num_classes=2"):
        one_hot([0, 2], num_classes=2)
    with pytest.raises(ValueError, match="whole numbers"):
        one_hot(np.array([0.5]))


def test_standardizer_train_statistics_and_constant_features():
    rng = np.random.default_rng(0)
    train = np.column_stack([rng.normal(5, 2, 200), np.full(200, 3.0), rng.normal(0, 1, 200)]
                            ).astype(np.float32)
    test = train[:10] + 1
    scaler = Standardizer().fit(train)
    z = scaler.transform(train)
    assert z.dtype == np.float32 and np.all(np.isfinite(z))
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=0), [1, 0, 1], atol=1e-5)
    assert scaler.std_[1] == 0 and scaler.scale_[1] == 1
    np.testing.assert_allclose(scaler.mean_, train.mean(axis=0), rtol=1e-5)
    # Test data uses the training statistics, not its own.
    np.testing.assert_allclose(scaler.transform(test), (test - scaler.mean_) / scaler.scale_)
    np.testing.assert_allclose(scaler.inverse_transform(z), train, rtol=1e-5, atol=1e-5)
    z_train, z_test = standardize(train, test)
    np.testing.assert_allclose(z_test, scaler.transform(test))
    with pytest.raises(RuntimeError, match="call fit"):
        Standardizer().transform(train)
    with pytest.raises(ValueError, match=r"expected examples of shape \(3,\)"):
        scaler.transform(train[:, :2])


# -- CSV -------------------------------------------------------------------------------------------


def test_load_csv_integer_and_string_labels(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,label,b\n1,2,0.5\n3,0,-1e3\n")
    X, y, classes, names = load_csv(path, "label")
    assert X.dtype == np.float32 and X.tolist() == [[1, 0.5], [3, -1000]]
    assert y.tolist() == [2, 0] and classes == [0, 1, 2] and names == ["a", "b"]
    path.write_text("x,species\n1,setosa\n2,virginica\n3,setosa\n")
    table = load_csv(path, "species")
    assert table.y.tolist() == [0, 1, 0] and table.classes == ["setosa", "virginica"]
    gz = tmp_path / "t.csv.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert load_csv(gz, "species").X.shape == (3, 1)


def test_load_csv_errors(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("width,height,label\n1,2,a\n3,tall,b\n")
    with pytest.raises(ValueError, match=r"row 2 \(line 3\), column 'height'.*'tall' is not a "
                       r"finite number"):
        load_csv(path, "label")
    path.write_text("width,height,label\n1,,a\n")
    with pytest.raises(ValueError, match=r"row 1 \(line 2\), column 'height'.*empty"):
        load_csv(path, "label")
    with pytest.raises(ValueError, match=r"no column 'target'.*\['width', 'height', 'label'\]"):
        load_csv(path, "target")
    path.write_text("width,label\n1,a\n2\n")
    with pytest.raises(ValueError, match="line 3: expected 2 cells"):
        load_csv(path, "label")
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        load_csv(tmp_path / "missing.csv", "label")
