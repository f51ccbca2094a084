"""Intrinsic dimension and information imbalance of a linear VAE: measured and predicted.

`linear_geometry` trains a linear VAE by one-pass SGD (`linvae.simulate`), and at
chosen times measures the 2NN ID of each representation of a held-out sample and the
information imbalance between every two (`conv_study.estimators.layer_geometry`, one
Gram each). It predicts the same numbers by sampling the Gaussian law that the order
parameters fix (`conv_study.linear.law`), once from the order parameters measured on the
run and once from the ODE (`linvae.theory.solve_ode`), the N -> infinity theory. The
page "Geometry of the linear VAE" (docs/linear-geometry.md) has the derivation and the results.

Symbols
-------
t            training time, step / N
n            held-out points (``n_points``)
R            independent draws of the law per prediction (``repeats``)
Delta(a->b)  information imbalance from representation a to representation b
d, E, Q, D   order parameters (`linvae.observables`)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conv_study.estimators import layer_geometry
from conv_study.linear.law import (
    REPRESENTATIONS,
    RepresentationLaw,
    encode_decode,
    held_out_sample,
    representation_law,
)
from linvae.analysis.threshold import threshold_formula
from linvae.observables import OrderParameters, order_parameters
from linvae.params import Model
from linvae.sgd.simulator import make_teacher, simulate
from linvae.theory.solve import initial_conditions_from, solve_ode
from linvae.trajectory import Trajectory, time_grid
from linvae.utils.io import to_jsonable
from linvae.utils.process import check_interrupt
from linvae.utils.validation import check_array, check_int, check_real
from linvae.utils.version import __version__

__all__ = [
    "Geometry",
    "GeometryInterrupted",
    "LinearGeometry",
    "WeightSnapshots",
    "linear_geometry",
    "measure_geometry",
    "predict_geometry",
    "simulate_snapshots",
]


@dataclass(frozen=True)
class Geometry:
    """2NN IDs of some representations and the information imbalances between them.

    Attributes
    ----------
    names : tuple of str
        The representations, in order.
    id : ndarray, shape (L,)
        2NN ID per representation (a mean over draws for a prediction).
    imbalance : ndarray, shape (L, L)
        ``imbalance[a, b] = Delta(a -> b)``; nan on the diagonal.
    id_std, imbalance_std : ndarray, shapes (L,) and (L, L)
        Standard deviation over the draws of a prediction: the sampling spread of one
        estimate at this ``n_points``; 0 for a measurement (one draw).
    n_points : int
        Points per estimate.
    repeats : int
        Draws averaged (1 for a measurement).
    """

    names: tuple[str, ...]
    id: np.ndarray
    imbalance: np.ndarray
    id_std: np.ndarray
    imbalance_std: np.ndarray
    n_points: int
    repeats: int

    def delta(self, a: str, b: str) -> float:
        """Delta(a -> b)."""
        return float(self.imbalance[self.names.index(a), self.names.index(b)])

    def delta_std(self, a: str, b: str) -> float:
        """The spread of Delta(a -> b) over the draws."""
        return float(self.imbalance_std[self.names.index(a), self.names.index(b)])

    def id_of(self, name: str) -> float:
        """The 2NN ID of one representation."""
        return float(self.id[self.names.index(name)])

    def to_json(self) -> dict[str, Any]:
        """``{"id": {name: value}, "imbalance": {"a->b": value}, ...}``, nan as null."""
        L = len(self.names)
        pairs = [(a, b) for a in range(L) for b in range(L) if a != b]
        key = [f"{self.names[a]}->{self.names[b]}" for a, b in pairs]
        out = {
            "id": dict(zip(self.names, self.id, strict=True)),
            "imbalance": {k: self.imbalance[a, b] for k, (a, b) in zip(key, pairs, strict=True)},
            "n_points": self.n_points,
            "repeats": self.repeats,
        }
        if self.repeats > 1:
            out["id_std"] = dict(zip(self.names, self.id_std, strict=True))
            out["imbalance_std"] = {
                k: self.imbalance_std[a, b] for k, (a, b) in zip(key, pairs, strict=True)
            }
        return to_jsonable(out)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Geometry:
        """The `Geometry` that `to_json` wrote (null read back as nan).

        Raises
        ------
        ValueError
            If ``obj`` is not such a mapping (the message names what is missing).
        """
        try:
            names = tuple(obj["id"])
            L = len(names)

            def vector(values: Mapping[str, Any]) -> np.ndarray:
                return np.array([np.nan if values[k] is None else values[k] for k in names])

            def matrix(values: Mapping[str, Any]) -> np.ndarray:
                out = np.full((L, L), np.nan)
                for a in range(L):
                    for b in range(L):
                        value = values[f"{names[a]}->{names[b]}"] if a != b else None
                        out[a, b] = np.nan if value is None else value
                return out

            ids, imbalance = vector(obj["id"]), matrix(obj["imbalance"])
            repeats, n_points = int(obj["repeats"]), int(obj["n_points"])
            if repeats > 1:
                id_std, imbalance_std = vector(obj["id_std"]), matrix(obj["imbalance_std"])
            else:  # one draw: no spread, nan where the estimate is nan
                id_std = np.where(np.isnan(ids), np.nan, 0.0)
                imbalance_std = np.where(np.isnan(imbalance), np.nan, 0.0)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"Not a Geometry written by Geometry.to_json: {err!r}.") from None
        return cls(
            names=names,
            id=ids,
            imbalance=imbalance,
            id_std=id_std,
            imbalance_std=imbalance_std,
            n_points=n_points,
            repeats=repeats,
        )


def measure_geometry(representations: Mapping[str, np.ndarray]) -> Geometry:
    """2NN ID of every representation and Delta between every ordered pair (one Gram each).

    Parameters
    ----------
    representations : mapping of name -> array (n, width)
        The same n points in each space.

    Returns
    -------
    Geometry
        ``repeats = 1``, zero spreads. A representation with fewer than 3 distinct points (a
        latent that is exactly 0, as in a law whose d and E have underflowed) has no
        neighbours: its ID and every imbalance from or to it are nan.
    """
    names = tuple(representations)
    arrays = [np.asarray(representations[k]) for k in names]
    L = len(names)
    ok = [i for i, X in enumerate(arrays) if np.unique(X.reshape(len(X), -1), axis=0).shape[0] > 2]
    ids = np.full(L, np.nan)
    imb = np.full((L, L), np.nan)
    n = len(arrays[0])
    if ok:
        geo = layer_geometry([arrays[i] for i in ok], pairs="all" if len(ok) > 1 else ())
        ids[ok] = geo.id
        imb[np.ix_(ok, ok)] = geo.imbalance
        n = geo.n_points
    return Geometry(
        names=names,
        id=ids,
        imbalance=imb,
        id_std=np.where(np.isnan(ids), np.nan, 0.0),
        imbalance_std=np.where(np.isnan(imb), np.nan, 0.0),
        n_points=n,
        repeats=1,
    )


def predict_geometry(
    law: RepresentationLaw, n_points: int, *, repeats: int = 8, rng=None
) -> Geometry:
    """Predicted IDs and imbalances: the estimators on draws of the Gaussian law.

    Each of ``repeats`` independent samples of ``n_points`` points from the law of
    (c, mu, z, reconstruction) is measured like the real representations; the result is the
    mean, and the spread over draws is that of a single estimate at this size.

    Parameters
    ----------
    law : RepresentationLaw
        From `conv_study.linear.representation_law`.
    n_points : int
        Points per draw: the size of the measurement to compare with.
    repeats : int
        Independent draws (>= 1).
    rng : int, Generator, SeedSequence or None
        Seed.

    Returns
    -------
    Geometry
        Names `conv_study.linear.LAW_REPRESENTATIONS`.
    """
    owner = "predict_geometry"
    n_points = check_int("n_points", n_points, owner, low=3)
    repeats = check_int("repeats", repeats, owner, low=1)
    seeds = np.random.SeedSequence(_entropy(rng)).spawn(repeats)
    draws = [measure_geometry(law.sample(n_points, rng=np.random.default_rng(s))) for s in seeds]
    ids = np.array([g.id for g in draws])
    imbs = np.array([g.imbalance for g in draws])
    ddof = 1 if repeats > 1 else 0
    return Geometry(
        names=draws[0].names,
        id=ids.mean(axis=0),
        imbalance=imbs.mean(axis=0),
        id_std=ids.std(axis=0, ddof=ddof),
        imbalance_std=imbs.std(axis=0, ddof=ddof),
        n_points=n_points,
        repeats=repeats,
    )


def _entropy(rng) -> int | Sequence[int] | None:
    """Entropy for a SeedSequence from an int, SeedSequence, Generator or None."""
    if isinstance(rng, np.random.SeedSequence):
        return rng.generate_state(4)
    if isinstance(rng, np.random.Generator):
        return rng.integers(0, 2**63, size=2)
    return rng


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

    root = np.random.SeedSequence(_entropy(rng))
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


@dataclass(frozen=True)
class LinearGeometry:
    """Result of `linear_geometry`: the geometry of a linear VAE over training time.

    Attributes
    ----------
    model : Model
        The problem.
    N : int
        Input dimension.
    t : ndarray, shape (T,)
        Times of the measurements (step / N).
    measured : tuple of Geometry
        Per time: the estimators on the held-out representations
        `REPRESENTATIONS`.
    predicted : tuple of Geometry
        Per time: the estimators on draws of the law fixed by the order parameters measured
        on the run (names `LAW_REPRESENTATIONS`).
    predicted_ode : tuple of Geometry or None
        The same from the ODE's order parameters (None when ``ode=False``).
    order_parameters : OrderParameters
        Measured at ``t``: shapes (T, M, M_star), (T, M, M), (T, M).
    order_parameters_ode : OrderParameters or None
        The ODE's at ``t``.
    run : Trajectory
        The run's order parameters on a fine grid (one seed).
    ode : Trajectory or None
        The ODE solution on the same grid, started from the run's initial order parameters.
    n_points : int
        Held-out points.
    repeats : int
        Draws per prediction.
    seed : int or None
        The seed given.
    version : str
        Package version.
    """

    model: Model
    N: int
    t: np.ndarray
    measured: tuple[Geometry, ...]
    predicted: tuple[Geometry, ...]
    predicted_ode: tuple[Geometry, ...] | None
    order_parameters: OrderParameters
    order_parameters_ode: OrderParameters | None
    run: Trajectory
    ode: Trajectory | None
    n_points: int
    repeats: int
    seed: int | None
    version: str = field(default=__version__)

    @property
    def beta_star(self) -> float:
        """The collapse threshold of the strongest factor, nu / (1 + lam) - lam / nu."""
        return float(threshold_formula(self.model.rho_vector.max(), self.model.eta, self.model.lam))

    def to_json(self) -> dict[str, Any]:
        """Strict-JSON dict: model, names, and per time the measured and predicted geometry."""
        per_time = []
        for i, t in enumerate(self.t):
            entry: dict[str, Any] = {
                "t": t,
                "beta": self.model.schedule(float(t)),
                "order_parameters": {k: v[i] for k, v in self.order_parameters.as_dict().items()},
                "eps_g": float(np.interp(t, self.run.t, self.run.eps_g[0])),
                "measured": self.measured[i].to_json(),
                "predicted": self.predicted[i].to_json(),
            }
            if self.predicted_ode is not None:
                entry["predicted_ode"] = self.predicted_ode[i].to_json()
                entry["order_parameters_ode"] = {
                    k: v[i] for k, v in self.order_parameters_ode.as_dict().items()
                }
            per_time.append(entry)
        return to_jsonable(
            {
                "model": self.model.describe(),
                "N": self.N,
                "n_points": self.n_points,
                "repeats": self.repeats,
                "seed": self.seed,
                "beta_star": self.beta_star,
                "representations": list(self.measured[0].names),
                "predicted_representations": list(self.predicted[0].names),
                "notes": {
                    "predicted": "mean over `repeats` draws of the Gaussian law fixed by the "
                    "run's order parameters (d, E, Q, D); *_std is the spread of one draw",
                    "predicted_ode": "the same from the ODE (N -> infinity), started from the "
                    "run's initial order parameters; in deep collapse, where the ODE's d and E "
                    "fall below its absolute tolerance, its law of mu is round-off",
                    "x": "measured only: the input's distances are dominated by the "
                    "N-dimensional noise (docs/linear-geometry.md)",
                    "null": "an estimate that is undefined (e.g. duplicate points)",
                },
                "times": per_time,
                "version": self.version,
            }
        )


def _check_known(
    known: Sequence[Mapping[str, Any]], t: np.ndarray, ode: bool
) -> Sequence[Mapping[str, Any]]:
    """``known`` (see `linear_geometry`) if it fits the times ``t`` and the ``ode`` option."""
    owner = "linear_geometry"
    if len(known) > len(t):
        raise ValueError(
            f"The `known` parameter of {owner} has {len(known)} times; only {len(t)} are asked."
        )
    for k, (entry, t_i) in enumerate(zip(known, t, strict=False)):
        got = entry.get("t") if isinstance(entry, Mapping) else None
        if not isinstance(got, int | float) or abs(got - t_i) > 1e-9 * max(1.0, abs(t_i)):
            raise ValueError(
                f"The `known` parameter of {owner} must hold the first of the times asked, in "
                f"order: its entry {k} has t = {got!r} where t = {t_i:g} is asked."
            )
        if ("predicted_ode" in entry) != ode:
            raise ValueError(
                f"The `known` parameter of {owner} must come from a call with ode={ode}."
            )
    return known


class GeometryInterrupted(KeyboardInterrupt):
    """`linear_geometry` was interrupted (Ctrl-C; SIGTERM under the ``conv-study`` program).

    Attributes
    ----------
    partial : LinearGeometry or None
        The times measured before the interrupt (``partial.t`` is their prefix of the times
        asked for), or None if it came before the first measurement (during the run).
    """

    def __init__(self, partial: LinearGeometry | None):
        done = 0 if partial is None else len(partial.t)
        super().__init__(f"linear_geometry interrupted after {done} measured time(s)")
        self.partial = partial


def linear_geometry(
    model: Model,
    *,
    N: int,
    times: Sequence[float] | np.ndarray,
    n_points: int = 2000,
    repeats: int = 8,
    dt: float | None = None,
    ode: bool = True,
    rng: int | None = 0,
    W_star: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
    known: Sequence[Mapping[str, Any]] = (),
) -> LinearGeometry:
    """Measure and predict the IDs and imbalances of a linear VAE's representations.

    At each time: a held-out sample (the same n inputs at every time) is mapped to
    c, x, mu, z and the reconstruction; `measure_geometry` gives their 2NN IDs and the
    imbalances between them. `predict_geometry` gives the same from the Gaussian law of
    the order parameters measured on the run, and (``ode=True``) from the ODE solution.

    Parameters
    ----------
    model : Model
        The problem; any schedule.
    N : int
        Input dimension.
    times : array of float
        Increasing times >= 0 at which to measure.
    n_points : int
        Held-out points (the ``n`` of every estimate).
    repeats : int
        Draws of the law per prediction.
    dt : float, optional
        Recording interval of the order-parameter trajectories (default: last time / 200).
    ode : bool
        Also predict from the ODE (the N -> infinity theory, no SGD).
    rng : int or None
        The one seed: teacher, initialization, SGD data, held-out sample, latent noise, draws.
    W_star : ndarray (N, M_star), optional
        True factors.
    progress : callable(done, total), optional
        Called after each time.
    known : sequence of mapping, optional
        The first entries of ``LinearGeometry.to_json()["times"]`` of an earlier call with the
        same arguments (an interrupted one: `GeometryInterrupted`): their estimates are
        read back instead of computed again, so that a rerun goes on where it stopped. Every
        time's estimates have their own seeds, so the result is the same as that of an
        uninterrupted call.

    Returns
    -------
    LinearGeometry

    Raises
    ------
    ValueError
        On a parameter out of range (the message names it), or if SGD or the ODE diverges.
    GeometryInterrupted
        (a ``KeyboardInterrupt``) On Ctrl-C, or SIGTERM under the ``conv-study`` program
        (checked after each time): its ``partial`` holds every time measured so far.
    ValueError
        If ``known`` does not match: more entries than times, another time, or entries
        without a prediction from the ODE while ``ode`` is true (or the other way round).

    Examples
    --------
    >>> from linvae import Model
    >>> res = linear_geometry(Model(beta=0.5, tau=0.1), N=100, times=[0, 20], n_points=200,
    ...                       repeats=2, ode=False, rng=0)
    >>> res.measured[-1].names
    ('c', 'x', 'mu', 'z', 'reconstruction')
    """
    owner = "linear_geometry"
    if not isinstance(model, Model):
        raise ValueError(f"The `model` parameter of {owner} must be a linvae.Model. Got {model!r}.")
    n_points = check_int("n_points", n_points, owner, low=3)
    repeats = check_int("repeats", repeats, owner, low=1)
    seed = None if rng is None else check_int("rng", rng, owner, low=0)
    root = np.random.SeedSequence(seed)
    run_ss, held_ss, xi_ss, law_ss, ode_law_ss = root.spawn(5)
    snaps = simulate_snapshots(model, N=N, times=times, dt=dt, rng=run_ss, W_star=W_star)
    c, x = held_out_sample(model, snaps.W_star, n_points, rng=np.random.default_rng(held_ss))

    ops = [
        order_parameters(W, V, D, snaps.W_star)
        for W, V, D in zip(snaps.W, snaps.V, snaps.D, strict=True)
    ]
    op_t = OrderParameters(**{k: np.stack([getattr(o, k) for o in ops]) for k in ops[0].as_dict()})
    ode_traj = op_ode = None
    if ode and snaps.t[-1] > 0:
        ode_traj = solve_ode(
            model,
            t_max=float(snaps.trajectory.t[-1]),
            init=initial_conditions_from(snaps.trajectory, align_signs=False),
            t_eval=snaps.trajectory.t,
            T=snaps.W_star.T @ snaps.W_star / N,
        )
        idx = np.searchsorted(ode_traj.t, snaps.t - 0.5 / N)
        op_ode = OrderParameters(
            **{k: v[0, idx] for k, v in ode_traj.order_parameters().as_dict().items()}
        )

    measured, predicted, predicted_ode = [], [], []

    def result() -> LinearGeometry:
        """The times measured so far (all of them once the loop ends)."""
        k = len(measured)

        def first(op: OrderParameters) -> OrderParameters:
            return OrderParameters(**{name: v[:k] for name, v in op.as_dict().items()})

        return LinearGeometry(
            model=model,
            N=N,
            t=snaps.t[:k],
            measured=tuple(measured),
            predicted=tuple(predicted),
            predicted_ode=tuple(predicted_ode) if op_ode is not None else None,
            order_parameters=first(op_t),
            order_parameters_ode=None if op_ode is None else first(op_ode),
            run=snaps.trajectory,
            ode=ode_traj,
            n_points=n_points,
            repeats=repeats,
            seed=seed,
        )

    for entry in _check_known(known, snaps.t, op_ode is not None):
        measured.append(Geometry.from_json(entry["measured"]))
        predicted.append(Geometry.from_json(entry["predicted"]))
        if op_ode is not None:
            predicted_ode.append(Geometry.from_json(entry["predicted_ode"]))
    xi_seeds, law_seeds = xi_ss.spawn(len(snaps.t)), law_ss.spawn(len(snaps.t))
    ode_seeds = ode_law_ss.spawn(len(snaps.t))
    try:
        for i in range(len(measured), len(snaps.t)):
            check_interrupt()  # a safe point: the times before are measured
            reps = {"c": c, "x": x}
            reps.update(encode_decode(snaps.W[i], snaps.V[i], snaps.D[i], x, rng=xi_seeds[i]))
            geometry = measure_geometry({name: reps[name] for name in REPRESENTATIONS})
            op_i = OrderParameters(**{k: v[i] for k, v in op_t.as_dict().items()})
            law = representation_law(op_i, model)
            prediction = predict_geometry(law, n_points, repeats=repeats, rng=law_seeds[i])
            if op_ode is not None:
                op_o = OrderParameters(**{k: v[i] for k, v in op_ode.as_dict().items()})
                law_o = representation_law(op_o, model)
                predicted_ode.append(
                    predict_geometry(law_o, n_points, repeats=repeats, rng=ode_seeds[i])
                )
            # A time counts once all of its estimates are in (the ODE's appended first).
            measured.append(geometry)
            predicted.append(prediction)
            if progress is not None:
                progress(i + 1, len(snaps.t))
    except KeyboardInterrupt:
        del predicted_ode[len(measured) :]
        raise GeometryInterrupted(result() if measured else None) from None
    return result()
