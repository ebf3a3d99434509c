"""Downloading data files with sha256 verification and no partial files left behind."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from chainrule._io import atomic_write

_CHUNK = 1 << 20


class ChecksumError(OSError):
    """A downloaded file's sha256 differs from the known one; the file was not kept."""


def download_file(url: str, dest: str | os.PathLike, sha256: str, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` if its sha256 is ``sha256``.

    The bytes go to a temporary file in ``dest``'s directory and are renamed to
    ``dest`` only after the hash matched, so an interrupted download or a
    tampered file never leaves a partial or wrong ``dest``. ``file://`` URLs work
    too (local mirrors, tests).

    Raises:
        ChecksumError: the hash differs (nothing is written).
        OSError: the URL could not be read (``urllib.error.URLError`` is an OSError).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout) as response, atomic_write(dest) as out:
        while chunk := response.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
        found = digest.hexdigest()
        if found != sha256.lower():
            # Raising inside atomic_write deletes the temporary file.
            raise ChecksumError(f"sha256 mismatch for {url}: expected {sha256}, found {found}; "
                                f"the file was refused and {dest} not written")
    return dest


def download_from_mirrors(name: str, mirrors: Sequence[str], dest: str | os.PathLike,
                          sha256: str) -> Path:
    """Download file ``name`` from the first of ``mirrors`` (base URLs) that serves it intact.

    Raises an ``OSError`` listing every mirror tried and why it failed; a
    ``ChecksumError`` if every failure was a checksum mismatch.
    """
    failures: list[str] = []
    only_checksums = True
    for base in mirrors:
        url = base.rstrip("/") + "/" + name
        try:
            return download_file(url, dest, sha256)
        except ChecksumError as e:
            failures.append(str(e))
        except (OSError, ValueError) as e:  # URLError, HTTPError, timeouts, bad URLs
            only_checksums = False
            failures.append(f"{url}: {e}")
    error = ChecksumError if only_checksums and failures else OSError
    raise error(f"could not download {name} to {dest}:\n  " + "\n  ".join(failures))
