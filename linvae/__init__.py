"""linvae: how linear variational autoencoders learn.

A linear VAE trained by one-pass SGD on spiked-covariance data (`simulate`), the ODEs
that SGD follows as the input dimension N grows (`solve_ode`), and the fixed-point
analysis built on them (`linvae.analysis`) (Ichikawa & Hukushima, AISTATS 2024, arXiv
2310.15440).

Importing the package is light (scientific-Python SPEC-1): the names below load their modules
on first use, so ``import linvae`` loads neither numba nor sympy nor matplotlib.
"""

import lazy_loader as _lazy

from linvae.utils.version import __version__

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submodules=["analysis", "offline", "plot", "sgd", "sweep", "theory", "utils"],
    submod_attrs={
        "comparison": ["Comparison", "compare"],
        "observables": ["OrderParameters", "generalization_error", "order_parameters"],
        "params": ["Model"],
        "schedules": [
            "CallableSchedule",
            "Constant",
            "LinearRamp",
            "Schedule",
            "StepSchedule",
            "Tabulated",
            "TanhAnneal",
        ],
        "sgd": [
            "SimulationDiverged",
            "SimulationInterrupted",
            "make_teacher",
            "sample_inputs",
            "simulate",
        ],
        "theory": ["initial_conditions_from", "solve_ode"],
        "trajectory": ["FinalWeights", "Trajectory"],
    },
)
__all__ = [*__all__, "__version__"]
