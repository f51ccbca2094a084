"""linvae: how linear variational autoencoders learn.

A linear VAE trained by one-pass SGD on spiked-covariance data (:func:`simulate`), the ODEs
that SGD follows as the input dimension N grows, and the fixed-point analysis built on them
(Ichikawa & Hukushima, AISTATS 2024, arXiv 2310.15440).
"""

__version__ = "0.1.0"

from linvae.observables import OrderParameters, generalization_error, order_parameters
from linvae.params import Model
from linvae.schedules import (
    CallableSchedule,
    Constant,
    LinearRamp,
    Schedule,
    StepSchedule,
    TanhAnneal,
)
from linvae.simulate import (
    SimulationDiverged,
    SimulationInterrupted,
    make_teacher,
    sample_inputs,
    simulate,
)
from linvae.theory import initial_conditions_from, solve_ode
from linvae.trajectory import FinalWeights, Trajectory

__all__ = [
    "CallableSchedule",
    "Constant",
    "FinalWeights",
    "LinearRamp",
    "Model",
    "OrderParameters",
    "Schedule",
    "SimulationDiverged",
    "SimulationInterrupted",
    "StepSchedule",
    "TanhAnneal",
    "Trajectory",
    "__version__",
    "generalization_error",
    "initial_conditions_from",
    "make_teacher",
    "order_parameters",
    "sample_inputs",
    "simulate",
    "solve_ode",
]
