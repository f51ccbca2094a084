"""One epoch of the study's VAE: the loss, a training pass, and the evaluation.

The loss is the paper's (the setup page, docs/conv-study-setup.md, "The training recipe"):
binary cross-entropy summed over pixels and batch, plus beta times the KL term summed,
with every sum divided by the number of images for the records. `conv_study.train.train`
runs these epochs and writes what they return.

Symbols
-------
beta : weight of the KL term.
mu, logvar : posterior mean and log-variance; KL = -1/2 sum(1 + logvar - mu^2 - exp(logvar)).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from conv_study.config import TrainConfig
from conv_study.device import autocast
from conv_study.model import ConvVAE
from conv_study.train_state import TrainState, eval_seed
from linvae.utils.process import check_interrupt

__all__ = ["DivergenceError", "batch_bounds", "evaluate", "train_epoch", "vae_loss_terms"]

#: Images per forward pass of the evaluation (memory, not arithmetic: sums are per image).
_EVAL_BATCH = 1000


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss."""


def vae_loss_terms(
    logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed reconstruction and KL terms of the VAE loss, in float32.

    ``recon = sum BCE(sigmoid(logits), x)`` over pixels and batch, computed from the logits
    (``binary_cross_entropy_with_logits``: the same function as BCE on the sigmoid output,
    numerically stable and safe under mixed precision), and
    ``kl = -1/2 sum(1 + logvar - mu^2 - exp(logvar))``.
    """
    recon = F.binary_cross_entropy_with_logits(logits.float(), x.float(), reduction="sum")
    mu, logvar = mu.float(), logvar.float()
    kl = -0.5 * torch.sum(1.0 + logvar - mu.pow(2) - logvar.exp())
    return recon, kl


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """The (start, stop) of each minibatch of ``n`` images.

    A final minibatch of one image is merged into the previous one (BatchNorm cannot train
    on a single image).

    Examples
    --------
    >>> batch_bounds(9, 4)
    [(0, 4), (4, 9)]
    """
    starts = list(range(0, n, batch_size))
    bounds = [(s, min(s + batch_size, n)) for s in starts]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2] = (bounds[-2][0], n)
        bounds.pop()
    return bounds


def evaluate(
    model: ConvVAE,
    x_eval: torch.Tensor,
    *,
    seed: int,
    epoch: int,
    beta: float,
    amp_dtype: torch.dtype | None = None,
    layout: torch.memory_format = torch.contiguous_format,
) -> dict[str, float]:
    """The loss of ``model`` on the evaluation images after ``epoch``, in eval mode.

    Parameters
    ----------
    model : ConvVAE
        Put in eval mode (BatchNorm running statistics) for the pass, in training mode after.
    x_eval : torch.Tensor, shape (N, C, 32, 32)
        The evaluation images as network input.
    seed, epoch : int
        The bottleneck noise comes from a CPU generator seeded `eval_seed` (seed, epoch), so
        a resumed run evaluates as an uninterrupted one.
    beta : float
        Weight of the KL term.
    amp_dtype : torch.dtype, optional
        Autocast dtype (mixed precision), None for float32.
    layout : torch.memory_format
        Memory layout of the images fed to the network.

    Returns
    -------
    dict
        ``{"loss", "recon", "kl"}``: sums over the N images (in float64) divided by N.
    """
    n = x_eval.shape[0]
    eps_all = torch.randn(
        (n, model.latent_dim), generator=torch.Generator().manual_seed(eval_seed(seed, epoch))
    )
    sums = torch.zeros(2, dtype=torch.float64, device=x_eval.device)
    model.eval()
    with torch.no_grad():
        for start in range(0, n, _EVAL_BATCH):
            x = x_eval[start : start + _EVAL_BATCH].contiguous(memory_format=layout)
            with autocast(x.device, amp_dtype):
                mu, logvar = model.encode(x)
                z = model.sample(mu, logvar, eps=eps_all[start : start + _EVAL_BATCH])
                logits = model.decode_logits(z)
            recon, kl = vae_loss_terms(logits, x, mu, logvar)
            sums += torch.stack([recon, kl]).double()
    model.train()
    recon, kl = (sums / n).tolist()
    return {"loss": recon + beta * kl, "recon": recon, "kl": kl}


def train_epoch(
    state: TrainState,
    x_train: torch.Tensor,
    *,
    config: TrainConfig,
    epoch: int,
    amp_dtype: torch.dtype | None = None,
    on_batch: Callable[[], object] | None = None,
) -> dict[str, float]:
    """One epoch of minibatch training; the per-sample means of loss, recon and kl.

    Parameters
    ----------
    state : TrainState
        Updated in place.
    x_train : torch.Tensor, shape (N, C, 32, 32)
        The training images as network input, on the training device.
    config : TrainConfig
        Batch size and beta.
    epoch : int
        For messages.
    amp_dtype : torch.dtype, optional
        Autocast dtype (mixed precision), None for float32.
    on_batch : callable, optional
        Called after every minibatch (a progress bar's ``update``).

    Returns
    -------
    dict
        ``{"loss", "recon", "kl"}``: sums over the epoch's images divided by N.

    Raises
    ------
    DivergenceError
        If a mean is not finite.
    """
    model, optimizer = state.model, state.optimizer
    n = x_train.shape[0]
    perm = torch.randperm(n, generator=state.shuffle_gen).to(x_train.device)
    bounds = batch_bounds(n, config.batch_size)
    sums = torch.zeros(3, dtype=torch.float64, device=x_train.device)
    model.train()
    layout = torch.channels_last if config.channels_last else torch.contiguous_format
    for start, stop in bounds:
        check_interrupt()  # a safe point: the interrupted epoch is dropped, the earlier kept
        x = x_train.index_select(0, perm[start:stop]).contiguous(memory_format=layout)
        with autocast(x.device, amp_dtype):
            out = model(x, generator=state.noise_gen)
        recon, kl = vae_loss_terms(out.logits, x, out.mu, out.logvar)
        loss = recon + config.beta * kl
        optimizer.zero_grad(set_to_none=True)
        if state.scaler is not None:
            state.scaler.scale(loss).backward()
            state.scaler.step(optimizer)
            state.scaler.update()
        else:
            loss.backward()
            optimizer.step()
        sums += torch.stack([loss.detach(), recon.detach(), kl.detach()]).double()
        if on_batch is not None:
            on_batch()
    loss, recon, kl = (sums / n).tolist()
    if not all(math.isfinite(v) for v in (loss, recon, kl)):
        raise DivergenceError(
            f"Training diverged in epoch {epoch}: mean loss {loss}, recon {recon}, kl {kl}. "
            "Lower `lr`, disable `amp`, or resume from an earlier checkpoint."
        )
    return {"loss": loss, "recon": recon, "kl": kl}
