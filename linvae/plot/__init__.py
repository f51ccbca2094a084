"""Every figure of linvae (matplotlib, loaded on first use; nothing in the core imports this).

* :mod:`linvae.plot.trajectory` - observables against t for SGD runs and ODE solutions.
* :mod:`linvae.plot.compare` - an SGD run against its ODE twin.
* :mod:`linvae.plot.phase` - phase diagrams and eps_g against beta.
* :mod:`linvae.plot.sweep` - finite-size scaling of a sweep.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "compare": ["plot_compare"],
        "phase": ["plot_error_vs_beta", "plot_phase_diagram"],
        "sweep": ["plot_finite_size_scaling"],
        "trajectory": ["plot_observable", "save_figure"],
    },
)
