"""Fixtures shared by the conv_study tests: tiny image data, a tiny trained run, one thread,
fake layer representations."""

from __future__ import annotations

import numpy as np
import pytest


def blob_images(n: int, *, side: int = 28, seed: int = 0) -> np.ndarray:
    """``n`` uint8 images (n, side, side) of one Gaussian blob each, at random centres.

    Smooth blobs rather than white noise, so training is well behaved; their intrinsic
    dimension is 2 (the centre).
    """
    rng = np.random.default_rng(seed)
    grid = np.linspace(-1, 1, side)
    centers = rng.uniform(-0.5, 0.5, (n, 2))
    images = np.exp(
        -(
            (grid[None, :, None] - centers[:, 0, None, None]) ** 2
            + (grid[None, None, :] - centers[:, 1, None, None]) ** 2
        )
        / 0.1
    )
    return (255 * images).astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory) -> str:
    """Tiny and fast: 50 training and 16 test blob images (28 x 28), dummy training labels."""
    n_train, n_test = 50, 16
    images = blob_images(n_train + n_test)
    path = tmp_path_factory.mktemp("data") / "blobs.npz"
    np.savez(path, x_train=images[:n_train], x_test=images[n_train:], y_train=np.zeros(n_train))
    return str(path)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A run directory ``blobs-K2``: K = 2, 2 epochs, checkpoints 0, 1, 2; 60 eval images."""
    pytest.importorskip("torch")
    from conv_study.data import DataConfig
    from conv_study.train import TrainConfig, train

    n_train, n_test = 48, 60
    images = blob_images(n_train + n_test)
    root = tmp_path_factory.mktemp("analysis")
    path = root / "blobs.npz"
    np.savez(path, x_train=images[:n_train], x_test=images[n_train:])
    run_dir = root / "blobs-K2"
    train(
        run_dir,
        data=DataConfig(dataset="npz", path=str(path), n_eval=n_test),
        config=TrainConfig(
            latent_dim=2,
            epochs=2,
            batch_size=16,
            checkpoint_epochs=(0, 1),
            num_threads=1,
            device="cpu",
        ),
    )
    return run_dir


@pytest.fixture
def one_torch_thread():
    """torch on one thread for the test (bitwise reproducible CPU kernels), restored after."""
    torch = pytest.importorskip("torch")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def fake_layers():
    """A function ``(n=200, latent=3, seed=0) -> {"l0".."l10", "mu": array (n, width)}``.

    A 'network' of random linear maps (and tanh) of a 4-dim latent cloud, with widths like a
    tiny VAE's and a bottleneck l5 of width ``latent``; ``mu`` is l5 plus 1% noise.
    """

    def make(n: int = 200, latent: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((n, 4))
        widths = (20, 40, 30, 16, 8, latent, 8, 16, 30, 40, 20)
        reps = {f"l{i}": np.tanh(z @ rng.standard_normal((4, w))) for i, w in enumerate(widths)}
        reps["mu"] = reps["l5"] + 0.01 * rng.standard_normal((n, latent))
        return reps

    return make
