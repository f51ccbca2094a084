"""Intrinsic dimension and information imbalance of a linear VAE: measured and predicted.

`linear_geometry` trains a linear VAE by one-pass SGD with its weights kept at chosen times
(`conv_study.linear.snapshots.simulate_snapshots`), and at each of them measures the 2NN ID
of each representation of a held-out sample and the information imbalance between every two
(`conv_study.linear.geometry.measure_geometry`). It predicts the same numbers by sampling the
Gaussian law that the order parameters fix (`conv_study.linear.law`,
`conv_study.linear.geometry.predict_geometry`), once from the order parameters measured on
the run and once from the ODE (`linvae.theory.solve_ode`), the N -> infinity theory. An
interrupted call returns what it measured (`GeometryInterrupted`), and a later call goes on
from there (``known``). The page "Geometry of the linear VAE" (docs/linear-geometry.md) has
the derivation and the results.

The names of `conv_study.linear.geometry` and `conv_study.linear.snapshots` are offered here
too.

Symbols
-------
t            training time, step / N
n            held-out points (``n_points``)
R            independent draws of the law per prediction (``repeats``)
Delta(a->b)  information imbalance from representation a to representation b
d, E, Q, D   order parameters (`linvae.observables`)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conv_study.linear.geometry import Geometry, measure_geometry, predict_geometry
from conv_study.linear.law import (
    REPRESENTATIONS,
    encode_decode,
    held_out_sample,
    representation_law,
)
from conv_study.linear.snapshots import WeightSnapshots, simulate_snapshots
from linvae.analysis.threshold import threshold_formula
from linvae.observables import OrderParameters, order_parameters
from linvae.params import Model
from linvae.theory.solve import initial_conditions_from, solve_ode
from linvae.trajectory import Trajectory
from linvae.utils.io import to_jsonable
from linvae.utils.process import check_interrupt
from linvae.utils.validation import check_int
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
