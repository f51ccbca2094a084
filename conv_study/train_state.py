"""The mutable state of a training run, and its checkpoint form.

`TrainState` is what a checkpoint saves and a resume restores: the network, Adam, the
data-shuffle generator, the bottleneck-noise generator and the float16 loss scaler.
`new_train_state` makes a seeded fresh one; `state_payload` turns one into the plain dict
of tensors and values that `conv_study.runs.RunFolder` saves, and `restore_state` puts a
saved payload back. Training draws from no global generator: the global torch generator
states are saved too, for the record only.

Symbols
-------
K : bottleneck dimension (``latent_dim``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from conv_study.config import TrainConfig
from conv_study.data import DataConfig
from conv_study.model import ConvVAE
from conv_study.runs import config_to_json
from linvae.utils.version import __version__

__all__ = ["TrainState", "eval_seed", "new_train_state", "restore_state", "state_payload"]


@dataclass
class TrainState:
    """The mutable state of a training run: what a checkpoint saves and a resume restores.

    Attributes
    ----------
    model : ConvVAE
        The network.
    optimizer : torch.optim.Optimizer
        Adam.
    shuffle_gen : torch.Generator
        CPU generator of the per-epoch data permutation.
    noise_gen : torch.Generator
        Generator of the bottleneck noise, on the training device.
    scaler : torch.amp.GradScaler or None
        Loss scaler of float16 mixed precision.
    """

    model: ConvVAE
    optimizer: torch.optim.Optimizer
    shuffle_gen: torch.Generator
    noise_gen: torch.Generator
    scaler: Any = None


def eval_seed(seed: int, epoch: int) -> int:
    """Seed of the bottleneck noise of the evaluation after ``epoch`` of a run seeded ``seed``.

    Derived from (seed, epoch) only (``numpy.random.SeedSequence``), so a resumed run
    evaluates with the same noise as an uninterrupted one.

    Examples
    --------
    >>> len({eval_seed(0, 2), eval_seed(0, 3), eval_seed(1, 2)})
    3
    """
    return int(np.random.SeedSequence([seed, epoch, 0xE7A1]).generate_state(1)[0])


def new_train_state(config: TrainConfig, channels: int, device: torch.device) -> TrainState:
    """A fresh `TrainState`: seeded initial weights, optimizer and generators.

    Parameters
    ----------
    config : TrainConfig
        K, the learning rate, weight decay, seed and memory layout.
    channels : int
        Image channels C.
    device : torch.device
        Where the network and the noise generator live.

    Returns
    -------
    TrainState
        Weights from ``config.seed``, the shuffle generator seeded ``seed + 1`` and the noise
        generator ``seed + 2``; no loss scaler.
    """
    # Initial weights from a private copy of the global generator, seeded: no global seeding.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = ConvVAE(channels=channels, latent_dim=config.latent_dim)
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    shuffle_gen = torch.Generator().manual_seed(config.seed + 1)
    noise_gen = torch.Generator(device=device).manual_seed(config.seed + 2)
    return TrainState(
        model=model, optimizer=optimizer, shuffle_gen=shuffle_gen, noise_gen=noise_gen
    )


def state_payload(
    epoch: int, state: TrainState, config: TrainConfig, data: DataConfig, *, copy: bool = False
) -> dict[str, Any]:
    """The checkpoint of ``state`` after ``epoch``: a dict of tensors and plain values.

    Parameters
    ----------
    epoch : int
        The epoch just finished.
    state : TrainState
        The state to save.
    config, data : TrainConfig, DataConfig
        The run's settings, stored with it.
    copy : bool, default False
        Clone every tensor: a snapshot kept in memory while training goes on.

    Returns
    -------
    dict
        ``epoch``, ``model``, ``optimizer``, ``rng`` (the shuffle and noise generators, and the
        global torch generators for the record), ``scaler``, ``train_config``,
        ``data_config``, ``channels`` and the versions.
    """
    model, optimizer = state.model.state_dict(), state.optimizer.state_dict()
    if copy:
        model, optimizer = _clone_tensors(model), _clone_tensors(optimizer)
    return {
        "epoch": epoch,
        "model": model,
        "optimizer": optimizer,
        "rng": {
            "shuffle": state.shuffle_gen.get_state(),
            "noise": state.noise_gen.get_state(),
            "noise_device": state.noise_gen.device.type,
            "torch_cpu": torch.get_rng_state(),
            "torch_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        },
        "scaler": state.scaler.state_dict() if state.scaler is not None else None,
        "train_config": config_to_json(config),
        "data_config": config_to_json(data),
        "channels": state.model.channels,
        "conv_study_version": __version__,
        "torch_version": str(torch.__version__),
    }


def _clone_tensors(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {key: _clone_tensors(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [_clone_tensors(value) for value in obj]
    return obj


def restore_state(
    state: TrainState, payload: dict[str, Any], seed: int, *, stacklevel: int = 2
) -> None:
    """Put a saved `state_payload` back into ``state``, in place.

    The noise generator's state is restored when the run resumes on the device type it was
    saved on; elsewhere the stream is reseeded from (``seed``, epoch), with a warning, since
    a generator's state does not carry over between devices.

    Parameters
    ----------
    state : TrainState
        A fresh state of the same run (`new_train_state`).
    payload : dict
        A checkpoint (`conv_study.runs.RunFolder.latest_checkpoint`).
    seed : int
        The run's seed.
    stacklevel : int, default 2
        ``stacklevel`` of the device warning (2: the caller of this function).
    """
    state.model.load_state_dict(payload["model"])
    state.optimizer.load_state_dict(payload["optimizer"])
    rng = payload["rng"]
    state.shuffle_gen.set_state(rng["shuffle"].cpu())
    if rng["noise_device"] == state.noise_gen.device.type:
        state.noise_gen.set_state(rng["noise"].cpu())
    else:
        warnings.warn(
            f"The run was checkpointed on {rng['noise_device']} and resumes on "
            f"{state.noise_gen.device.type}: the bottleneck-noise stream is reseeded, so the "
            "continuation differs from an uninterrupted run.",
            stacklevel=stacklevel,
        )
        state.noise_gen.manual_seed(eval_seed(seed + 2, int(payload["epoch"])))
    if state.scaler is not None and payload.get("scaler"):
        state.scaler.load_state_dict(payload["scaler"])
