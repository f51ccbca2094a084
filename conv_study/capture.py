"""Capture a torch network's layers: forward hooks, batch by batch, into bounded arrays.

`capture` runs a `torch.nn.Module` on a set of inputs in eval mode and gathers the chosen
layers' outputs, flattened per example, into one preallocated array per layer: nothing
beyond the chosen points is kept. Layers are module names (as in ``named_modules()``),
`INPUT`, `OUTPUT`, or callables on the module's output. `conv_study.probe` measures the
geometry of what it captures; the study's analysis captures its taps l0..l10 with it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from conv_study.device import resolve_device
from linvae.utils.validation import check_int

if TYPE_CHECKING:
    import torch

__all__ = [
    "INPUT",
    "MAX_DEFAULT_LAYERS",
    "OUTPUT",
    "LayerSpec",
    "capture",
]

#: Layer name of the module's input (the batch as given, flattened per example).
INPUT = "input"
#: Layer name of the module's output (its return value, when it is a tensor).
OUTPUT = "output"
#: With ``layers=None`` at most this many leaf modules are probed (evenly spaced, first and
#: last included): a layer's Gram matrix costs N^2 D operations, and a ResNet has hundreds
#: of leaves.
MAX_DEFAULT_LAYERS = 24

#: A layer: a module name, `INPUT`, `OUTPUT`, or a callable on the module's output.
LayerSpec = str | Callable[[Any], Any]


def _leaf_names(module: torch.nn.Module) -> list[str]:
    return [name for name, sub in module.named_modules() if name and not any(sub.children())]


def _default_layers(module: torch.nn.Module) -> dict[str, LayerSpec]:
    leaves = _leaf_names(module)
    if len(leaves) > MAX_DEFAULT_LAYERS:
        keep = np.unique(np.linspace(0, len(leaves) - 1, MAX_DEFAULT_LAYERS).round().astype(int))
        warnings.warn(
            f"probe: the module has {len(leaves)} leaf modules; probing {len(keep)} evenly "
            "spaced ones. Pass `layers` to choose.",
            stacklevel=3,
        )
        leaves = [leaves[i] for i in keep]
    return {INPUT: INPUT, **{name: name for name in leaves}}


def _resolve_layers(
    module: torch.nn.Module, layers: Mapping[str, LayerSpec] | Sequence[LayerSpec] | None
) -> dict[str, LayerSpec]:
    """Layer name -> module name (or INPUT/OUTPUT) or callable on the module's output."""
    if layers is None:
        return _default_layers(module)
    if isinstance(layers, str):
        layers = [layers]
    if isinstance(layers, Mapping):
        items = [(str(name), spec) for name, spec in layers.items()]
    else:
        items = []
        for spec in layers:
            name = spec if isinstance(spec, str) else getattr(spec, "__name__", repr(spec))
            items.append((name, spec))
    modules = dict(module.named_modules())
    resolved: dict[str, LayerSpec] = {}
    for name, spec in items:
        if name in resolved:
            raise ValueError(
                f"The `layers` parameter of probe names {name!r} twice. Give each layer once "
                "(a mapping name -> spec names callables)."
            )
        if isinstance(spec, str):
            if spec not in (INPUT, OUTPUT) and (spec == "" or spec not in modules):
                close = [m for m in modules if m and spec.split(".")[-1] in m][:5]
                raise ValueError(
                    f"The `layers` parameter of probe names {spec!r}, which is not a module "
                    f"of the network (names as in named_modules(), or {INPUT!r}/{OUTPUT!r})."
                    + (f" Close: {close}." if close else "")
                )
        elif not callable(spec):
            raise ValueError(
                "The `layers` parameter of probe must hold module names or callables that "
                f"take the module's output. Got {spec!r} for {name!r}."
            )
        resolved[name] = spec
    if not resolved:
        raise ValueError("The `layers` parameter of probe is empty. Name at least one layer.")
    return resolved


# --------------------------------------------------------------------------------------------
# Capture: forward passes with hooks
# --------------------------------------------------------------------------------------------


def _to(batch: Any, device: torch.device) -> Any:
    import torch

    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, np.ndarray):
        return torch.as_tensor(batch).to(device)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to(b, device) for b in batch)
    if isinstance(batch, Mapping):
        return {key: _to(value, device) for key, value in batch.items()}
    return batch


def _default_forward(module: torch.nn.Module, batch: Any) -> Any:
    # A DataLoader of a labelled data set yields (x, y): the network takes x.
    if isinstance(batch, (tuple, list)):
        batch = batch[0]
    return module(batch)


def _batch_input(batch: Any) -> Any:
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def _batches(inputs: Any, batch_size: int) -> Iterable[Any]:
    import torch

    if isinstance(inputs, (np.ndarray, torch.Tensor)):
        if isinstance(inputs, np.ndarray):
            inputs = torch.as_tensor(inputs)
        for start in range(0, inputs.shape[0], batch_size):
            yield inputs[start : start + batch_size]
        return
    if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Iterable):
        raise ValueError(
            "The `inputs` parameter of probe must be a tensor, an array or an iterable of "
            f"batches (a DataLoader). Got {type(inputs).__name__}."
        )
    yield from inputs


def _examples(value: Any, name: str) -> torch.Tensor:
    import torch

    if not isinstance(value, torch.Tensor):
        raise ValueError(
            f"Layer {name!r} gives a {type(value).__name__}, not a tensor. Pass a callable "
            "that takes the module's output and returns the tensor to probe (in `layers`)."
        )
    value = value.detach()
    if value.ndim == 0:
        raise ValueError(f"Layer {name!r} gives a scalar; it needs one row per example.")
    value = value.reshape(value.shape[0], -1)
    return value if value.dtype == torch.float64 else value.float()


def capture(
    module: torch.nn.Module,
    inputs: Any,
    layers: Mapping[str, LayerSpec] | Sequence[LayerSpec] | None = None,
    *,
    n_points: int = 2000,
    batch_size: int = 256,
    device: str | torch.device = "auto",
    forward: Callable[[torch.nn.Module, Any], Any] | None = None,
    seed: int | None = 0,
) -> dict[str, np.ndarray]:
    """The chosen layers' outputs on the first ``n_points`` examples, flattened, as numpy.

    The module runs in eval mode under ``torch.no_grad()`` (its mode is restored after),
    with torch's random number generators seeded by ``seed`` inside a fork (the caller's
    generator states are left as they were). Each layer's rows go straight into one
    preallocated array of shape (n_points, D): memory is that of the chosen points.

    Parameters
    ----------
    module : torch.nn.Module
        The network.
    inputs : tensor, array, or iterable of batches
        A tensor or array is split into batches of ``batch_size`` along its first axis; an
        iterable (a DataLoader) gives batches itself. A batch that is a tuple or list (``(x,
        y)``) feeds its first element to the network.
    layers : sequence or mapping, optional
        Module names as in ``named_modules()``, ``"input"`` (the network's input) and
        ``"output"`` (its return value), or callables that take the module's output and
        return the representation; a mapping gives them names. Default: ``"input"`` and
        every leaf module (at most `MAX_DEFAULT_LAYERS`, evenly spaced).
    n_points : int, default 2000
        Examples to keep (fewer when the inputs run out first).
    batch_size : int, default 256
        Examples per forward pass, when ``inputs`` is a tensor or an array.
    device : str or torch.device, default "auto"
        Where to run: "auto" is the module's device; another device moves the module there
        for the call (and back).
    forward : callable(module, batch), optional
        How to run one batch (default ``module(x)``); for networks that take more than one
        argument (a diffusion model's time step) or the study's VAE with its noise.
    seed : int or None, default 0
        Seed of torch's generators during the call (stochastic layers); None leaves them.

    Returns
    -------
    dict of str to numpy.ndarray
        Layer name -> array (N, D), float32 (float64 where the layer is float64).

    Raises
    ------
    ValueError
        Unknown layers, a layer that is not a tensor, no examples, or bad options.
    """
    import torch

    n_points = check_int("n_points", n_points, "probe", low=1)
    batch_size = check_int("batch_size", batch_size, "probe", low=1)
    specs = _resolve_layers(module, layers)
    run_batch = _default_forward if forward is None else forward
    target = resolve_device(module, device)
    param = next(iter(module.parameters()), None)
    home = param.device if param is not None else target
    store: dict[str, np.ndarray] = {}
    filled = 0
    current: dict[str, torch.Tensor] = {}
    by_module: dict[str, list[str]] = {}
    for name, spec in specs.items():
        if isinstance(spec, str) and spec not in (INPUT, OUTPUT):
            by_module.setdefault(spec, []).append(name)
    modules = dict(module.named_modules())

    def hook_for(module_name: str):
        def hook(_mod, _args, output):
            for name in by_module[module_name]:
                if name in current:
                    raise ValueError(
                        f"Layer {name!r} ({module_name}) ran twice in one forward pass: its "
                        "output is ambiguous. Probe a callable on the module's output instead."
                    )
                current[name] = _examples(output, name)

        return hook

    handles = [modules[m].register_forward_hook(hook_for(m)) for m in by_module]
    was_training = module.training
    devices = [target.index or 0] if target.type == "cuda" else []
    try:
        if target != home:
            module.to(target)
        module.eval()
        with torch.random.fork_rng(devices=devices, enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(int(seed))
            with torch.no_grad():
                for batch in _batches(inputs, batch_size):
                    if filled >= n_points:
                        break
                    batch = _to(batch, target)
                    current.clear()
                    try:
                        output = run_batch(module, batch)
                    except (RuntimeError, TypeError) as err:
                        shape = getattr(_batch_input(batch), "shape", None)
                        reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
                        raise ValueError(
                            f"The network failed on a batch of `inputs` (shape "
                            f"{tuple(shape) if shape is not None else '?'}): {reason}. Give "
                            "inputs the network takes (CLI: --input-shape), or a `forward`."
                        ) from err
                    for name, spec in specs.items():
                        if spec == INPUT:
                            current[name] = _examples(_batch_input(batch), name)
                        elif spec == OUTPUT:
                            current[name] = _examples(output, name)
                        elif callable(spec):
                            current[name] = _examples(spec(output), name)
                    take = None
                    for name in specs:
                        if name not in current:
                            raise ValueError(
                                f"Layer {name!r} did not run in the forward pass. Choose "
                                "modules that the network's forward calls."
                            )
                        rows = current[name]
                        take = min(rows.shape[0], n_points - filled) if take is None else take
                        if rows.shape[0] < take:
                            raise ValueError(
                                f"Layer {name!r} gives {rows.shape[0]} rows for a batch of "
                                f"{take} examples; every layer needs one row per example."
                            )
                        if name not in store:
                            store[name] = np.empty(
                                (n_points, rows.shape[1]),
                                np.float64 if rows.dtype == torch.float64 else np.float32,
                            )
                        store[name][filled : filled + take] = rows[:take].cpu().numpy()
                    filled += take or 0
    finally:
        for handle in handles:
            handle.remove()
        module.train(was_training)
        if target != home:
            module.to(home)
    if filled == 0:
        raise ValueError("The `inputs` parameter of probe gave no examples.")
    return {name: store[name][:filled] for name in specs}
