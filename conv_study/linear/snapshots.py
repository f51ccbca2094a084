"""One-pass SGD of a linear VAE with its weights kept at chosen times.

`simulate_snapshots` runs `linvae.simulate` in segments between the chosen times, each
restarted from the weights where the previous one stopped with the schedule shifted so that it
runs on: one continuous run, whose weights (W, V, D) at those times are returned in a
`WeightSnapshots` together with the run's order parameters on a fine grid. The weights are what
`conv_study.linear.study.linear_geometry` maps a held-out sample through.

Symbols
-------
t            training time, step / N
N            input dimension
W, V, D      decoder weights, encoder weights, encoder variances
W_star       true factors (the teacher)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from conv_study.linear.law import seed_sequence
from linvae.observables import OrderParameters, order_parameters
from linvae.params import Model
from linvae.sgd.simulator import make_teacher, simulate
from linvae.trajectory import Trajectory, time_grid
from linvae.utils.validation import check_array, check_int, check_real
from linvae.utils.version import __version__

__all__ = ["WeightSnapshots", "simulate_snapshots"]


@dataclass(frozen=True)
class WeightSnapshots:
    """Weights of one SGD run at chosen times.

    Attributes
    ----------
    t : ndarray, shape (T,)
        Times (step / N).
    W, V : ndarray, shape (T, N, M)
        Decoder and encoder weights.
    D : ndarray, shape (T, M)
        Encoder variances.
    W_star : ndarray, shape (N, M_star)
        True factors.
    trajectory : Trajectory
        The run's order parameters on a grid that contains ``t`` (one seed).
    """

    t: np.ndarray
    W: np.ndarray
    V: np.ndarray
    D: np.ndarray
    W_star: np.ndarray
    trajectory: Trajectory


def _shifted(model: Model, t0: float) -> Model:
    """The model with beta(t) replaced by beta(t + t0): a run restarted at time t0.

    The schedule's own shift keeps its breakpoints and its compiled form."""
    return dataclasses.replace(model, beta=model.schedule.shifted(t0))


def simulate_snapshots(
    model: Model,
    *,
    N: int,
    times: Sequence[float] | np.ndarray,
    dt: float | None = None,
    rng=0,
    W_star: np.ndarray | None = None,
) -> WeightSnapshots:
    """One-pass SGD of one run, keeping the weights at the given times.

    The run is `linvae.simulate` in segments between consecutive times, each restarted
    from the weights where the previous one stopped, with beta(t) shifted so that the
    schedule runs on (one fresh input per step, as in one continuous run; the data streams of
    the segments are spawned from ``rng``). The initialization is the authors' (W, V entries
    N(0, 1), D = 1).

    Parameters
    ----------
    model : Model
        The problem; any schedule.
    N : int
        Input dimension.
    times : array of float
        Increasing times >= 0 (rounded to SGD steps).
    dt : float, optional
        Recording interval of the order parameters (default: the last time / 200).
    rng : int, SeedSequence or None
        Seed of the teacher, the initialization and the data.
    W_star : ndarray (N, M_star), optional
        True factors (default: `linvae.make_teacher`).

    Returns
    -------
    WeightSnapshots
    """
    owner = "simulate_snapshots"
    N = check_int("N", N, owner, low=max(model.M, model.M_star))
    t = np.asarray(times, dtype=np.float64)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError(
            f"The `times` parameter of {owner} must be a non-empty list of times >= 0. "
            f"Got {times!r}."
        )
    steps = np.rint(t * N).astype(np.int64)
    if np.any(np.diff(steps) <= 0):
        raise ValueError(
            f"The `times` parameter of {owner} must be increasing, at least one SGD step "
            f"(1/N = {1 / N:g}) apart. Got {times!r}."
        )
    t = steps / N
    t_end = float(t[-1])
    if dt is None:
        dt = max(t_end / 200, 1.0 / N)
    dt = check_real("dt", dt, owner, low=0.0)
    grid = np.union1d(time_grid(t_end, dt, N=N), t) if t_end > 0 else np.zeros(1)
    grid = np.unique(np.rint(grid * N).astype(np.int64)) / N

    root = seed_sequence(rng)
    teacher_ss, init_ss, data_ss = root.spawn(3)
    if W_star is None:
        W_star = make_teacher(N, model.M_star, rng=teacher_ss)
    W_star = check_array("W_star", W_star, owner, shape=(N, model.M_star))
    gen = np.random.default_rng(init_ss)
    W, V, D = gen.standard_normal((N, model.M)), gen.standard_normal((N, model.M)), np.ones(model.M)

    snapshots: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    pieces: list[OrderParameters] = []
    piece_t: list[np.ndarray] = []
    t_prev = 0.0
    for t_k, ss in zip(t, data_ss.spawn(len(t)), strict=True):
        if t_k > t_prev:
            inside = grid[(grid >= t_prev - 0.5 / N) & (grid <= t_k + 0.5 / N)] - t_prev
            run = simulate(
                _shifted(model, t_prev),
                N=N,
                t_max=t_k - t_prev,
                t_eval=inside,
                rng=ss,
                W_star=W_star,
                init={"W": W, "V": V, "D": D},
                return_weights=True,
                n_threads=1,
            )
            W, V, D = run.weights.W[0], run.weights.V[0], run.weights.D[0]
            keep = slice(1, None) if piece_t else slice(None)
            op = run.order_parameters()
            pieces.append(OrderParameters(**{k: v[0, keep] for k, v in op.as_dict().items()}))
            piece_t.append(run.t[keep] + t_prev)
        elif not piece_t:  # the first time is 0: the initialization itself
            op = order_parameters(W, V, D, W_star)
            pieces.append(OrderParameters(**{k: v[None] for k, v in op.as_dict().items()}))
            piece_t.append(np.zeros(1))
        snapshots.append((W.copy(), V.copy(), D.copy()))
        t_prev = float(t_k)
    op_all = {
        name: np.concatenate([getattr(p, name) for p in pieces])[None]
        for name in ("m", "d", "Q", "E", "R", "D")
    }
    trajectory = Trajectory.from_order_parameters(
        np.concatenate(piece_t),
        OrderParameters(**op_all),
        model=model,
        source="sgd",
        N=N,
        T_matrix=W_star.T @ W_star / N,
        meta={"segments": len(t), "version": __version__},
    )
    Ws, Vs, Ds = (np.stack(a) for a in zip(*snapshots, strict=True))
    return WeightSnapshots(t=t, W=Ws, V=Vs, D=Ds, W_star=W_star, trajectory=trajectory)
