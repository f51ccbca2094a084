"""Live layer geometry during training: `GeometryMonitor`, usable from any training loop.

Every ``every`` steps the monitor runs `conv_study.probe.probe` on a fixed probe subset
(the same examples each time, captured once at construction) and keeps one record per
measurement: the step, the ID of every layer and the requested imbalances. Between
measurements it costs nothing; a measurement runs in eval mode under ``torch.no_grad()``
with torch's generators forked, so training (its BatchNorm statistics, its random draws)
is exactly what it would have been without the monitor.

In a plain loop::

    monitor = GeometryMonitor(net, x_probe, ["0", "2", "4"], every=100)
    for step, (x, y) in enumerate(loader, start=1):
        ...  # forward, backward, optimizer step
        monitor.step(step)
    monitor.records  # [{"step": 100, "id": {...}, "imbalances": [...], ...}, ...]

`conv_study.train.train` takes one through its ``monitor`` argument (``conv-study train
--monitor-every N``) and writes the records of each epoch into the run's ``metrics.jsonl``
(key ``"geometry"``); `conv_study.probe_figures.plot_monitor` draws them over steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from conv_study.capture import LayerSpec, capture
from conv_study.constants import TwoNNMethod
from conv_study.probe import PairSpec, probe
from linvae.utils.validation import check_int

if TYPE_CHECKING:
    import torch

    from conv_study.probe import Probe

__all__ = ["DEFAULT_EVERY", "DEFAULT_POINTS", "GeometryMonitor", "record_of"]

#: Default number of optimizer steps between measurements.
DEFAULT_EVERY = 50
#: Default size of the probe subset (the estimators' cost grows as its square).
DEFAULT_POINTS = 500


def record_of(result: Probe, step: int) -> dict[str, Any]:
    """The JSON record of one measurement: step, IDs, imbalances, duration.

    Parameters
    ----------
    result : Probe
        The measurement.
    step : int
        The global step it was taken at.

    Returns
    -------
    dict
        ``{"step", "n_points", "layers", "id", "imbalances", "seconds"}``: ``id`` maps
        layer -> ID, ``imbalances`` is a list of ``{"from", "to", "delta"}``, ``seconds``
        the wall time of the forward passes and estimators together.
    """
    return {
        "step": int(step),
        "n_points": result.n_points,
        "layers": list(result.layers),
        "id": {name: result.ids[name] for name in result.layers},
        "imbalances": [
            {"from": a, "to": b, "delta": value} for (a, b), value in result.imbalances.items()
        ],
        "seconds": result.seconds + result.capture_seconds,
    }


class GeometryMonitor:
    """Measure a network's layer geometry on a fixed probe subset every ``every`` steps.

    Parameters
    ----------
    module : torch.nn.Module
        The network being trained.
    inputs : tensor, array, or iterable of batches
        Where the probe subset comes from: its first ``n_points`` examples are captured
        once, at construction, and reused at every measurement.
    layers : sequence or mapping, optional
        As in `conv_study.probe.probe` (default: the input and every leaf module, capped).
    every : int, default `DEFAULT_EVERY`
        Steps between measurements: `step` measures when ``step % every == 0``.
    pairs : str or sequence, default "consecutive"
        Imbalances to measure (`conv_study.probe.resolve_pairs`).
    n_points : int, default `DEFAULT_POINTS`
        Size of the probe subset.
    batch_size : int, default 256
        Examples per forward pass.
    forward : callable(module, batch), optional
        How to run one batch (default ``module(x)``).
    device : str or torch.device, default "auto"
        Where to run (default: the module's device).
    k, discard, method :
        Estimator options (`conv_study.probe.probe`).
    seed : int, default 0
        Seed of torch's generators during each measurement (the same at every step).

    Attributes
    ----------
    records : list of dict
        Every measurement so far (`record_of`), in step order.
    seconds : float
        Total wall time spent measuring.

    Raises
    ------
    ValueError
        Bad options or layers (checked once, at construction, by a first capture).

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 4))
    >>> x = torch.randn(100, 4, generator=torch.Generator().manual_seed(0))
    >>> monitor = GeometryMonitor(net, x, ["0", "2"], every=5, n_points=100)
    >>> [monitor.step(s) is not None for s in range(1, 11)].count(True)
    2
    >>> [r["step"] for r in monitor.records]
    [5, 10]
    """

    def __init__(
        self,
        module: torch.nn.Module,
        inputs: Any,
        layers: Mapping[str, LayerSpec] | Sequence[LayerSpec] | None = None,
        *,
        every: int = DEFAULT_EVERY,
        pairs: PairSpec = "consecutive",
        n_points: int = DEFAULT_POINTS,
        batch_size: int = 256,
        forward: Callable[[torch.nn.Module, Any], Any] | None = None,
        device: str | torch.device = "auto",
        k: int = 1,
        discard: float = 0.1,
        method: TwoNNMethod = "base",
        seed: int = 0,
    ) -> None:
        self.module = module
        self.every = check_int("every", every, "GeometryMonitor", low=1)
        self.n_points = check_int("n_points", n_points, "GeometryMonitor", low=3)
        self.batch_size = check_int("batch_size", batch_size, "GeometryMonitor", low=1)
        self.layers = layers
        self.pairs = pairs
        self.forward = forward
        self.device = device
        self.k, self.discard, self.method, self.seed = k, discard, method, seed
        self.batches = _fixed_batches(inputs, self.n_points, self.batch_size)
        # Names, callables and the forward are checked now, on one batch, rather than at the
        # first measurement, perhaps hours into training.
        capture(module, self.batches[:1], layers, n_points=1, forward=forward, device=device)
        self.records: list[dict[str, Any]] = []
        self.seconds = 0.0
        self._taken = 0

    def due(self, step: int) -> bool:
        """Whether `step` measures at this global step."""
        return int(step) % self.every == 0

    def measure(self, step: int) -> Probe:
        """Measure now, whatever the step; record and return the result."""
        tic = time.perf_counter()
        result = probe(
            self.module,
            self.batches,
            self.layers,
            n_points=self.n_points,
            device=self.device,
            pairs=self.pairs,
            seed=self.seed,
            k=self.k,
            discard=self.discard,
            method=self.method,
            forward=self.forward,
        )
        self.seconds += time.perf_counter() - tic
        self.records.append(record_of(result, step))
        return result

    def step(self, step: int) -> Probe | None:
        """Call after each optimizer step with the global step; measures when it is due.

        Parameters
        ----------
        step : int
            The global step (counting from 1 after the first update; 0 before training).

        Returns
        -------
        Probe or None
            The measurement, or None when none was due.
        """
        if not self.due(step):
            return None
        return self.measure(step)

    def take_records(self) -> list[dict[str, Any]]:
        """The records added since the last call (what an epoch's metrics record holds)."""
        new = self.records[self._taken :]
        self._taken = len(self.records)
        return new


def _fixed_batches(inputs: Any, n_points: int, batch_size: int) -> list[Any]:
    """The first ``n_points`` examples of ``inputs`` as a list of batches, kept for reuse."""
    import torch

    if isinstance(inputs, torch.Tensor):
        x = inputs[:n_points]
        return [x[i : i + batch_size] for i in range(0, len(x), batch_size)]
    if hasattr(inputs, "shape") and hasattr(inputs, "__getitem__"):
        x = torch.as_tensor(inputs[:n_points])
        return [x[i : i + batch_size] for i in range(0, len(x), batch_size)]
    if isinstance(inputs, list):
        return inputs
    # An iterable (a DataLoader, perhaps shuffling): keep the batches of its first pass.
    kept, count = [], 0
    for batch in inputs:
        kept.append(batch)
        first = batch[0] if isinstance(batch, (tuple, list)) else batch
        count += len(first)
        if count >= n_points:
            break
    return kept
