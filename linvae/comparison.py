"""One comparison of an SGD run with its ODE twin, on the time points they share.

Simulation and theory produce the same :class:`~linvae.trajectory.Trajectory`, so one function
measures how far they are apart; the CLI's ``compare``, the paper's figure set, sweeps and the
tests all use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linvae.trajectory import OBSERVABLE_NAMES, Trajectory

__all__ = ["Comparison", "compare"]


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
    common, i_run, i_ode = np.intersect1d(run.t, ode.t, assume_unique=True, return_indices=True)
    if common.size == 0:
        raise ValueError(
            "The run and the ODE solution share no time point; solve the ODE with t_eval=run.t."
        )
    sgd = getattr(run, observable)[:, i_run]
    theory = getattr(ode, observable)[:, i_ode].mean(axis=0)
    if sgd.shape[1:] != theory.shape:
        raise ValueError(
            f"The run's {observable} has shape {sgd.shape[2:]} per time and the ODE's "
            f"{theory.shape[1:]}: they are not the same model (M, M_star)."
        )
    std = sgd.std(axis=0, ddof=1) if sgd.shape[0] >= 2 else np.zeros_like(theory)
    return Comparison(
        observable=observable,
        t=common,
        sgd_mean=sgd.mean(axis=0),
        sgd_std=std,
        ode=theory,
        n_seeds=sgd.shape[0],
    )
