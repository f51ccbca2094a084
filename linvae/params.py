"""The linear-VAE problem, in the paper's notation.

Symbols
-------
M       latent dimension (columns of W and V)
M_star  number of true factors (columns of W_star)
rho     signal strength (one value, or one per factor: rho_k)
eta     isotropic noise strength; spike eigenvalue rho + eta, bulk eta
beta    weight of the KL term (a constant or a schedule beta(t))
lam     L2 penalty on W and V: lam / (2N) (||W||^2 + ||V||^2)
tau     learning rate of W and V (D uses tau / N in the simulator)

A `Model` holds what the simulator and the ODE share; the input dimension N, the
run length and the seeds belong to a simulation (`linvae.sgd.simulator.simulate`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from linvae.schedules import Schedule, as_schedule, schedule_from_description
from linvae.utils.validation import check_int, check_real

__all__ = ["Model"]


@dataclass(frozen=True, kw_only=True)
class Model:
    """A linear VAE on spiked-covariance data, trained by one-pass SGD.

    Data ``x = sqrt(rho/N) W_star c + sqrt(eta) n``; encoder ``q(z|x) = N(V^T x / sqrt N,
    diag D)``; decoder mean ``W z / sqrt N`` with unit variance; prior ``N(0, I_M)``.

    Parameters
    ----------
    M : int
        Latent dimension, >= 1.
    M_star : int
        Number of true factors, >= 1.
    rho : float or sequence of M_star floats
        Signal strength (> 0), shared or one per factor.
    eta : float
        Noise strength, > 0.
    beta : float, Schedule or callable of t
        KL weight beta(t) >= 0; a number means a constant.
    lam : float
        L2 penalty on W and V, >= 0.
    tau : float
        Learning rate of W and V, > 0.

    Examples
    --------
    >>> from linvae import Model, TanhAnneal
    >>> Model(rho=1.0, eta=1.0, beta=TanhAnneal(beta_final=1.0, gamma=0.01)).nu
    2.0
    """

    M: int = 1
    M_star: int = 1
    rho: float | tuple[float, ...] = 1.0
    eta: float = 1.0
    beta: float | Schedule | Callable[[float], float] = 1.0
    lam: float = 0.0
    tau: float = 0.01
    _rho_vec: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        owner = "Model"
        set_ = object.__setattr__
        set_(self, "M", check_int("M", self.M, owner))
        set_(self, "M_star", check_int("M_star", self.M_star, owner))
        rho = self.rho
        if np.ndim(rho) == 0:
            rho_vec = np.full(self.M_star, check_real("rho", rho, owner, low=0.0))
            set_(self, "rho", float(rho_vec[0]))
        else:
            rho_arr = np.asarray(rho, dtype=object).ravel()
            if rho_arr.size != self.M_star:
                raise ValueError(
                    f"The `rho` parameter of Model must be a number or hold one value per "
                    f"factor (M_star = {self.M_star}). Got {len(rho_arr)} values."
                )
            rho_vec = np.array(
                [check_real(f"rho[{k}]", r, owner, low=0.0) for k, r in enumerate(rho_arr)]
            )
            set_(self, "rho", tuple(float(r) for r in rho_vec))
        rho_vec.setflags(write=False)
        set_(self, "_rho_vec", rho_vec)
        set_(self, "eta", check_real("eta", self.eta, owner, low=0.0))
        set_(self, "beta", as_schedule(self.beta, owner))
        set_(self, "lam", check_real("lam", self.lam, owner, low=0.0, low_open=False))
        set_(
            self,
            "tau",
            check_real("tau", self.tau, owner, low=0.0, fix="Typical values are 0.001-0.1."),
        )

    @property
    def rho_vector(self) -> np.ndarray:
        """Per-factor signal strengths, shape (M_star,)."""
        return self._rho_vec

    @property
    def schedule(self) -> Schedule:
        """beta(t) as a Schedule."""
        return self.beta  # normalized in __post_init__

    @property
    def nu(self) -> float:
        """rho + eta, the spike eigenvalue (largest over factors when rho varies)."""
        return float(self._rho_vec.max()) + self.eta

    def describe(self) -> dict:
        """JSON-able description of the model (the schedule as its description)."""
        return {
            "M": self.M,
            "M_star": self.M_star,
            "rho": self.rho if isinstance(self.rho, float) else list(self.rho),
            "eta": self.eta,
            "beta": self.schedule.describe(),
            "lam": self.lam,
            "tau": self.tau,
        }

    @classmethod
    def from_description(cls, desc: dict) -> Model:
        """Inverse of `describe` (callable schedules cannot be rebuilt)."""
        kw = dict(desc)
        beta = kw.pop("beta")
        kw["beta"] = schedule_from_description(beta) if isinstance(beta, dict) else beta
        if isinstance(kw["rho"], list):
            kw["rho"] = tuple(kw["rho"])
        return cls(**kw)
