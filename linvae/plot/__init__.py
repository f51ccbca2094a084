"""Every figure of linvae (matplotlib; nothing in the core imports this package).

* `linvae.plot.trajectory` - observables against t for SGD runs and ODE solutions, on the
  same axes (SGD's spread over seeds as a band: `spread_band`); `shared_legend` for panels
  that draw the same curves; `save_figure` for every figure.
* `linvae.plot.compare` - an SGD run against its ODE twin, one panel per observable.
* `linvae.plot.phase` - phase diagrams, eps_g* against beta, and hysteresis sweeps.
* `linvae.plot.sweep` - the finite-size scaling of a sweep.
* `linvae.plot.labels` - the axis labels (symbols) they share.

Every drawing function is ``plot_<what>(data, ...)``; those of one panel take ``ax=None``
(a new figure otherwise) and return the Axes, `plot_compare` returns its Figure.
The face is lazy (scientific-Python SPEC-1): ``import linvae.plot`` loads no matplotlib; the
names below load their module on first use.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "compare": ["plot_compare"],
        "labels": ["LABELS"],
        "phase": ["plot_error_vs_beta", "plot_hysteresis", "plot_phase_diagram"],
        "sweep": ["plot_finite_size_scaling"],
        "trajectory": [
            "observable_series",
            "plot_observable",
            "save_figure",
            "shared_legend",
            "spread_band",
        ],
    },
)
