"""Training speed of the study's conv VAE on the CPU: where a step goes, and what helps.

The paper's network at K = 128, batch 256, MNIST shape (1 x 32 x 32), under the torch
settings train() runs its epochs with (``torch_settings``). ``CONV_BENCH_THREADS`` sets the
torch threads (default: torch's own count), ``CONV_BENCH_ROUNDS`` the interleaved rounds.

* ``test_bench_train_variants`` times training steps of four variants side by side, in
  interleaved rounds (each round runs every variant once, so load from other processes hits
  them alike), and keeps each variant's best round:

  - ``before``: the loop as it was, float32 in the NCHW layout, with the deterministic mode's
    NaN filling of every new tensor;
  - ``channels_last``: the NHWC layout that oneDNN's convolutions prefer;
  - ``bf16``: bfloat16 autocast (AVX-512 BF16 / AMX);
  - ``channels_last+bf16``: both (what ``TrainConfig(amp=True)`` runs on such a CPU).

  It records images/s, the ratio to ``before``, the split of a step into data, forward,
  backward and optimizer, the evaluation's images/s, the mean loss (the accuracy-side figure)
  and the roofline: floating-point operations per training image (torch's FLOP counter)
  against the machine's float32 and bfloat16 matrix-product rates.
* ``test_bench_train_epoch_cpu`` times one epoch of ``train_epoch`` as train() runs it
  (channels_last, and bfloat16 where the CPU has it) on 2,048 random images.

Run with ``pytest benchmarks/test_bench_conv_train.py --benchmark-only -s``.
"""

from __future__ import annotations

import contextlib
import math
import os
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.utils.deterministic as deterministic  # noqa: E402

from conv_study.config import TrainConfig  # noqa: E402
from conv_study.device import cpu_has_bfloat16, torch_settings  # noqa: E402
from conv_study.epoch import train_epoch, vae_loss_terms  # noqa: E402
from conv_study.train_state import new_train_state  # noqa: E402

N_IMAGES = int(os.environ.get("CONV_BENCH_IMAGES", "2048"))
THREADS = int(os.environ.get("CONV_BENCH_THREADS", str(torch.get_num_threads())))
ROUNDS = int(os.environ.get("CONV_BENCH_ROUNDS", "5"))
BATCH, K, STEPS = 256, 128, 2

VARIANTS = {
    "before": {"channels_last": False, "amp": False, "fill": True},
    "channels_last": {"channels_last": True, "amp": False, "fill": False},
    "bf16": {"channels_last": False, "amp": True, "fill": False},
    "channels_last+bf16": {"channels_last": True, "amp": True, "fill": False},
}


class _Variant:
    """A training state and its per-part step timer."""

    def __init__(self, channels_last: bool, amp: bool, fill: bool) -> None:
        self.config = TrainConfig(
            latent_dim=K, device="cpu", seed=0, channels_last=channels_last, amp=amp
        )
        self.state = new_train_state(self.config, 1, torch.device("cpu"))
        self.layout = torch.channels_last if channels_last else torch.contiguous_format
        self.dtype = torch.bfloat16 if amp else None
        self.fill = fill
        self.images = torch.rand((N_IMAGES, 1, 32, 32), generator=torch.Generator().manual_seed(0))
        self.perm = torch.randperm(N_IMAGES, generator=torch.Generator().manual_seed(1))
        self.best: dict[str, float] | None = None
        self.losses: list[float] = []

    def _autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast("cpu", dtype=self.dtype)

    def steps(self, n: int) -> dict[str, float]:
        model, optimizer = self.state.model, self.state.optimizer
        parts = dict.fromkeys(("data", "forward", "backward", "optimizer"), 0.0)
        previous_fill = deterministic.fill_uninitialized_memory
        deterministic.fill_uninitialized_memory = self.fill
        try:
            for i in range(n):
                t0 = time.perf_counter()
                idx = self.perm[(i * BATCH) % N_IMAGES :][:BATCH]
                x = self.images.index_select(0, idx).contiguous(memory_format=self.layout)
                t1 = time.perf_counter()
                with self._autocast():
                    out = model(x, generator=self.state.noise_gen)
                recon, kl = vae_loss_terms(out.logits, x, out.mu, out.logvar)
                loss = recon + kl
                t2 = time.perf_counter()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                t3 = time.perf_counter()
                optimizer.step()
                t4 = time.perf_counter()
                for key, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                    parts[key] += dt / n
                self.losses.append(loss.item() / BATCH)  # outside the timed parts
        finally:
            deterministic.fill_uninitialized_memory = previous_fill
        if self.best is None or sum(parts.values()) < sum(self.best.values()):
            self.best = parts
        return parts

    def eval_rate(self) -> float:
        model = self.state.model
        x = self.images[:1000].contiguous(memory_format=self.layout)
        model.eval()
        with torch.no_grad(), self._autocast():
            t0 = time.perf_counter()
            model(x, generator=self.state.noise_gen)
            seconds = time.perf_counter() - t0
        model.train()
        return 1000 / seconds


def _matmul_rate(dtype: torch.dtype, n: int = 1024, repeats: int = 5) -> float:
    """Best-of floating-point operations per second of an n x n x n matrix product."""
    a = torch.rand((n, n), dtype=torch.float32).to(dtype)
    b = torch.rand((n, n), dtype=torch.float32).to(dtype)
    torch.mm(a, b)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def _flops_per_training_image() -> float:
    from torch.utils.flop_counter import FlopCounterMode

    state = new_train_state(TrainConfig(latent_dim=K, device="cpu"), 1, torch.device("cpu"))
    x = torch.rand((BATCH, 1, 32, 32))
    with FlopCounterMode(display=False) as counter:
        out = state.model(x, generator=state.noise_gen)
        recon, kl = vae_loss_terms(out.logits, x, out.mu, out.logvar)
        (recon + kl).backward()
    return counter.get_total_flops() / BATCH


@pytest.mark.torch
def test_bench_train_variants(benchmark):
    config = TrainConfig(latent_dim=K, device="cpu", seed=0, num_threads=THREADS)
    with torch_settings(config, torch.device("cpu")):
        variants = {
            name: _Variant(**spec)
            for name, spec in VARIANTS.items()
            if not spec["amp"] or cpu_has_bfloat16()
        }
        for variant in variants.values():
            variant.steps(1)  # oneDNN builds its kernels on the first call

        def interleaved_rounds():
            for _ in range(ROUNDS):
                for variant in variants.values():
                    variant.steps(STEPS)

        benchmark.pedantic(interleaved_rounds, rounds=1, iterations=1, warmup_rounds=0)
        eval_rates = {name: v.eval_rate() for name, v in variants.items()}
        flops = _flops_per_training_image()
        fp32_rate, bf16_rate = _matmul_rate(torch.float32), _matmul_rate(torch.bfloat16)

    rates = {name: BATCH / sum(v.best.values()) for name, v in variants.items()}
    info = {
        "threads": THREADS,
        "rounds": ROUNDS,
        "steps_per_round": STEPS,
        "flops_per_training_image": flops,
        "matmul_gflops_fp32": fp32_rate / 1e9,
        "matmul_gflops_bf16": bf16_rate / 1e9,
        "roofline_images_per_second_fp32": fp32_rate / flops,
        "roofline_images_per_second_bf16": bf16_rate / flops,
    }
    lines = [
        f"threads {THREADS}; {flops / 1e6:.0f} MFLOP per training image; matmul "
        f"{fp32_rate / 1e9:.0f} GFLOP/s fp32, {bf16_rate / 1e9:.0f} GFLOP/s bf16 -> at most "
        f"{fp32_rate / flops:.0f} (fp32) / {bf16_rate / flops:.0f} (bf16) images/s",
        f"{'variant':20s} {'img/s':>7s} {'ratio':>6s} {'data':>6s} {'fwd':>6s} {'bwd':>6s} "
        f"{'opt':>6s} {'eval img/s':>10s} {'loss':>8s}",
    ]
    for name, variant in variants.items():
        parts = {key: 1e3 * value for key, value in variant.best.items()}
        ratio = rates[name] / rates["before"]
        info[f"{name}:images_per_second"] = rates[name]
        info[f"{name}:ratio_to_before"] = ratio
        info[f"{name}:eval_images_per_second"] = eval_rates[name]
        info[f"{name}:step_ms"] = parts
        info[f"{name}:mean_loss"] = float(np.mean(variant.losses))
        lines.append(
            f"{name:20s} {rates[name]:7.0f} {ratio:6.2f} {parts['data']:6.1f} "
            f"{parts['forward']:6.0f} {parts['backward']:6.0f} {parts['optimizer']:6.1f} "
            f"{eval_rates[name]:10.0f} {np.mean(variant.losses):8.1f}"
        )
        assert all(math.isfinite(v) for v in variant.losses), name
    benchmark.extra_info.update(info)
    print("\n" + "\n".join(lines))


@pytest.mark.torch
def test_bench_train_epoch_cpu(benchmark):
    config = TrainConfig(
        latent_dim=K, device="cpu", seed=0, num_threads=THREADS, amp=cpu_has_bfloat16()
    )
    device = torch.device("cpu")
    dtype = torch.bfloat16 if config.amp else None
    with torch_settings(config, device):
        images = np.random.default_rng(0).random((N_IMAGES, 1, 32, 32), dtype=np.float32)
        x_train = torch.from_numpy(images)
        state = new_train_state(config, 1, device)

        def one_epoch():
            return train_epoch(state, x_train, config=config, epoch=1, amp_dtype=dtype)

        metrics = benchmark.pedantic(one_epoch, rounds=1, iterations=1, warmup_rounds=0)
    seconds = benchmark.stats.stats.mean if benchmark.stats is not None else float("nan")
    benchmark.extra_info.update(
        {
            "images": N_IMAGES,
            "threads": THREADS,
            "amp": config.amp,
            "images_per_second": N_IMAGES / seconds,
            "mean_loss": metrics["loss"],
        }
    )
    assert math.isfinite(metrics["loss"])
