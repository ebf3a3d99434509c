"""The 8x8 handwritten digits bundled with chainrule (no download, no data directory needed).

The file ``files/digits.csv.gz`` is scikit-learn's ``digits.csv.gz`` unchanged:
the test part of E. Alpaydin and C. Kaynak, "Optical Recognition of Handwritten
Digits", UCI Machine Learning Repository (CC BY 4.0). Each of its 1,797 rows is
64 pixel counts in row-major order, each 0..16 (the number of set pixels in a
4x4 block of the original 32x32 bitmap), then the label 0-9.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from importlib import resources

import numpy as np

from chainrule.data.download import ChecksumError

# the bundled file's sha256, checked on every load (57 KB: microseconds), so a damaged or
# replaced file is an error naming it rather than different training results
DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"


def load_digits(scale: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The bundled 8x8 digits: ``X`` float32 (1797, 64) and ``y`` int64 (1797,).

    Args:
        scale: divide the pixels by 16 into [0, 1]. By default they are returned
            unscaled, as the integers 0..16 (in float32), like scikit-learn's
            ``load_digits``; standardize them (``Standardizer``) before training.

    Returns:
        ``(X, y)``; reshape a row to (8, 8) to see the image. Class counts for
        digits 0..9: 178, 182, 177, 183, 181, 182, 181, 179, 174, 180.
    """
    source = resources.files("chainrule.data").joinpath("files/digits.csv.gz")
    packed = source.read_bytes()
    found = hashlib.sha256(packed).hexdigest()
    if found != DIGITS_SHA256:
        raise ChecksumError(f"load_digits: the bundled {source} is damaged (sha256 {found}, "
                            f"expected {DIGITS_SHA256}); reinstall chainrule")
    with gzip.open(io.BytesIO(packed), "rt") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.int64)
    X = table[:, :64].astype(np.float32)
    if scale:
        X /= np.float32(16)
    return X, table[:, 64].copy()
