"""One-pass SGD of the linear VAE at finite N: the microscopic side of linvae.

Symbols
-------
N           input dimension
M, M_star   latents, true factors
W_star      the true factors (N x M_star), T = W_star^T W_star / N
c, n        factor and noise draws of one input, c ~ N(0, I_M_star), n ~ N(0, I_N)
x           sqrt(rho/N) W_star c + sqrt(eta) n, one fresh input per SGD step
t           step / N

The model, its SGD and what is recorded: docs/simulator.md. The update itself is in
`linvae.sgd.kernels`, the observables in `linvae.observables`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Literal

import numba
import numpy as np

from linvae.observables import OrderParameters
from linvae.params import Model
from linvae.sgd.kernels import (
    NONPOSITIVE_D,
    OK,
    KernelState,
    kernel_constants,
    kernel_state,
    run_chunk,
    run_chunk_serial,
)
from linvae.sgd.rng import fill_normals, seed_states
from linvae.trajectory import FinalWeights, Trajectory, time_grid
from linvae.utils.process import check_interrupt
from linvae.utils.progress import make_progress
from linvae.utils.validation import check_array, check_int, check_real
from linvae.utils.version import __version__

__all__ = [
    "SimulationDiverged",
    "SimulationInterrupted",
    "make_teacher",
    "sample_inputs",
    "simulate",
]

_OWNER = "simulate"
# Elements (step x N x (M + M_star)) per seed between two returns to Python: a few tenths of
# a second, so progress updates and Ctrl-C stay responsive.
_CHUNK_WORK = 20_000_000


class SimulationDiverged(FloatingPointError):
    """SGD left the valid region (non-finite weights, or D_k <= 0).

    Attributes
    ----------
    partial : Trajectory
        What was recorded before the failure (all seeds, up to the last complete record).
    t : float
        Time (step / N) at which it was detected.
    """

    def __init__(self, message: str, partial: Trajectory, t: float):
        super().__init__(message)
        self.partial = partial
        self.t = t


class SimulationInterrupted(KeyboardInterrupt):
    """Raised on Ctrl-C (and, in the ``linvae`` program, on SIGTERM); ``partial`` holds every
    grid point recorded so far."""

    def __init__(self, partial: Trajectory):
        super().__init__(f"Simulation interrupted at t = {partial.t[-1] if len(partial.t) else 0}")
        self.partial = partial


def _normalize_seed(rng) -> np.random.SeedSequence:
    if isinstance(rng, np.random.SeedSequence):
        return rng
    if isinstance(rng, np.random.Generator):
        seed_seq = rng.bit_generator.seed_seq
        if isinstance(seed_seq, np.random.SeedSequence):
            return seed_seq.spawn(1)[0]
        return np.random.SeedSequence(rng.integers(0, 2**63))
    if rng is None or (
        isinstance(rng, int | np.integer) and not isinstance(rng, bool) and rng >= 0
    ):
        return np.random.SeedSequence(rng)
    raise ValueError(
        f"The `rng` parameter of {_OWNER} must be a non-negative int, a numpy SeedSequence or "
        f"Generator, or None. Got {rng!r}."
    )


def make_teacher(
    N: int,
    M_star: int = 1,
    kind: Literal["ones", "orthogonal"] | None = None,
    *,
    rng=None,
) -> np.ndarray:
    """The true factors W_star (N x M_star), columns of squared norm N.

    ``"ones"`` is the authors' all-ones column (M_star = 1 only). ``"orthogonal"`` takes the Q
    factor of a Gaussian matrix (seeded by ``rng``), scaled so that W_star^T W_star / N = I.
    The default is ``"ones"`` for M_star = 1 and ``"orthogonal"`` otherwise.
    """
    N = check_int("N", N, "make_teacher")
    M_star = check_int("M_star", M_star, "make_teacher", high=N, fix="M_star cannot exceed N.")
    kind = kind or ("ones" if M_star == 1 else "orthogonal")
    if kind == "ones":
        if M_star != 1:
            raise ValueError(
                "The `W_star` parameter 'ones' needs M_star = 1 (all-ones columns are not "
                f"orthogonal). Got M_star = {M_star}; use 'orthogonal' or pass an array."
            )
        return np.ones((N, 1))
    if kind == "orthogonal":
        gen = np.random.default_rng(_normalize_seed(rng))
        q, r = np.linalg.qr(gen.standard_normal((N, M_star)))
        return q * np.sign(np.diag(r)) * math.sqrt(N)
    raise ValueError(
        f"The `W_star` parameter of {_OWNER} must be 'ones', 'orthogonal' or an array of shape "
        f"(N, M_star). Got {kind!r}."
    )


def sample_inputs(
    model: Model,
    *,
    N: int,
    n_samples: int,
    W_star: Literal["ones", "orthogonal"] | np.ndarray | None = None,
    rng: int | np.random.SeedSequence | None = 0,
) -> np.ndarray:
    """Draw inputs x = sqrt(rho/N) W_star c + sqrt(eta) n exactly as the simulator does.

    The normals come from the simulator's in-kernel generator, in the order one SGD step
    draws them (c, then n).

    Parameters
    ----------
    model : Model
        Supplies M_star, rho, eta.
    N : int
        Input dimension.
    n_samples : int
        Number of inputs.
    W_star : "ones", "orthogonal" or array (N, M_star), optional
        As in `simulate`.
    rng : int or SeedSequence
        Seed of the stream.

    Returns
    -------
    x : ndarray, shape (n_samples, N)
        Population covariance (rho/N) W_star W_star^T + eta I.
    """
    N = check_int("N", N, "sample_inputs")
    n_samples = check_int("n_samples", n_samples, "sample_inputs")
    root = _normalize_seed(rng)
    if W_star is None or isinstance(W_star, str):
        W_star = make_teacher(N, model.M_star, W_star, rng=root.spawn(1)[0])
    W_star = check_array("W_star", W_star, "sample_inputs", shape=(N, model.M_star))
    draws = np.empty(n_samples * (model.M_star + N))
    fill_normals(seed_states([root])[0], draws)
    draws = draws.reshape(n_samples, model.M_star + N)
    c, n = draws[:, : model.M_star], draws[:, model.M_star :]
    return _spiked_inputs(W_star, model.rho_vector, model.eta, c, n)


def _spiked_inputs(
    W_star: np.ndarray, rho: float | np.ndarray, eta: float, c: np.ndarray, n: np.ndarray
) -> np.ndarray:
    """Inputs x = sqrt(rho/N) W_star c + sqrt(eta) n from given draws, one per row.

    Parameters
    ----------
    W_star : array, shape (N, M_star)
        True factors.
    rho : float or array, shape (M_star,)
        Signal strength, shared or per factor (row l of c is scaled by sqrt(rho_l / N)).
    eta : float
        Noise strength.
    c : array, shape (n_samples, M_star)
        Factor draws.
    n : array, shape (n_samples, N)
        Noise draws.

    Returns
    -------
    x : ndarray, shape (n_samples, N)

    Examples
    --------
    >>> _spiked_inputs(np.ones((4, 1)), 4.0, 1.0, np.array([[1.0]]), np.zeros((1, 4)))
    array([[1., 1., 1., 1.]])
    """
    N, M_star = W_star.shape
    scale = np.sqrt(np.broadcast_to(np.asarray(rho, dtype=np.float64), (M_star,)) / N)
    # (N, M_star) @ (M_star, n_samples), then transposed: this order of operations keeps
    # sample_inputs bit-identical to earlier versions.
    return (W_star @ (scale[:, None] * np.asarray(c).T) + np.sqrt(eta) * np.asarray(n).T).T


def _initial_weights(init, n_seeds, N, M, seed_seqs):
    if init is None or (isinstance(init, str) and init == "gaussian"):
        W = np.empty((n_seeds, N, M))
        V = np.empty((n_seeds, N, M))
        for j, ss in enumerate(seed_seqs):
            gen = np.random.default_rng(ss)
            W[j] = gen.standard_normal((N, M))
            V[j] = gen.standard_normal((N, M))
        return W, V, np.ones((n_seeds, M)), "gaussian"
    if isinstance(init, FinalWeights):
        init = {"W": init.W, "V": init.V, "D": init.D}
    if not isinstance(init, Mapping):
        raise ValueError(
            f"The `init` parameter of {_OWNER} must be 'gaussian', FinalWeights or a mapping "
            f"with 'W', 'V' (and optionally 'D'). Got {type(init).__name__}."
        )
    out = []
    for name in ("W", "V"):
        if name not in init:
            raise ValueError(f"The `init` parameter of {_OWNER} is missing the {name!r} entry.")
        arr = np.asarray(init[name], dtype=np.float64)
        if arr.ndim == 2:
            arr = np.broadcast_to(arr, (n_seeds, *arr.shape))
        out.append(check_array(f"init['{name}']", arr, _OWNER, shape=(n_seeds, N, M)).copy())
    D = np.asarray(init.get("D", np.ones(M)), dtype=np.float64)
    if D.ndim == 1:
        D = np.broadcast_to(D, (n_seeds, M))
    D = check_array("init['D']", D, _OWNER, shape=(n_seeds, M)).copy()
    if np.any(D <= 0):
        raise ValueError(f"The `init['D']` parameter of {_OWNER} must be > 0. Got {D.min()!r}.")
    return out[0], out[1], D, "given"


def simulate(
    model: Model,
    *,
    N: int,
    t_max: float,
    dt: float = 1.0,
    t_eval: np.ndarray | None = None,
    n_seeds: int = 1,
    rng: int | np.random.SeedSequence | np.random.Generator | None = 0,
    W_star: Literal["ones", "orthogonal"] | np.ndarray | None = None,
    init: Literal["gaussian"] | Mapping | FinalWeights | None = "gaussian",
    tau_D: float | None = None,
    return_weights: bool = False,
    n_threads: int | None = None,
    progress: bool | Callable[[float, float], None] = False,
) -> Trajectory:
    """Train the linear VAE by one-pass SGD and record its order parameters.

    Each step draws a fresh ``x = sqrt(rho/N) W_star c + sqrt(eta) n`` and applies
    ``W -= tau grad_W``, ``V -= tau grad_V``, ``D -= tau_D grad_D`` (the loss and its gradients:
    docs/simulator.md, section "The model").

    Parameters
    ----------
    model : Model
        M, M_star, rho, eta, beta (or schedule), lam, tau.
    N : int
        Input dimension (>= M and >= M_star).
    t_max : float
        Training time in units of N steps (``t_max * N`` steps in all).
    dt : float
        Recording interval; the grid is 0, dt, 2 dt, ..., t_max (t_max included).
    t_eval : array, optional
        Explicit increasing recording times in [0, t_max] (overrides ``dt``).
    n_seeds : int
        Independent runs (own data, own initialization), run in parallel across threads.
    rng : int, SeedSequence, Generator or None
        The one user seed. Seed j's streams are spawned from it, so seed j is the same run
        whatever ``n_seeds`` and whatever the number of threads.
    W_star : "ones", "orthogonal" or array (N, M_star), optional
        True factors; see `make_teacher`. One W_star is shared by all seeds.
    init : "gaussian", mapping or FinalWeights
        The authors' initialization (W, V entries N(0, 1), D = 1) or given weights: ``W``,
        ``V`` of shape (N, M) or (n_seeds, N, M), ``D`` of shape (M,) or (n_seeds, M).
    tau_D : float, optional
        Learning rate of D; ``model.tau / N`` by default.
    return_weights : bool
        Keep the final weights in ``Trajectory.weights``.
    n_threads : int, optional
        Threads for the seed-parallel loop (numba's default otherwise). Results do not depend
        on it. With ``n_threads=1`` (or one seed) no numba parallel region is entered, so
        several Python threads may call `simulate` at once.
    progress : bool or callable
        True draws a tqdm bar on stderr, closed however the run ends; a callable receives
        ``(steps_done, steps_total)`` after each chunk of steps.

    Returns
    -------
    Trajectory
        ``t`` (T,); ``m, d`` (S, T, M, M_star); ``Q, E, R`` (S, T, M, M); ``D`` (S, T, M);
        ``eps_g`` (S, T); ``model``; ``source = "sgd"``; ``N``; ``T_matrix``; ``meta``
        (seed entropy, tau_D, W_star kind, init kind, steps, wall time, version); ``weights``.

    Raises
    ------
    ValueError
        A parameter is out of range; the message names it.
    SimulationDiverged
        Weights became non-finite or some D_k <= 0; carries the partial trajectory.
    SimulationInterrupted
        On Ctrl-C, or any KeyboardInterrupt (the ``linvae`` program raises one on SIGTERM
        too); carries everything recorded so far.

    Notes
    -----
    The N normals of each step come from an in-kernel ziggurat on xoshiro256++ streams (see
    `linvae.sgd.rng`), seeded from ``rng`` through numpy's SeedSequence. No allocation
    happens per step; memory is O(n_seeds (N M + T M^2)), independent of the number of steps.

    References
    ----------
    Y. Ichikawa & K. Hukushima, "Learning Dynamics in Linear VAE: Posterior Collapse
    Threshold, Superfluous Latent Space Pitfalls, and Speedup with KL Annealing",
    AISTATS 2024, arXiv:2310.15440.

    Examples
    --------
    >>> from linvae import Model, simulate
    >>> run = simulate(Model(beta=0.5, tau=0.1), N=100, t_max=20, dt=5, n_seeds=2, rng=1)
    >>> run.eps_g.shape
    (2, 5)
    """
    if not isinstance(model, Model):
        raise ValueError(
            f"The `model` parameter of {_OWNER} must be a linvae.Model. Got {model!r}."
        )
    N = check_int("N", N, _OWNER, low=1)
    if model.M_star > N:
        raise ValueError(f"The `M_star` parameter of Model must be <= N = {N}. Got {model.M_star}.")
    if model.M > N:
        raise ValueError(f"The `M` parameter of Model must be <= N = {N}. Got {model.M}.")
    n_seeds = check_int("n_seeds", n_seeds, _OWNER, low=1)
    tau = model.tau
    tau_D = tau / N if tau_D is None else check_real("tau_D", tau_D, _OWNER, low=0.0)
    t_grid = time_grid(t_max, dt, N=N, t_eval=t_eval, owner=_OWNER)
    rec_steps = np.rint(t_grid * N).astype(np.int64)
    if n_threads is not None:
        n_threads = check_int("n_threads", n_threads, _OWNER, high=numba.config.NUMBA_NUM_THREADS)
    root = _normalize_seed(rng)
    teacher_ss, seeds_ss = root.spawn(2)
    per_seed = seeds_ss.spawn(n_seeds)
    init_ss, data_ss = zip(*(ss.spawn(2) for ss in per_seed), strict=True)

    if W_star is None or isinstance(W_star, str):
        W_star_kind = W_star or ("ones" if model.M_star == 1 else "orthogonal")
        W_star_arr = make_teacher(N, model.M_star, W_star_kind, rng=teacher_ss)
    else:
        W_star_kind = "given"
        W_star_arr = check_array("W_star", W_star, _OWNER, shape=(N, model.M_star))
        if np.linalg.matrix_rank(W_star_arr) < model.M_star:
            raise ValueError(
                f"The `W_star` parameter of {_OWNER} must have linearly independent columns."
            )
    T_matrix = W_star_arr.T @ W_star_arr / N

    W, V, D, init_kind = _initial_weights(init, n_seeds, N, model.M, init_ss)
    n_rec = len(rec_steps)
    state = kernel_state(W, V, D, seed_states(data_ss), M_star=model.M_star, n_rec=n_rec)
    consts = kernel_constants(
        W_star_arr, model.rho_vector, model.eta, tau=tau, tau_D=tau_D, lam=model.lam,
        rec_steps=rec_steps,
    )  # fmt: skip
    total = int(rec_steps[-1])
    chunk = max(1, _CHUNK_WORK // (N * (model.M + model.M_star)))
    schedule = model.schedule
    meta = {
        "seed_entropy": str(root.entropy),
        "seed_spawn_key": list(root.spawn_key),
        "n_seeds": n_seeds,
        "tau_D": tau_D,
        "W_star": W_star_kind,
        "init": init_kind,
        "steps": total,
        "dt": None if t_eval is not None else float(dt),
        "t_max": float(t_max),
        "version": __version__,
    }

    def result(n_done: int) -> Trajectory:
        op = OrderParameters(
            m=state.m[:, :n_done],
            d=state.d[:, :n_done],
            Q=state.Q_rec[:, :n_done],
            E=state.E[:, :n_done],
            R=state.R[:, :n_done],
            D=state.D_rec[:, :n_done],
        )
        weights = (
            FinalWeights(
                W=state.W.transpose(0, 2, 1).copy(),
                V=state.V.transpose(0, 2, 1).copy(),
                D=state.D.copy(),
                W_star=W_star_arr,
            )
            if return_weights
            else None
        )
        return Trajectory.from_order_parameters(
            t_grid[:n_done],
            op,
            model=model,
            source="sgd",
            N=N,
            T_matrix=T_matrix,
            meta=meta,
            weights=weights,
        )

    # One seed or one thread: no parallel region (cheaper, and safe in threaded callers).
    kernel = run_chunk_serial if n_seeds == 1 or n_threads == 1 else run_chunk
    previous_threads = numba.get_num_threads()
    # The first call of the kernel in a process compiles it (or loads it from numba's cache):
    # the bar says so, and its estimate starts after it.
    report = make_progress(
        progress,
        total,
        f"SGD N={N} M={model.M} seeds={n_seeds}",
        unit="steps",
        warmup=None if kernel.signatures else "compiling",
    )
    started = time.perf_counter()
    s = 0
    try:
        if n_threads is not None:
            numba.set_num_threads(n_threads)
        while True:
            s_end = min(s + chunk, total)
            betas = schedule(np.arange(s, s_end) / N)
            kernel(state, consts.chunk(s, betas, last=s_end == total))
            if np.any(state.status != OK):
                break
            s = s_end
            report(s)
            if s == total:
                break
            check_interrupt()  # a safe point: the chunks before are recorded
    except KeyboardInterrupt:
        done = int(np.searchsorted(rec_steps, s, side="right"))
        meta["interrupted_at_step"] = s
        raise SimulationInterrupted(result(done)) from None
    finally:
        if n_threads is not None:
            numba.set_num_threads(previous_threads)
        report.close()
    meta["wall_time_s"] = time.perf_counter() - started
    if np.any(state.status != OK):
        _raise_diverged(state, rec_steps, N, model, tau_D, result)
    return result(n_rec)


def _raise_diverged(state: KernelState, rec_steps, N, model, tau_D, result):
    j = int(np.flatnonzero(state.status != OK)[0])
    step = int(state.stop_step[j])
    t = step / N
    nonpositive_d = state.status[j] == NONPOSITIVE_D
    what = (
        "an encoder variance D_k became <= 0"
        if nonpositive_d
        else "the weights became non-finite (NaN or inf)"
    )
    done = int(np.searchsorted(rec_steps, step, side="left"))
    raise SimulationDiverged(
        f"SGD diverged for seed {j} at t = {t:g} (step {step}): {what}. The learning rate is "
        f"too large for this problem: lower `tau` (now {model.tau:g}; the ODE limit assumes "
        f"tau small, e.g. tau <= 0.1 / (rho + eta) = {0.1 / model.nu:.3g})"
        + (f" or `tau_D` (now {tau_D:g})" if nonpositive_d else "")
        + ".",
        result(done),
        t,
    )
