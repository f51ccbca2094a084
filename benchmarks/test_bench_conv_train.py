"""Time one training epoch of the study's conv VAE on the CPU.

Random images in MNIST shape (1 x 32 x 32 after resizing) and CIFAR shape (3 x 32 x 32),
K = 128, the paper's batch size 256, one torch thread (set ``CONV_BENCH_THREADS``), 2048 images
(set ``CONV_BENCH_IMAGES``). Reports images per second next to the epoch's mean loss (the
accuracy-side figure: it must be finite and close between shapes' own reruns).

Run with ``pytest benchmarks/test_bench_conv_train.py --benchmark-only``.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conv_study.train import TrainConfig, new_train_state, train_epoch  # noqa: E402

N_IMAGES = int(os.environ.get("CONV_BENCH_IMAGES", "2048"))
THREADS = int(os.environ.get("CONV_BENCH_THREADS", "1"))


@pytest.mark.torch
@pytest.mark.parametrize(("shape", "channels"), [("mnist", 1), ("cifar", 3)])
def test_bench_train_epoch_cpu(benchmark, shape, channels):
    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        config = TrainConfig(latent_dim=128, device="cpu", seed=0)
        images = np.random.default_rng(0).random((N_IMAGES, channels, 32, 32), dtype=np.float32)
        x_train = torch.from_numpy(images)
        state = new_train_state(config, channels, torch.device("cpu"))

        def one_epoch():
            return train_epoch(state, x_train, config=config, epoch=1)

        metrics = benchmark.pedantic(one_epoch, rounds=1, iterations=1, warmup_rounds=0)
    finally:
        torch.set_num_threads(previous)
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
