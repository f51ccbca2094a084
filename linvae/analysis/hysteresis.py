"""Hysteresis and basins in the first-order strip: where training ends depends on its past.

The mathematics is on the hysteresis page (docs/hysteresis.md).

Symbols
-------
beta       KL weight, swept up then down (adiabatically: each value starts where the last ended)
lam        L2 penalty; for lam > 0 the collapse transition can be first order
beta*      nu / (1 + lam) - lam / nu: the collapsed point is linearly stable above it
beta_sp    the spinodal, where the learned branch meets its saddle and ends
beta_co    the coexistence beta, where learned and collapsed points have equal loss
N          input dimension: fresh overlaps and SGD's fluctuations at the collapsed point are
           O(N^-1/2)

In the strip beta* < beta < beta_sp a stable learned point coexists with the stable collapsed
point. Going up in beta, training stays learned until beta_sp; coming down, it stays collapsed
until beta* (where collapse turns unstable): a hysteresis loop between beta* and beta_sp.
`basin_diagram` maps the share of fresh random starts that end learned at constant beta.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from linvae.analysis.attractors import attractor
from linvae.analysis.phase import PhaseDiagram
from linvae.analysis.stability import LatentRole
from linvae.analysis.threshold import transition_lines
from linvae.observables import OrderParameters, pack_state
from linvae.params import Model
from linvae.schedules import Constant
from linvae.theory.initial import initial_ensemble, initial_order_parameters
from linvae.utils.progress import make_progress
from linvae.utils.validation import check_int

__all__ = ["Hysteresis", "basin_diagram", "beta_sweep", "transition_lines"]


@dataclass(frozen=True, kw_only=True)
class Hysteresis:
    """Result of `beta_sweep`: the point reached at each beta going up, then coming down.

    Attributes
    ----------
    model : Model
        Fixed parameters (its beta is replaced by each value of the sweep).
    sgd_noise : bool
    N : int
        Size whose O(N^-1/2) fluctuations are imitated: before each step the overlaps m, d
        are raised to at least ``N^-1/2`` in absolute value (what SGD's noise keeps at the
        collapsed point; a learned state is unaffected).
    betas_up : ndarray, shape (n,)
        Increasing betas of the upward sweep; the downward sweep visits them in reverse.
    names_up, names_down : tuple of str
        Name of the point reached at each beta (``names_down[i]`` is at ``betas_up[i]``).
    learned_up, learned_down : ndarray of bool, shape (n,)
        Whether that point carries the factor.
    eps_g_up, eps_g_down : ndarray, shape (n,)
        eps_g of the point reached.
    q_up, q_down : ndarray, shape (n,)
        Q_00 of the point reached (0 when collapsed).
    beta_jump_up : float
        First beta of the upward sweep that ends collapsed after a learned one (NaN if none).
    beta_jump_down : float
        First beta of the downward sweep that ends learned after a collapsed one (NaN if none).
    lines : dict
        `transition_lines` of the model: beta*, spinodal, coexistence, first_order.
    converged : bool
        Whether every step settled at a stable point.
    wall_time_s : float
    """

    model: Model
    sgd_noise: bool
    N: int
    betas_up: np.ndarray = field(repr=False)
    names_up: tuple[str, ...] = field(repr=False)
    names_down: tuple[str, ...] = field(repr=False)
    learned_up: np.ndarray = field(repr=False)
    learned_down: np.ndarray = field(repr=False)
    eps_g_up: np.ndarray = field(repr=False)
    eps_g_down: np.ndarray = field(repr=False)
    q_up: np.ndarray = field(repr=False)
    q_down: np.ndarray = field(repr=False)
    beta_jump_up: float
    beta_jump_down: float
    lines: dict = field(repr=False)
    converged: bool
    wall_time_s: float

    @property
    def hysteretic_betas(self) -> np.ndarray:
        """The betas where the two sweeps end at different points."""
        return self.betas_up[self.learned_up != self.learned_down]

    def as_dict(self) -> dict:
        """JSON-able summary (the keys of ``linvae hysteresis``)."""
        return {
            "rho": self.model.rho_vector.tolist(),
            "eta": self.model.eta,
            "lam": self.model.lam,
            "tau": self.model.tau,
            "sgd_noise": self.sgd_noise,
            "N": self.N,
            "betas": self.betas_up.tolist(),
            "learned_up": self.learned_up.tolist(),
            "learned_down": self.learned_down.tolist(),
            "eps_g_up": self.eps_g_up.tolist(),
            "eps_g_down": self.eps_g_down.tolist(),
            "beta_jump_up": self.beta_jump_up,
            "beta_jump_down": self.beta_jump_down,
            **{k: _plain(v) for k, v in self.lines.items()},
            "converged": self.converged,
            "wall_time_s": self.wall_time_s,
        }


def _plain(v):
    return v.tolist() if isinstance(v, np.ndarray) else v


def _floor_overlaps(y: np.ndarray, model: Model, floor: float) -> np.ndarray:
    """m and d raised to at least ``floor`` in absolute value (sign kept, + for 0)."""
    y = y.copy()
    k = 2 * model.M * model.M_star
    sign = np.where(y[:k] < 0, -1.0, 1.0)
    y[:k] = sign * np.maximum(np.abs(y[:k]), floor)
    return y


def _first_change(betas: np.ndarray, learned: np.ndarray, before: bool) -> float:
    """First beta (in sweep order) where ``learned`` turns from ``before`` to ``not before``."""
    for i in range(1, betas.size):
        if learned[i - 1] == before and learned[i] != before:
            return float(betas[i])
    return float("nan")


def beta_sweep(
    model: Model,
    betas,
    *,
    start: OrderParameters | np.ndarray | None = None,
    N: int = 10_000,
    rng=0,
    sgd_noise: bool = False,
    t_chunk: float | None = None,
    t_limit: float | None = None,
    xtol: float = 1e-6,
) -> Hysteresis:
    """Sweep beta up through ``betas``, then back down, each step starting where the last ended.

    At every beta the ODE runs until it settles at a stable fixed point (`attractor`, one
    start); the state reached is the next beta's start, with m and d raised to at least
    ``N^-1/2`` in absolute value (SGD at size N never sits exactly on m = d = 0). The upward
    sweep starts from ``start`` (default: a fresh random state of size N), the downward sweep
    from the end of the upward one.

    Parameters
    ----------
    model : Model
        rho, eta, lam, tau, M, M_star; its beta is replaced.
    betas : array, shape (n,)
        Increasing KL weights, > 0 (n >= 2).
    start : OrderParameters or ndarray, optional
        The state at ``betas[0]`` (default ``initial_order_parameters(model, N=N, rng=rng)``).
    N : int
        Size imitated by the fresh start and by the overlap floor.
    rng : int, Generator or None
        Seed of the fresh start.
    sgd_noise : bool
        Keep the O(tau^2) terms (default: the tau -> 0 drift, where the strip is exact).
    t_chunk, t_limit, xtol
        As in `attractor`.

    Returns
    -------
    Hysteresis

    Examples
    --------
    >>> import numpy as np
    >>> from linvae import Model
    >>> h = beta_sweep(Model(lam=1.5, tau=0.05), np.array([0.03, 0.08, 0.12]))
    >>> h.learned_up.tolist(), h.learned_down.tolist()
    ([True, True, False], [True, False, False])
    """
    owner = "beta_sweep"
    begin = time.perf_counter()
    betas = np.asarray(betas, dtype=np.float64)
    if betas.ndim != 1 or betas.size < 2 or np.any(betas <= 0) or np.any(np.diff(betas) <= 0):
        raise ValueError(
            f"The `betas` parameter of {owner} must be an increasing 1-D array of at least two "
            f"values > 0. Got {np.array2string(betas, threshold=6)}."
        )
    N = check_int("N", N, owner, low=max(model.M, model.M_star))
    floor = N**-0.5
    if start is None:
        start = initial_order_parameters(model, N=N, rng=rng)
    y = pack_state(start) if isinstance(start, OrderParameters) else np.asarray(start, float)
    kw = {"sgd_noise": sgd_noise, "t_chunk": t_chunk, "t_limit": t_limit, "xtol": xtol}
    up, down = [], []
    converged = True
    for sweep, order in ((up, range(betas.size)), (down, range(betas.size - 1, -1, -1))):
        for i in order:
            step = replace(model, beta=Constant(beta=float(betas[i])))
            res = attractor(step, start=_floor_overlaps(y, model, floor), **kw)
            y = res.y_end[0]
            converged &= bool(res.success)
            sweep.append(res.point)
    down.reverse()

    def learned(points):
        return np.array([LatentRole.LEARNED in p.roles for p in points])

    learned_up, learned_down = learned(up), learned(down)
    return Hysteresis(
        model=model,
        sgd_noise=bool(sgd_noise),
        N=N,
        betas_up=betas,
        names_up=tuple(p.name for p in up),
        names_down=tuple(p.name for p in down),
        learned_up=learned_up,
        learned_down=learned_down,
        eps_g_up=np.array([p.eps_g for p in up]),
        eps_g_down=np.array([p.eps_g for p in down]),
        q_up=np.array([float(p.state.Q[0, 0]) for p in up]),
        q_down=np.array([float(p.state.Q[0, 0]) for p in down]),
        beta_jump_up=_first_change(betas, learned_up, True),
        beta_jump_down=_first_change(betas[::-1], learned_down[::-1], False),
        lines=transition_lines(model),
        converged=converged,
        wall_time_s=time.perf_counter() - begin,
    )


def basin_diagram(
    model: Model,
    *,
    betas,
    values,
    axis: str = "lam",
    n_init: int = 16,
    N: int = 200,
    rng=0,
    sgd_noise: bool = False,
    progress: bool | Callable[[float, float], None] = False,
    t_limit: float | None = None,
) -> PhaseDiagram:
    """Share of fresh random starts that end learned at constant beta, over (beta, lam or rho).

    The same ensemble of ``n_init`` fresh states (`linvae.theory.initial.initial_ensemble`,
    seeded by ``rng``) starts at every grid point; each is integrated to the stable point it
    reaches (`attractor`). Outside the first-order strip the answer is 0 or 1; inside it, the
    share in the learned point's basin.

    Parameters
    ----------
    model : Model
        Fixed parameters (rho, eta, lam, tau, M = M_star = 1); beta and ``axis`` are swept.
    betas : array, shape (nx,)
        KL weights, > 0.
    values : array, shape (ny,)
        Values of ``axis``.
    axis : {"lam", "rho", "eta"}
    n_init, N, rng
        The fresh ensemble.
    sgd_noise : bool
        Keep the O(tau^2) terms (default: the tau -> 0 drift).
    progress : bool or callable ``(done, total)``
        True draws a progress bar on stderr (tqdm); a callable is called after each grid
        point.
    t_limit : float, optional
        As in `attractor`.

    Returns
    -------
    PhaseDiagram
        ``kind = "beta-<axis>"``; ``values``: ``learned_fraction``; ``boundary``:
        ``beta_star``, ``beta_spinodal``, ``beta_coexistence`` (ny,).

    Examples
    --------
    >>> import numpy as np
    >>> from linvae import Model
    >>> pd = basin_diagram(Model(tau=0.05), betas=np.array([0.03, 0.2]), values=np.array([1.5]),
    ...                    n_init=2)
    >>> pd.values["learned_fraction"].tolist()
    [[1.0, 0.0]]
    """
    owner = "basin_diagram"
    begin = time.perf_counter()
    if axis not in ("rho", "eta", "lam"):
        raise ValueError(f"The `axis` parameter of {owner} must be 'rho', 'eta' or 'lam'. "
                         f"Got {axis!r}.")  # fmt: skip
    if model.M != 1 or model.M_star != 1:
        raise ValueError(f"The `model` parameter of {owner} must have M = M_star = 1. Got M = "
                         f"{model.M}, M_star = {model.M_star}.")  # fmt: skip
    betas = np.asarray(betas, dtype=np.float64)
    ys = np.asarray(values, dtype=np.float64)
    if betas.ndim != 1 or ys.ndim != 1 or np.any(betas <= 0):
        raise ValueError(f"The `betas` and `values` parameters of {owner} must be 1-D arrays, "
                         f"with betas > 0. Got shapes {betas.shape}, {ys.shape}.")  # fmt: skip
    ensemble = pack_state(initial_ensemble(model, n_init, N=N, rng=rng))
    fraction = np.empty((ys.size, betas.size))
    report = make_progress(progress, fraction.size, owner, unit="point")
    try:
        for i, v in enumerate(ys):
            row = replace(model, **{axis: float(v)})
            for j, b in enumerate(betas):
                res = attractor(replace(row, beta=Constant(beta=float(b))), start=ensemble,
                                sgd_noise=sgd_noise, t_limit=t_limit)  # fmt: skip
                fraction[i, j] = res.learned_fraction
                report(i * betas.size + j + 1)
    finally:
        report.close()
    lines = transition_lines(model, ys, axis)
    return PhaseDiagram(
        kind=f"beta-{axis}",
        x_name="beta",
        y_name=axis,
        x=betas,
        y=ys,
        values={"learned_fraction": fraction},
        default_value="learned_fraction",
        boundary={k: np.asarray(lines[k], dtype=np.float64) for k in _LINE_KEYS},
        model=model,
        wall_time_s=time.perf_counter() - begin,
        meta={
            "n_init": int(n_init),
            "N": int(N),
            "sgd_noise": bool(sgd_noise),
            "start": "fresh",
            "schedule": "constant",
        },
    )


_LINE_KEYS = ("beta_star", "beta_spinodal", "beta_coexistence")
