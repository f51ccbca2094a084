"""Devices and mixed precision: which torch device, which autocast dtype, which settings.

Training (`conv_study.train`), the layer capture (`conv_study.capture`) and the study's
analysis name devices the same way and check them once here, so that a device the machine
lacks is a one-line error before any work rather than a torch error mid-run.

* `select_device` - ``"auto"`` (cuda, then mps, then cpu) or a checked device name;
* `resolve_device` - the same, where ``"auto"`` means the device a module already lives on;
* `cpu_has_bfloat16`, `amp_dtype` - the autocast dtype of mixed precision on a device
  (bfloat16 on CUDA where supported, else float16 with a loss scaler; bfloat16 on CPUs that
  have it natively; float32 elsewhere, with a warning);
* `autocast` - the autocast context of that dtype (a no-op for float32);
* `torch_settings` - a run's thread count and determinism, restored afterwards;
* `synchronize` - wait for an asynchronous device, so that wall times count its work.

torch is the ``conv`` extra: it is imported when a function runs, so that importing this
module (and `conv_study.capture`) loads no torch.

Example
-------
>>> from conv_study.device import amp_dtype, select_device
>>> device = select_device("cpu")
>>> amp_dtype(device, amp=False) is None
True
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from conv_study.config import TrainConfig

__all__ = [
    "amp_dtype",
    "autocast",
    "cpu_has_bfloat16",
    "resolve_device",
    "select_device",
    "synchronize",
    "torch_settings",
]


# ---------------------------------------------------------------------------------------------
# Devices
# ---------------------------------------------------------------------------------------------
def select_device(name: str = "auto") -> torch.device:
    """The torch device of ``name``: ``"auto"`` picks cuda, then mps, then cpu; a name is checked.

    Raises
    ------
    ValueError
        If ``name`` is not a torch device, or names a device this machine does not have
        (``"cuda"`` without a CUDA build or GPU, ``"cuda:3"`` on a machine with two GPUs,
        ``"mps"`` off Apple silicon).

    Examples
    --------
    >>> select_device("cpu")
    device(type='cpu')
    """
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            "The `device` parameter must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'. "
            f"Got {name!r}."
        ) from err
    _check_available(device, name)
    return device


def resolve_device(module: torch.nn.Module, device: str | torch.device) -> torch.device:
    """The torch device of ``device``; "auto" is the module's (its first parameter's, or CPU).

    Any other name is checked by `select_device`.
    """
    import torch

    if str(device) == "auto":
        param = next(iter(module.parameters()), None)
        return param.device if param is not None else torch.device("cpu")
    return select_device(str(device))


def _check_available(device: torch.device, name: str) -> None:
    import torch

    if device.type == "cpu":
        return
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            built = torch.version.cuda is not None
            why = "no GPU is visible" if built else f"torch {torch.__version__} has no CUDA"
            raise ValueError(
                f"The `device` parameter is {name!r}, but CUDA is not available here ({why}). "
                "Use --device cpu, or auto to take a GPU when there is one."
            )
        if device.index is not None and device.index >= count:
            raise ValueError(
                f"The `device` parameter is {name!r}, but this machine has {count} CUDA "
                f"device(s): cuda:0 to cuda:{count - 1}."
            )
        return
    mps = getattr(torch.backends, "mps", None)
    if device.type == "mps" and mps is not None and mps.is_available():
        return
    raise ValueError(
        f"The `device` parameter is {name!r}, which this machine does not have. "
        "Use 'auto', 'cpu', 'cuda' or 'mps' where available."
    )


def synchronize(device: torch.device) -> None:
    """Wait until ``device`` has done its queued work (CUDA); a no-op elsewhere.

    Wall times of asynchronous devices count their work only after this.
    """
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------------------------------------
# Mixed precision
# ---------------------------------------------------------------------------------------------
def cpu_has_bfloat16() -> bool:
    """Whether this CPU runs bfloat16 natively in oneDNN (AVX-512 BF16, AMX)."""
    import torch

    try:
        # torch's own test for its bfloat16 kernels (no public name for it in torch 2.13)
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # torch without oneDNN
        return False


def amp_dtype(device: torch.device, amp: bool, *, stacklevel: int = 2) -> torch.dtype | None:
    """The autocast dtype of mixed precision on ``device``, or None for float32.

    CUDA: bfloat16 where supported, else float16 (which needs a loss scaler,
    ``torch.amp.GradScaler``); CPU: bfloat16 where the CPU has it natively
    (`cpu_has_bfloat16`). Elsewhere, or without native support, float32 with a warning.

    Parameters
    ----------
    device : torch.device
        Where the network runs.
    amp : bool
        Whether mixed precision is asked for; False gives None without a look at the device.
    stacklevel : int, default 2
        ``stacklevel`` of the warning (2: the caller of this function).

    Returns
    -------
    torch.dtype or None
        ``torch.bfloat16``, ``torch.float16`` or None (float32).

    Warns
    -----
    UserWarning
        When ``amp`` is asked for on a device without a fast half-precision type.
    """
    import torch

    if not amp:
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_bfloat16():
        return torch.bfloat16
    why = "this CPU has no native bfloat16" if device.type == "cpu" else "it is CUDA/CPU only"
    warnings.warn(
        f"`amp` is ignored on {device} ({why}); training in float32.", stacklevel=stacklevel
    )
    return None


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """The autocast context of ``dtype`` on ``device``; a no-op context for None (float32)."""
    import torch

    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# Thread count and determinism
# ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def torch_settings(config: TrainConfig, device: torch.device) -> Iterator[None]:
    """Apply ``config``'s thread count and determinism on ``device``, restoring them after.

    The settings `conv_study.train.train` runs every epoch under (a context manager).
    Deterministic algorithms are switched on without torch's filling of every new tensor with
    NaN (``torch.utils.deterministic.fill_uninitialized_memory``): a debugging aid that costs
    a pass over every activation, and no source of non-determinism here, since every tensor
    the network allocates is written before it is read. On CUDA, cuDNN picks its fastest
    kernels for the fixed shapes (GPU runs are not bitwise reproducible anyway).

    Parameters
    ----------
    config : TrainConfig
        Its ``num_threads`` (None: torch's setting) and ``deterministic`` are applied.
    device : torch.device
        The training device.
    """
    import torch
    import torch.utils.deterministic as det  # torch's switch for the NaN filling

    previous: dict[str, Any] = {
        "threads": torch.get_num_threads(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "fill": det.fill_uninitialized_memory,
        "benchmark": torch.backends.cudnn.benchmark,
    }
    try:
        if config.num_threads is not None:
            torch.set_num_threads(config.num_threads)
        if device.type == "cpu" and config.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            det.fill_uninitialized_memory = False
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        yield
    finally:
        torch.set_num_threads(previous["threads"])
        torch.use_deterministic_algorithms(
            previous["deterministic"], warn_only=previous["warn_only"]
        )
        det.fill_uninitialized_memory = previous["fill"]
        torch.backends.cudnn.benchmark = previous["benchmark"]
