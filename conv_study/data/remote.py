"""Downloads for users who are online: the official files, verified by checksum.

`download` fetches the official MNIST, Fashion-MNIST or CIFAR-10 files and verifies
their published MD5 checksums; `fetch` downloads one file and checks an MD5 and/or
SHA-256. Nothing else in `conv_study` touches the network: every reader works offline.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from linvae.utils.io import atomic_write
from linvae.utils.process import check_interrupt
from linvae.utils.validation import check_choice

__all__ = ["REMOTES", "ChecksumError", "Remote", "download", "fetch"]

logger = logging.getLogger(__name__)

_BLOCK = 1 << 20


@dataclass(frozen=True)
class Remote:
    """Where a dataset's official files live.

    Attributes
    ----------
    mirrors : tuple of str
        Base URLs, tried in order (file names are appended).
    files : dict[str, str]
        File name -> official MD5.
    extract : bool
        Whether the (single) file is a ``.tar.gz`` archive to extract after verification.
    """

    mirrors: tuple[str, ...]
    files: dict[str, str]
    extract: bool = False


#: The official hosts and MD5 checksums (the values torchvision uses) of each dataset.
REMOTES: dict[str, Remote] = {
    "mnist": Remote(
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        files={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
    ),
    "fashion-mnist": Remote(
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        files={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
    "cifar10": Remote(
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        files={"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"},
        extract=True,
    ),
}


class ChecksumError(ValueError):
    """A downloaded file does not have the expected checksum."""


def _expected(md5: str | None, sha256: str | None) -> dict[str, str]:
    return {alg: value.lower() for alg, value in (("md5", md5), ("sha256", sha256)) if value}


def _check_digests(got: dict[str, str], expected: dict[str, str], what: str) -> None:
    for algorithm, want in expected.items():
        if got[algorithm] != want:
            raise ChecksumError(
                f"{what} has {algorithm} {got[algorithm]}; expected {want}. The download is "
                "corrupt or not the official file; delete it and try again or another mirror."
            )


def _file_digests(path: Path, algorithms) -> dict[str, str]:
    digests = {alg: hashlib.new(alg) for alg in algorithms}
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            for digest in digests.values():
                digest.update(block)
    return {alg: digest.hexdigest() for alg, digest in digests.items()}


def fetch(
    url: str,
    dest: str | os.PathLike[str],
    *,
    md5: str | None = None,
    sha256: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` and verify its checksum(s).

    The bytes go to a temporary file in ``dest``'s directory
    (`linvae.utils.io.atomic_write`), which replaces ``dest`` only once the checksums
    match, so ``dest`` is never a partial or unverified file. An existing ``dest`` with
    matching checksums is kept without downloading.

    Parameters
    ----------
    url : str
        Source URL.
    dest : path-like
        Target file.
    md5, sha256 : str, optional
        Expected hex digests (at least one is recommended).
    timeout : float
        Socket timeout in seconds.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    ChecksumError
        If the downloaded bytes do not match (``dest`` is left untouched).
    urllib.error.URLError
        If the server cannot be reached.
    """
    dest = Path(dest)
    expected = _expected(md5, sha256)
    if dest.is_file() and expected:
        try:
            _check_digests(_file_digests(dest, expected), expected, str(dest))
        except ChecksumError:
            logger.info("%s exists but fails its checksum; downloading again", dest)
        else:
            logger.info("%s already present and verified", dest)
            return dest

    def download_verified(handle: IO[bytes]) -> None:
        # Hashed while streaming; raising here leaves ``dest`` untouched.
        digests = {alg: hashlib.new(alg) for alg in expected}
        with urllib.request.urlopen(url, timeout=timeout) as response:
            for block in iter(lambda: response.read(_BLOCK), b""):
                check_interrupt()  # a safe point: the temporary file is removed, dest untouched
                handle.write(block)
                for digest in digests.values():
                    digest.update(block)
        got = {alg: digest.hexdigest() for alg, digest in digests.items()}
        _check_digests(got, expected, f"{url} (downloaded)")

    logger.info("downloading %s", url)
    return atomic_write(dest, download_verified)


def download(
    dataset: str,
    data_dir: str | os.PathLike[str],
    *,
    mirror: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download a dataset's official files into ``data_dir`` and verify their MD5 checksums.

    Parameters
    ----------
    dataset : {"mnist", "fashion-mnist", "cifar10"}
        Which dataset.
    data_dir : path-like
        Target directory; pass the same directory as ``data_dir`` / ``--data-dir`` later.
    mirror : str, optional
        Base URL to use instead of the official ones (file names are appended).
    timeout : float
        Socket timeout in seconds.

    Returns
    -------
    pathlib.Path
        ``data_dir``. MNIST-like files are stored there as ``*.gz``; CIFAR-10's archive is
        verified and extracted to ``data_dir/cifar-10-batches-py``.

    Raises
    ------
    ValueError
        For an unknown dataset.
    ChecksumError
        If a file fails its checksum from every mirror.
    """
    check_choice("dataset", dataset, "download", REMOTES)
    remote = REMOTES[dataset]
    data_dir = Path(data_dir)
    mirrors = (mirror,) if mirror else remote.mirrors
    for name, md5 in remote.files.items():
        errors = []
        for base in mirrors:
            url = base.rstrip("/") + "/" + name
            try:
                fetch(url, data_dir / name, md5=md5, timeout=timeout)
                break
            except (urllib.error.URLError, OSError, ChecksumError) as err:
                errors.append(f"{url}: {err}")
        else:
            failures = "; ".join(errors)
            if all("md5" in e for e in errors):
                raise ChecksumError(f"Could not download a verified {name}: {failures}")
            raise OSError(f"Could not download {name}: {failures}")
        if remote.extract:
            with tarfile.open(data_dir / name, "r:gz") as archive:
                archive.extractall(data_dir, filter="data")
    return data_dir
