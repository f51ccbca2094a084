"""One comparison of an SGD run with its ODE twin, on the time points they share.

Simulation and theory produce the same `Trajectory`, so one function
measures how far they are apart; the CLI's ``compare``, the paper's figure set, sweeps and the
tests all use it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from linvae.params import Model
from linvae.trajectory import OBSERVABLE_NAMES, Trajectory

__all__ = ["Comparison", "ModelMismatchWarning", "compare", "model_differences"]


class ModelMismatchWarning(UserWarning):
    """A run is compared with an ODE solution of another model: the gap means nothing."""


def model_differences(a: Model, b: Model) -> dict:
    """The fields in which two models differ: ``{field: (value in a, value in b)}``.

    The schedule is compared through its description (kind and parameters).

    Examples
    --------
    >>> from linvae import Model
    >>> model_differences(Model(rho=1.0), Model(rho=2.0, tau=0.01))
    {'rho': (1.0, 2.0)}
    """
    da, db = a.describe(), b.describe()
    return {k: (da[k], db[k]) for k in da if da[k] != db.get(k)}


# Relative tolerance (absolute below |t| = 1) within which a run time and an ODE time match.
_TIME_RTOL = 1e-9


@dataclass(frozen=True)
class Comparison:
    """An observable of an SGD run (mean over seeds) against an ODE solution.

    Attributes
    ----------
    observable : str
        The observable compared (``"eps_g"``, ``"m"``, ...).
    t : ndarray, shape (T,)
        The time points both trajectories hold.
    sgd_mean, sgd_std : ndarray, shape (T, ...)
        Mean and standard deviation over the run's seeds (std zero for one seed).
    ode : ndarray, shape (T, ...)
        The ODE's value (its single "seed").
    n_seeds : int
        Seeds averaged on the SGD side.
    """

    observable: str
    t: np.ndarray
    sgd_mean: np.ndarray
    sgd_std: np.ndarray
    ode: np.ndarray
    n_seeds: int

    @property
    def gap(self) -> np.ndarray:
        """SGD mean minus ODE, shape (T, ...)."""
        return self.sgd_mean - self.ode

    @property
    def max_abs_gap(self) -> float:
        """The largest absolute gap over time (and over the observable's entries)."""
        return float(np.max(np.abs(self.gap)))


def compare(run: Trajectory, ode: Trajectory, observable: str = "eps_g") -> Comparison:
    """Compare ``observable`` of ``run`` (mean over seeds) with ``ode`` where their times agree.

    Parameters
    ----------
    run : Trajectory
        Usually an SGD run (any number of seeds).
    ode : Trajectory
        Usually an ODE solution; with several seeds, its mean is used.
    observable : str
        One of ``m, d, Q, E, R, D, eps_g``.

    Returns
    -------
    Comparison
        The common times, the run's mean and spread and the ODE's value there.

    Raises
    ------
    ValueError
        If ``observable`` is unknown, or if the two share no time point (solve the ODE with
        ``t_eval=run.t``), or if their latent shapes differ.

    Warns
    -----
    ModelMismatchWarning
        If the run and the ODE solution are of different models (other rho, beta schedule,
        tau, ...): the warning lists the differences (`model_differences`).

    Examples
    --------
    >>> from linvae import Model, simulate, solve_ode
    >>> run = simulate(Model(), N=100, t_max=2, dt=1, n_seeds=2, rng=0)
    >>> ode = solve_ode(Model(), t_max=2, t_eval=run.t, init=run)
    >>> c = compare(run, ode)
    >>> c.t.tolist(), c.max_abs_gap < 1
    ([0.0, 1.0, 2.0], True)
    """
    if observable not in OBSERVABLE_NAMES:
        raise ValueError(
            f"The `observable` parameter of compare must be one of {', '.join(OBSERVABLE_NAMES)}."
            f" Got {observable!r}."
        )
    differences = model_differences(run.model, ode.model)
    if differences:
        warnings.warn(
            "compare: the run and the ODE solution are of different models ("
            + "; ".join(f"{k}: {a} vs {b}" for k, (a, b) in differences.items())
            + "); solve the ODE with the run's model (solve_ode(run.model, init=run, ...)).",
            ModelMismatchWarning,
            stacklevel=2,
        )
    i_run, i_ode = _matching_times(run.t, ode.t)
    if i_run.size == 0:
        raise ValueError(
            "The run and the ODE solution share no time point; solve the ODE with t_eval=run.t."
        )
    sgd_mean = run.mean(observable)[i_run]
    theory = ode.mean(observable)[i_ode]
    if sgd_mean.shape != theory.shape:
        raise ValueError(
            f"The run's {observable} has shape {sgd_mean.shape[1:]} per time and the ODE's "
            f"{theory.shape[1:]}: they are not the same model (M, M_star)."
        )
    return Comparison(
        observable=observable,
        t=run.t[i_run],
        sgd_mean=sgd_mean,
        sgd_std=run.std(observable)[i_run],
        ode=theory,
        n_seeds=run.n_seeds,
    )


def _matching_times(t_run: np.ndarray, t_ode: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(i_run, i_ode)`` of the times the two increasing grids share.

    Times match within ``_TIME_RTOL * max(1, |t|)``: a run records at ``step / N`` and the ODE
    at ``k * dt``, which can differ in the last bits for the same time (0.3 vs 3 * 0.1).
    """
    t_run = np.asarray(t_run, dtype=np.float64)
    t_ode = np.asarray(t_ode, dtype=np.float64)
    if t_run.size == 0 or t_ode.size == 0:
        empty = np.empty(0, dtype=np.intp)
        return empty, empty
    after = np.searchsorted(t_ode, t_run)
    right = np.minimum(after, t_ode.size - 1)
    left = np.maximum(after - 1, 0)
    nearest = np.where(np.abs(t_run - t_ode[left]) <= np.abs(t_ode[right] - t_run), left, right)
    ok = np.abs(t_run - t_ode[nearest]) <= _TIME_RTOL * np.maximum(1.0, np.abs(t_run))
    return np.flatnonzero(ok), nearest[ok]
