"""Overhead of the live geometry monitor on the study's training, at its defaults.

`conv_study.monitor.GeometryMonitor` measures the ID of l0..l10 and ``mu`` and the study's
imbalances (consecutive both ways, every layer to l0 and to l10) on a fixed probe subset of
``DEFAULT_POINTS`` images, every ``DEFAULT_EVERY`` optimizer steps. Its share of training
time is

    overhead = t_measure / (DEFAULT_EVERY * t_step),

with ``t_step`` one training step of the paper's recipe (batch 256, K = 16, under the torch
settings train() uses) and ``t_measure`` one measurement (forward passes and estimators),
each the best of interleaved rounds, so that load from other processes hits both alike. The
goal is an overhead under 10%. The accuracy-side figure printed next to it: the monitor's
ID of the input layer on the probe subset of blob images, whose true dimension is 2.

Run with ``pytest benchmarks/test_bench_monitor.py --benchmark-only -s``;
``CONV_BENCH_ROUNDS`` sets the rounds (default 3).
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conv_study.config import TrainConfig  # noqa: E402
from conv_study.data import to_model_input  # noqa: E402
from conv_study.device import torch_settings  # noqa: E402
from conv_study.epoch import train_epoch  # noqa: E402
from conv_study.monitor import DEFAULT_EVERY, DEFAULT_POINTS  # noqa: E402
from conv_study.taps import study_monitor  # noqa: E402
from conv_study.train_state import new_train_state  # noqa: E402

ROUNDS = int(os.environ.get("CONV_BENCH_ROUNDS", "3"))
BATCH, K, STEPS = 256, 16, 2


def _blob_images(n: int, side: int = 28) -> np.ndarray:
    """``n`` uint8 images (n, 1, side, side), one Gaussian blob each (intrinsic dimension 2)."""
    centers = np.random.default_rng(0).uniform(-0.5, 0.5, (n, 2))
    grid = np.linspace(-1, 1, side)
    d2 = (grid[None, :, None] - centers[:, 0, None, None]) ** 2 + (
        grid[None, None, :] - centers[:, 1, None, None]
    ) ** 2
    return (255 * np.exp(-d2 / 0.1)).astype(np.uint8)[:, None]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def test_bench_monitor_overhead(benchmark):
    config = TrainConfig(latent_dim=K, batch_size=BATCH, device="cpu", seed=0)
    device = torch.device("cpu")
    images = torch.from_numpy(to_model_input(_blob_images(BATCH * STEPS + DEFAULT_POINTS)))
    x_train, x_probe = images[: BATCH * STEPS], images[BATCH * STEPS :]
    with torch_settings(config, device):
        state = new_train_state(config, 1, device)
        monitor = study_monitor()(state.model, x_probe)
        step_times, measure_times = [], []
        for _ in range(ROUNDS):
            tic = time.perf_counter()
            train_epoch(state, x_train, config=config, epoch=1)
            step_times.append((time.perf_counter() - tic) / STEPS)
            tic = time.perf_counter()
            result = monitor.measure(0)
            measure_times.append(time.perf_counter() - tic)
        benchmark.pedantic(monitor.measure, args=(0,), rounds=1, iterations=1)
    t_step, t_measure = min(step_times), min(measure_times)
    overhead = t_measure / (DEFAULT_EVERY * t_step)
    info = {
        "cpu": _cpu_model(),
        "threads": torch.get_num_threads(),
        "every": DEFAULT_EVERY,
        "points": DEFAULT_POINTS,
        "t_step_s": t_step,
        "t_measure_s": t_measure,
        "overhead": overhead,
        "input_id": result.ids["l0"],
    }
    benchmark.extra_info.update(info)
    print(
        f"\nmonitor on {info['cpu']} ({info['threads']} threads): one training step "
        f"{t_step:.3f} s, one measurement {t_measure:.2f} s ({DEFAULT_POINTS} points, "
        f"every {DEFAULT_EVERY} steps): overhead {100 * overhead:.1f}% of training; "
        f"input ID {result.ids['l0']:.2f} (true 2)"
    )
    assert np.isfinite(overhead)
