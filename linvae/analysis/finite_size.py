"""Finite-size scaling: how far SGD at finite N lies from its ODE limit, and the power of N.

SGD fluctuates around the ODE by $O(N^{-1/2})$ (see the theory page, ``docs/theory.md``,
section "SGD and its ODE twin"). `finite_size_scaling` runs the sweep over N that
measures it (kind "both": each seed against the ODE started from its own initial order
parameters) and fits ``deviation(N) = A N^b`` with `fit_power_law`; the sweeps page
(``docs/sweeps.md``, section "Finite-size scaling") shows a run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from linvae.params import Model
from linvae.sweep.grid import Sweep
from linvae.sweep.run import run_sweep
from linvae.sweep.store import SweepResult, write_json
from linvae.trajectory import OBSERVABLE_NAMES

__all__ = ["FiniteSizeScaling", "finite_size_scaling", "fit_power_law"]


@dataclass(frozen=True, kw_only=True)
class FiniteSizeScaling:
    """How far SGD at finite N lies from its ODE limit, and the fitted power of N.

    ``deviation(N) = A N^exponent``; the theory predicts exponent = -1/2 (SGD fluctuates around
    the ODE by O(N^-1/2); see ``docs/theory.md``, section "SGD and its ODE twin").

    Attributes
    ----------
    N : ndarray, shape (K,)
        Input dimensions.
    deviation : ndarray, shape (K,)
        Mean over seeds of the root-mean-square over time (and components) of
        ``obs_SGD(t) - obs_ODE(t)``, each seed compared with the ODE started from its own
        initial order parameters.
    deviation_err : ndarray, shape (K,)
        Standard error of that mean (over seeds).
    exponent, exponent_err : float
        Fitted power of N and its one-sigma uncertainty (weighted least squares on
        log deviation vs log N, errors propagated from ``deviation_err``; inflated by
        sqrt(chi2/dof) when that exceeds 1).
    amplitude : float
        A.
    chi2 : float
        Weighted sum of squared residuals of the fit (dof = K - 2).
    observable : str
        Which observable was compared.
    result : SweepResult
        The underlying sweep (axis ``N``, kind "both").
    """

    N: np.ndarray
    deviation: np.ndarray
    deviation_err: np.ndarray
    exponent: float
    exponent_err: float
    amplitude: float
    chi2: float
    observable: str
    result: SweepResult

    def describe(self) -> dict:
        """JSON-able summary."""
        return {
            "N": self.N.tolist(),
            "deviation": self.deviation.tolist(),
            "deviation_err": self.deviation_err.tolist(),
            "exponent": self.exponent,
            "exponent_err": self.exponent_err,
            "amplitude": self.amplitude,
            "chi2": self.chi2,
            "observable": self.observable,
        }


def fit_power_law(x, y, y_err) -> tuple[float, float, float, float]:
    """Weighted least-squares fit of ``y = A x^b`` in log space.

    Returns ``(b, b_err, A, chi2)``; ``b_err`` is inflated by sqrt(chi2/dof) when > 1.

    Examples
    --------
    >>> b, b_err, A, chi2 = fit_power_law([100, 400, 1600], [0.03, 0.015, 0.0075],
    ...                                   [0.003, 0.0015, 0.00075])
    >>> round(b, 6), round(A, 6)
    (-0.5, 0.3)
    """
    x, y, y_err = (np.asarray(a, dtype=np.float64) for a in (x, y, y_err))
    if x.size < 2:
        raise ValueError(f"A power-law fit needs at least two sizes. Got {x.size}.")
    log_x, log_y = np.log(x), np.log(y)
    sigma = np.where(y_err > 0, y_err / y, np.nan)
    if not np.all(np.isfinite(sigma)):
        sigma = np.ones_like(log_y)  # no error bars (one seed): unweighted, scaled by the residuals
    w = 1.0 / sigma**2
    X = np.stack([np.ones_like(log_x), log_x], axis=1)
    cov = np.linalg.inv(X.T @ (w[:, None] * X))
    coef = cov @ (X.T @ (w * log_y))
    chi2 = float(np.sum(w * (log_y - X @ coef) ** 2))
    dof = x.size - 2
    scale = max(1.0, chi2 / dof) if dof > 0 else 1.0
    return float(coef[1]), float(np.sqrt(cov[1, 1] * scale)), float(np.exp(coef[0])), chi2


def finite_size_scaling(
    model: Model,
    *,
    N: Sequence[int] = (100, 200, 400, 800, 1600),
    t_max: float = 20.0,
    dt: float = 0.5,
    n_seeds: int = 8,
    observable: str = "eps_g",
    out_dir: str | Path,
    seed: int = 0,
    ode: Mapping[str, Any] | None = None,
    **run_options: Any,
) -> FiniteSizeScaling:
    """The ready-made sweep over N comparing SGD with the ODE, and the fitted exponent.

    Parameters
    ----------
    model : Model
        The problem (its learning rate, schedule, ...).
    N : sequence of int
        Input dimensions (at least two).
    t_max, dt, n_seeds : float, float, int
        Run length, recording interval and seeds per N.
    observable : str
        One of ``m, d, Q, E, R, D, eps_g``.
    out_dir : path
        The sweep directory (resumable, see `linvae.sweep.run_sweep`).
    seed : int
        The sweep's seed.
    ode : mapping, optional
        Options of `linvae.theory.solve_ode`.
    **run_options
        Passed to `linvae.sweep.run_sweep` (``scheduler``, ``workers``, ``progress``, ...).

    Returns
    -------
    FiniteSizeScaling
        Also written to ``out_dir/finite_size.json``.

    Raises
    ------
    ValueError
        For fewer than two sizes, or if a point failed (the fit needs them all).

    Examples
    --------
    >>> import tempfile
    >>> from linvae import Model
    >>> from linvae.analysis.finite_size import finite_size_scaling
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     fss = finite_size_scaling(Model(tau=0.1), N=[50, 200], t_max=2.0, n_seeds=3,
    ...                               out_dir=tmp, scheduler="serial", progress=False)
    >>> fss.deviation.shape
    (2,)
    """
    sizes = sorted({int(n) for n in N})
    if len(sizes) < 2:
        raise ValueError(
            f"The `N` parameter of finite_size_scaling must hold at least two sizes. Got {N!r}."
        )
    if observable not in OBSERVABLE_NAMES:
        raise ValueError(
            "The `observable` parameter of finite_size_scaling must be one of "
            f"{OBSERVABLE_NAMES}. Got {observable!r}."
        )
    sweep = Sweep(
        grid={"N": sizes},
        model=model,
        kind="both",
        t_max=t_max,
        dt=dt,
        n_seeds=n_seeds,
        seed=seed,
        ode=dict(ode or {}),
        observables=(observable,),
    )
    result = run_sweep(sweep, out_dir, **run_options)
    if not result.complete:
        raise ValueError(
            f"finite_size_scaling needs every size; points failed: {result.failures}. Lower "
            "`tau` or change the sizes, then rerun on the same directory."
        )
    fss = _scaling_of(result, observable)
    # Written like the sweep's own JSON files, next to which it lies.
    write_json(Path(out_dir) / "finite_size.json", fss.describe())
    return fss


def _scaling_of(result: SweepResult, observable: str) -> FiniteSizeScaling:
    """Fit the deviation of SGD from the ODE in a finished sweep over N (kind "both").

    Each seed is compared with its own ODE (started from that seed's initial order parameters):
    a per-seed root-mean-square, then the mean and standard error over seeds. This is not the
    mean-over-seeds gap of `linvae.compare`, which would average the fluctuations away.
    """
    sgd = result[f"sgd_{observable}"]
    ode = result[f"ode_{observable}"]
    diff = (sgd - ode).reshape(*sgd.shape[:3], -1)  # (N, seed, time, components)
    per_seed = np.sqrt(np.nanmean(diff**2, axis=(2, 3)))  # (N, seed)
    n_seeds = per_seed.shape[1]
    deviation = per_seed.mean(axis=1)
    err = (
        per_seed.std(axis=1, ddof=1) / np.sqrt(n_seeds) if n_seeds > 1 else np.zeros_like(deviation)
    )
    sizes = np.asarray(result.coords["N"], dtype=np.float64)
    b, b_err, amp, chi2 = fit_power_law(sizes, deviation, err)
    return FiniteSizeScaling(
        N=sizes.astype(np.int64),
        deviation=deviation,
        deviation_err=err,
        exponent=b,
        exponent_err=b_err,
        amplitude=amp,
        chi2=chi2,
        observable=observable,
        result=result,
    )
