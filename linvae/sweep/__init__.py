"""Parameter sweeps of SGD runs and ODE solutions, serially, on a process pool or on Dask.

A `Sweep` is a grid (the outer product of one value list per swept parameter) of runs
of `linvae.simulate`, `linvae.theory.solve_ode`, or both on the same time grid.
`run_sweep` computes the points that are not on disk yet, writes each one as soon as it
finishes, and gathers everything into a `SweepResult`: one array per observable with one
axis per swept parameter. See the sweeps page (``docs/sweeps.md``).

The package, one module per part:

* `linvae.sweep.grid` - `Sweep` (the grid, each point's settings),
  `model_from_config`, the names of the sweepable parameters;
* `linvae.sweep.schema` - the sweep file's schema: every key, type and range, checked before
  anything runs (`read_sweep_toml`, `check_description`);
* `linvae.sweep.compute` - `compute_point`, one point's SGD run and/or ODE solution;
* `linvae.sweep.execution` - where points run, as strategies with one interface:
  `Serial`, `ProcessPool`, `Dask`;
* `linvae.sweep.store` - the on-disk format: point files, index, `SweepResult`,
  `load_sweep`;
* `linvae.sweep.run` - `run_sweep`, which ties them together.

Seeds. Point ``i`` runs with ``SeedSequence(seed, spawn_key=(i,))``, the i-th child of the
sweep's seed, and with a fixed thread count, so a point's numbers do not depend on where, when
or in which order it ran: serial, process-pool and Dask runs are bit-identical.

The finite-size scaling of SGD around its ODE limit, a sweep over N, lives in
`linvae.analysis.finite_size`. Importing this package is light (scientific-Python SPEC-1):
names load their module on first use, and numba is loaded only when a point is computed.
"""

import importlib as _importlib
import warnings as _warnings

import lazy_loader as _lazy

_getattr, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["compute", "execution", "grid", "run", "schema", "store"],
    submod_attrs={
        "compute": ["compute_point"],
        "execution": ["Dask", "Execution", "ProcessPool", "Serial"],
        "grid": [
            "MAX_POINTS",
            "MODEL_PARAMETERS",
            "RUN_PARAMETERS",
            "SCHEDULE_PARAMETERS",
            "Sweep",
            "model_from_config",
        ],
        "run": ["SweepInterrupted", "run_sweep"],
        "schema": ["check_description", "read_sweep_toml"],
        "store": ["SweepResult", "load_sweep"],
    },
)

# Finite-size scaling analyses a sweep, so it lives in linvae.analysis.finite_size (analysis
# builds on sweep, not the reverse). Its names stay reachable here, resolved only on access
# (no import cycle), with a DeprecationWarning naming the new home.
_MOVED = {"FiniteSizeScaling", "finite_size_scaling", "fit_power_law"}


def __getattr__(name: str):
    if name in _MOVED:
        _warnings.warn(
            f"linvae.sweep.{name} moved to linvae.analysis.finite_size.{name}; import it from "
            "there (the old path will be removed).",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(_importlib.import_module("linvae.analysis.finite_size"), name)
    return _getattr(name)
