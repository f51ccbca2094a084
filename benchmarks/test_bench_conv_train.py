"""Time one training epoch of the study's conv VAE on the CPU.

Random images in MNIST shape (1 x 32 x 32 after resizing) and CIFAR shape (3 x 32 x 32),
K = 128, the paper's batch size 256, one torch thread (set ``CONV_BENCH_THREADS``), 2048 images
(set ``CONV_BENCH_IMAGES``), under the torch settings train() runs its epochs with
(``torch_settings``: threads, determinism). Reports images per second next to the epoch's mean
loss (the accuracy-side figure: it must be finite and close between shapes' own reruns).

Run with ``pytest benchmarks/test_bench_conv_train.py --benchmark-only``.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conv_study.train import (  # noqa: E402
    TrainConfig,
    new_train_state,
    torch_settings,
    train_epoch,
)

N_IMAGES = int(os.environ.get("CONV_BENCH_IMAGES", "2048"))
THREADS = int(os.environ.get("CONV_BENCH_THREADS", "1"))


@pytest.mark.torch
@pytest.mark.parametrize(("shape", "channels"), [("mnist", 1), ("cifar", 3)])
def test_bench_train_epoch_cpu(benchmark, shape, channels):
    # The thread count and determinism that train() runs its epochs under.
    config = TrainConfig(latent_dim=128, device="cpu", seed=0, num_threads=THREADS)
    device = torch.device("cpu")
    with torch_settings(config, device):
        images = np.random.default_rng(0).random((N_IMAGES, channels, 32, 32), dtype=np.float32)
        x_train = torch.from_numpy(images)
        state = new_train_state(config, channels, device)

        def one_epoch():
            return train_epoch(state, x_train, config=config, epoch=1)

        metrics = benchmark.pedantic(one_epoch, rounds=1, iterations=1, warmup_rounds=0)
    seconds = benchmark.stats.stats.mean if benchmark.stats is not None else float("nan")
    benchmark.extra_info.update(
        {
            "images": N_IMAGES,
            "threads": THREADS,
            "images_per_second": N_IMAGES / seconds,
            "mean_loss": metrics["loss"],
        }
    )
    assert math.isfinite(metrics["loss"])
