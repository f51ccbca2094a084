"""Training the linear VAE on a fixed data set at finite N (offline learning), M = M_star = 1.

The loss and its conventions are on the finite-data page (docs/offline.md).

Symbols
-------
N, n      input dimension, training-set size; alpha = n / N samples per dimension
rho, eta  signal and noise strengths; W_star the all-ones signal direction
beta, lam KL weight; L2 penalty (lam / 2)(|W|^2 + |V|^2) on the *summed* loss
C         the sample covariance (1/n) X^T X of one data set
stack     one data set (alpha, seed) with its own initialization; stacks train independently

A `Datasets` holds the data of every (alpha, seed) stack; `train_offline` trains
them all with one `Trainer` (`GradientDescent`, `Adam`,
`MinibatchSGD`) and returns an `OfflineRun`: the order parameters, eps_g, rate
and distortion of each stack, its record over training, and the finite-N theory of each stack's
own sample covariance beside them.

The full-batch methods use the data only through C: Adam works with C (one pass over an N x N
matrix per epoch), gradient descent in C's eigenbasis (O(N) per step; GD commutes with
rotations, Adam does not). Seed ``j`` of a data set draws its samples and initialization from
its own stream, so the data of a smaller alpha is the first rows of a larger one and results do
not depend on which other alphas or seeds are trained: the same seed gives bitwise the same
result, whatever the grid and the thread count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from linvae.observables import distortion, encoder_moments, generalization_error, rate
from linvae.offline.kernels import (
    N_RECORD,
    adam_covariance,
    gd_eigenbasis,
    record,
    sample_moments,
    sgd_minibatch,
)
from linvae.offline.theory import OfflineSolution, solve_sample
from linvae.utils.process import check_interrupt
from linvae.utils.progress import make_progress
from linvae.utils.validation import check_int, check_real
from linvae.utils.version import __version__

__all__ = [
    "Adam",
    "Datasets",
    "GradientDescent",
    "MinibatchSGD",
    "OfflineRun",
    "TrainingDiverged",
    "make_datasets",
    "train_offline",
]


class TrainingDiverged(FloatingPointError):
    """A stack left the valid region (D <= 0 or non-finite weights); ``run`` holds all stacks,
    the failed ones with their ``status``."""

    def __init__(self, message: str, run: OfflineRun):
        super().__init__(message)
        self.run = run


# --------------------------------------------------------------------------- data
@dataclass(frozen=True, kw_only=True, eq=False)
class Datasets:
    """Training sets and initializations of a grid of (alpha, seed) stacks.

    Attributes
    ----------
    N : int
        Input dimension.
    rho, eta : float
        Signal and noise strengths of the population.
    alpha : ndarray, shape (S,)
        Samples per dimension of each stack (n / N, n rounded to an integer).
    seed : ndarray of int, shape (S,)
        Seed index of each stack (0 .. n_seeds - 1).
    n : ndarray of int, shape (S,)
        Training-set sizes.
    X : tuple of ndarray, each (n_k, N)
        The samples x = sqrt(rho / N) W_star c + sqrt(eta) z, one per row.
    W0, V0 : ndarray, shape (S, N)
        Initial decoder and encoder, i.i.d. N(0, 1) (the authors' initialization).
    D0 : ndarray, shape (S,)
        Initial encoder variances (1).
    W_star : ndarray, shape (N,)
        The signal direction (all ones).
    entropy : int
        The root seed.
    """

    N: int
    rho: float
    eta: float
    alpha: np.ndarray
    seed: np.ndarray
    n: np.ndarray
    X: tuple = field(repr=False)
    W0: np.ndarray = field(repr=False)
    V0: np.ndarray = field(repr=False)
    D0: np.ndarray = field(repr=False)
    W_star: np.ndarray = field(repr=False)
    entropy: int

    @property
    def n_stacks(self) -> int:
        return int(self.alpha.size)

    def covariances(self) -> np.ndarray:
        """The sample covariances (1/n) X^T X, shape (S, N, N)."""
        return np.stack([x.T @ x / x.shape[0] for x in self.X])


def make_datasets(
    N: int,
    alphas,
    *,
    rho: float = 1.0,
    eta: float = 1.0,
    n_seeds: int = 5,
    rng: int | None = 0,
) -> Datasets:
    """Draw a training set of n = round(alpha N) samples and an initialization per (alpha, seed).

    Parameters
    ----------
    N : int
        Input dimension, >= 2.
    alphas : float or sequence of float
        Samples per dimension, > 0 (at least one sample).
    rho, eta : float
        Signal and noise strengths, > 0.
    n_seeds : int
        Seeds per alpha.
    rng : int or None
        Root seed (None: fresh entropy, recorded in the result).

    Returns
    -------
    Datasets
        Stacks ordered alpha-major: (alpha_0, seed 0), (alpha_0, seed 1), ...

    Examples
    --------
    >>> data = make_datasets(10, [0.5, 1.0], n_seeds=2, rng=1)
    >>> data.n.tolist(), data.seed.tolist()
    ([5, 5, 10, 10], [0, 1, 0, 1])
    >>> bool(np.array_equal(data.X[0], data.X[2][:5]))   # nested: same seed, fewer samples
    True
    """
    owner = "make_datasets"
    N = check_int("N", N, owner, low=2)
    rho = check_real("rho", rho, owner, low=0.0)
    eta = check_real("eta", eta, owner, low=0.0)
    n_seeds = check_int("n_seeds", n_seeds, owner)
    alphas = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if alphas.ndim != 1 or np.any(~np.isfinite(alphas)) or np.any(np.round(alphas * N) < 1):
        raise ValueError(
            f"The `alphas` parameter of {owner} must hold finite alpha with alpha N >= 1. "
            f"Got {alphas.tolist()!r} at N = {N}."
        )
    if rng is not None and (
        isinstance(rng, bool) or not isinstance(rng, int | np.integer) or rng < 0
    ):
        raise ValueError(
            f"The `rng` parameter of {owner} must be a non-negative int or None. Got {rng!r}."
        )
    root = np.random.SeedSequence(rng)
    W_star = np.ones(N)
    per_seed = []
    n_max = int(np.round(alphas.max() * N))
    for child in root.spawn(n_seeds):
        data_ss, init_ss = child.spawn(2)
        draws = np.random.default_rng(data_ss).standard_normal((n_max, N + 1))
        x = np.sqrt(rho / N) * draws[:, :1] * W_star + np.sqrt(eta) * draws[:, 1:]
        init = np.random.default_rng(init_ss).standard_normal((2, N))
        per_seed.append((x, init))
    X, W0, V0, alpha, seed, n = [], [], [], [], [], []
    for a in alphas:
        n_a = int(np.round(a * N))
        for j, (x, init) in enumerate(per_seed):
            X.append(x[:n_a])
            W0.append(init[0])
            V0.append(init[1])
            alpha.append(n_a / N)
            seed.append(j)
            n.append(n_a)
    return Datasets(
        N=N,
        rho=rho,
        eta=eta,
        alpha=np.array(alpha),
        seed=np.array(seed),
        n=np.array(n),
        X=tuple(X),
        W0=np.array(W0),
        V0=np.array(V0),
        D0=np.ones(len(alpha)),
        W_star=W_star,
        entropy=int(root.entropy),
    )


# --------------------------------------------------------------------------- trainers
@dataclass(frozen=True, kw_only=True)
class GradientDescent:
    """Full-batch gradient descent on the per-sample loss, to a stationary point.

    Steps ``lr`` times (N dl/dW, N dl/dV, dl/dD) (equivalently lr / alpha on the summed loss
    for W and V), run in the eigenbasis of C.

    Attributes
    ----------
    lr : float or None
        Step; default ``0.5 / (s_max (s_max + beta) + lam' + 2)`` per stack (stable: the
        largest curvature at the minimum is about (Q + beta) s <= s (s + beta)).
    gtol : float
        Stop when every gradient component is below it.
    max_steps : int
    """

    lr: float | None = None
    gtol: float = 1e-10
    max_steps: int = 2_000_000
    name: Literal["gd"] = field(default="gd", init=False)

    def __post_init__(self):
        if self.lr is not None:
            object.__setattr__(self, "lr", check_real("lr", self.lr, "GradientDescent", low=0.0))
        check_real("gtol", self.gtol, "GradientDescent", low=0.0)
        check_int("max_steps", self.max_steps, "GradientDescent")

    def describe(self) -> dict:
        return {"method": "gd", "lr": self.lr, "gtol": self.gtol, "max_steps": self.max_steps}

    def fit(self, data: Datasets, beta: float, lam_eff: np.ndarray, progress):
        S, N = data.n_stacks, data.N
        lam_c = np.empty((S, N))
        U = np.empty((S, N, N))
        for k, x in enumerate(data.X):
            lam_c[k], U[k] = np.linalg.eigh(x.T @ x / x.shape[0])
        lam_c = np.maximum(lam_c, 0.0)  # round-off below 0 in C's null space
        w = np.einsum("sji,sj->si", U, data.W0)
        v = np.einsum("sji,sj->si", U, data.V0)
        ws = np.einsum("sji,j->si", U, data.W_star)
        D = data.D0.copy()
        s_max = lam_c.max(axis=1)
        lr = (
            0.5 / (s_max * (s_max + beta) + lam_eff + 2.0)
            if self.lr is None
            else np.full(S, self.lr)
        )
        steps = np.zeros(S, dtype=np.int64)
        gnorm = np.zeros(S)
        gd_eigenbasis(
            lam_c, w, v, D, ws, beta, lam_eff, lr, self.max_steps, self.gtol, steps, gnorm
        )
        progress(1)
        W = np.einsum("sij,sj->si", U, w)
        V = np.einsum("sij,sj->si", U, v)
        info = {"steps": steps, "max_gradient": gnorm, "converged": gnorm < self.gtol, "lr": lr}
        return W, V, D, np.zeros(S, dtype=np.int64), np.empty((S, 0, N_RECORD)), np.empty(0), info


@dataclass(frozen=True, kw_only=True)
class Adam:
    """Full-batch Adam on the summed loss: the authors' protocol (lr 1e-3, 15,000 epochs).

    Attributes
    ----------
    lr : float
    epochs : int
    b1, b2, eps : float
        torch's defaults.
    record_every : int
        Epochs between two records of the order parameters.
    chunk : int
        Epochs per call of the compiled kernel (progress and Ctrl-C between calls).
    """

    lr: float = 1e-3
    epochs: int = 15_000
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    record_every: int = 100
    chunk: int = 500
    name: Literal["adam"] = field(default="adam", init=False)

    def __post_init__(self):
        owner = "Adam"
        check_real("lr", self.lr, owner, low=0.0)
        check_int("epochs", self.epochs, owner)
        check_real("b1", self.b1, owner, low=0.0, high=1.0, low_open=False)
        check_real("b2", self.b2, owner, low=0.0, high=1.0, low_open=False)
        check_real("eps", self.eps, owner, low=0.0, low_open=False)
        check_int("record_every", self.record_every, owner)
        check_int("chunk", self.chunk, owner)
        if self.chunk % self.record_every:
            raise ValueError(
                f"The `chunk` parameter of Adam must be a multiple of record_every "
                f"({self.record_every}). Got {self.chunk}."
            )

    def describe(self) -> dict:
        return {
            "method": "adam",
            "lr": self.lr,
            "epochs": self.epochs,
            "b1": self.b1,
            "b2": self.b2,
            "eps": self.eps,
        }

    def fit(self, data: Datasets, beta: float, lam_eff: np.ndarray, progress):
        S, N = data.n_stacks, data.N
        C = data.covariances()
        W, V, D = data.W0.copy(), data.V0.copy(), data.D0.copy()
        moments = np.zeros((S, 4, N))
        moments_D = np.zeros((S, 2))
        status = np.zeros(S, dtype=np.int64)
        n = data.n.astype(np.float64)
        records = [_records(W, V, D, data.W_star)[:, None, :]]
        t = 0
        while t < self.epochs:
            k = min(self.chunk, self.epochs - t)
            rec = np.full((S, k // self.record_every, N_RECORD), np.nan)
            adam_covariance(
                C,
                W,
                V,
                D,
                moments,
                moments_D,
                data.W_star,
                n,
                beta,
                lam_eff,
                self.lr,
                self.b1,
                self.b2,
                self.eps,
                t,
                k,
                self.record_every,
                rec,
                status,
            )
            records.append(rec)
            t += k
            progress(t)
            check_interrupt()
        epochs = np.arange(0, self.epochs + 1, self.record_every)
        history = np.concatenate(records, axis=1)[:, : epochs.size]
        return W, V, D, status, history, epochs, {}


@dataclass(frozen=True, kw_only=True)
class MinibatchSGD:
    """Multi-epoch minibatch SGD on the training set (one epoch, batch 1: one-pass SGD).

    The step is the online simulator's (docs/simulator.md) with the per-sample penalty
    lam / alpha, averaged over the batch; every epoch visits the samples in a fresh random
    order (seeded per stack).

    Attributes
    ----------
    tau : float
        Learning rate of W and V (tau / N for D).
    epochs : int
    batch_size : int
    """

    tau: float = 0.05
    epochs: int = 50
    batch_size: int = 1
    name: Literal["sgd"] = field(default="sgd", init=False)

    def __post_init__(self):
        check_real("tau", self.tau, "MinibatchSGD", low=0.0)
        check_int("epochs", self.epochs, "MinibatchSGD")
        check_int("batch_size", self.batch_size, "MinibatchSGD")

    def describe(self) -> dict:
        return {
            "method": "sgd",
            "tau": self.tau,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
        }

    def fit(self, data: Datasets, beta: float, lam_eff: np.ndarray, progress):
        S = data.n_stacks
        W, V, D = data.W0.copy(), data.V0.copy(), data.D0.copy()
        status = np.zeros(S, dtype=np.int64)
        history = np.empty((S, self.epochs + 1, N_RECORD))
        root = np.random.SeedSequence(data.entropy).spawn(int(data.seed.max()) + 1)
        # Stacks of one training-set size run together (the kernel takes (S, n, N) data).
        for size in np.unique(data.n):
            idx = np.flatnonzero(data.n == size)
            order = np.empty((idx.size, self.epochs, size), dtype=np.int64)
            for row, k in enumerate(idx):
                # Shuffles from the seed's own stream (a third child: data, init, order).
                gen = np.random.default_rng(root[data.seed[k]].spawn(3)[2])
                order[row] = np.argsort(gen.random((self.epochs, size)), axis=1, kind="stable")
            X = np.stack([data.X[k] for k in idx])
            w, v, d = W[idx], V[idx], D[idx]
            rec = np.empty((idx.size, self.epochs + 1, N_RECORD))
            st = np.zeros(idx.size, dtype=np.int64)
            sgd_minibatch(
                X,
                w,
                v,
                d,
                data.W_star,
                order,
                self.batch_size,
                beta,
                lam_eff[idx],
                self.tau,
                rec,
                st,
            )
            W[idx], V[idx], D[idx], history[idx], status[idx] = w, v, d, rec, st
            progress(int(np.sum(data.n <= size)))
            check_interrupt()
        return W, V, D, status, history, np.arange(self.epochs + 1), {}


Trainer = GradientDescent | Adam | MinibatchSGD


# --------------------------------------------------------------------------- result
def _records(W, V, D, W_star):
    """(m, d, Q, E, R, D) per stack, shape (S, 6): bitwise independent of the other stacks."""
    out = np.empty((W.shape[0], N_RECORD))
    record(W, V, D, W_star, out)
    return out


@dataclass(frozen=True, kw_only=True, eq=False)
class OfflineRun:
    """The result of `train_offline`: one entry per (alpha, seed) stack.

    Attributes
    ----------
    N : int
    rho, eta, beta, lam : float
        The problem (``lam`` on the summed loss; per sample ``lam / alpha``).
    method : dict
        The trainer and its settings.
    alpha, seed, n : ndarray, shape (S,)
        The stacks (see `Datasets`).
    m, d, Q, E, R, D : ndarray, shape (S,)
        Final order parameters, with the global sign chosen so that m >= 0.
    eps_g : ndarray, shape (S,)
        ``rho - 2 sqrt(rho) m + Q``.
    rate, distortion, rate_train, distortion_train : ndarray, shape (S,)
        Test and training rate and distortion (conventions of `OfflineSolution`).
    loss : ndarray, shape (S,)
        Per-sample training loss relative to the collapsed solution (the theory's l).
    status : ndarray of int, shape (S,)
        0, or the epoch + 1 at which the stack diverged.
    epochs : ndarray, shape (K,)
        Epochs (Adam, SGD) of the records; empty for GD.
    history : ndarray, shape (S, K, 6)
        m, d, Q, E, R, D at those epochs (raw signs).
    theory : OfflineSolution
        The global minimum for each stack's own sample covariance (fields of shape (S,)).
    info : dict
        Trainer diagnostics (GD: ``steps``, ``max_gradient``, ``converged``, ``lr``).
    wall_time_s : float
    linvae_version : str
    """

    N: int
    rho: float
    eta: float
    beta: float
    lam: float
    method: dict
    alpha: np.ndarray
    seed: np.ndarray
    n: np.ndarray
    m: np.ndarray
    d: np.ndarray
    Q: np.ndarray
    E: np.ndarray
    R: np.ndarray
    D: np.ndarray
    eps_g: np.ndarray
    rate: np.ndarray
    distortion: np.ndarray
    rate_train: np.ndarray
    distortion_train: np.ndarray
    loss: np.ndarray
    status: np.ndarray
    epochs: np.ndarray = field(repr=False)
    history: np.ndarray = field(repr=False)
    theory: OfflineSolution = field(repr=False)
    info: dict = field(repr=False)
    wall_time_s: float
    linvae_version: str = __version__

    OBSERVABLES = (
        "eps_g",
        "m",
        "d",
        "Q",
        "E",
        "R",
        "D",
        "rate",
        "distortion",
        "rate_train",
        "distortion_train",
        "loss",
    )

    def history_eps_g(self) -> np.ndarray:
        """eps_g at the recorded epochs, shape (S, K)."""
        m, Q = self.history[..., 0], self.history[..., 2]
        return generalization_error(np.abs(m)[..., None, None], Q[..., None, None], self.rho)

    def summary(self) -> dict:
        """Mean and standard deviation over seeds of every observable, per alpha.

        Returns
        -------
        dict
            ``{"alpha": [...], "n_seeds": [...], "mean": {name: [...]}, "std": {name: [...]},
            "theory_sample_mean": {name: [...]}}``; ``std`` uses ddof = 1 (0 for one seed);
            ``theory_sample_mean`` averages the finite-N theory of each seed's data.
        """
        alphas = np.unique(self.alpha)
        out = {
            "alpha": alphas.tolist(),
            "n_seeds": [],
            "mean": {},
            "std": {},
            "theory_sample_mean": {},
        }
        groups = [np.flatnonzero(self.alpha == a) for a in alphas]
        out["n_seeds"] = [int(g.size) for g in groups]
        for name in self.OBSERVABLES:
            values = getattr(self, name)
            out["mean"][name] = [float(values[g].mean()) for g in groups]
            out["std"][name] = [float(values[g].std(ddof=1)) if g.size > 1 else 0.0 for g in groups]
            th = np.asarray(getattr(self.theory, name), dtype=np.float64)
            out["theory_sample_mean"][name] = [float(th[g].mean()) for g in groups]
        return out


def train_offline(
    data: Datasets,
    *,
    beta: float = 1.0,
    lam: float = 0.0,
    method: Trainer | None = None,
    progress: bool = False,
) -> OfflineRun:
    """Train every stack of ``data`` on its fixed training set.

    Parameters
    ----------
    data : Datasets
        From `make_datasets`.
    beta : float
        KL weight, > 0.
    lam : float
        L2 penalty (lam / 2)(|W|^2 + |V|^2) of the summed loss, >= 0.
    method : GradientDescent, Adam or MinibatchSGD
        Default `Adam` (the authors' protocol).
    progress : bool or callable
        A progress bar on stderr, or ``progress(done, total)``.

    Returns
    -------
    OfflineRun

    Raises
    ------
    TrainingDiverged
        If a stack's D went non-positive or its weights non-finite (``err.run`` holds all
        stacks).

    Examples
    --------
    >>> data = make_datasets(20, [2.0], n_seeds=2, rng=0)
    >>> run = train_offline(data, beta=1.0, method=GradientDescent())
    >>> bool(np.allclose(run.Q, run.theory.Q, atol=1e-8))   # GD finds the global minimum
    True
    """
    owner = "train_offline"
    if not isinstance(data, Datasets):
        raise TypeError(
            f"The `data` parameter of {owner} must be Datasets (make_datasets). "
            f"Got {type(data).__name__}."
        )
    beta = check_real(
        "beta",
        beta,
        owner,
        low=0.0,
        fix="At beta = 0 the encoder variance D = beta / (Q + beta) vanishes.",
    )
    lam = check_real("lam", lam, owner, low=0.0, low_open=False)
    method = Adam() if method is None else method
    if not isinstance(method, GradientDescent | Adam | MinibatchSGD):
        raise TypeError(
            f"The `method` parameter of {owner} must be GradientDescent, Adam or MinibatchSGD. "
            f"Got {type(method).__name__}."
        )
    start = time.perf_counter()
    lam_eff = lam / data.alpha
    total = {"gd": 1, "adam": getattr(method, "epochs", 1), "sgd": data.n_stacks}[method.name]
    report = make_progress(progress, total, f"offline {method.name}")
    try:
        W, V, D, status, history, epochs, info = method.fit(data, beta, lam_eff, report)
    finally:
        report.close()
    rec = _records(W, V, D, data.W_star)
    sign = np.where(rec[:, 0] < 0, -1.0, 1.0)
    m, d, Q, E, R = sign * rec[:, 0], sign * rec[:, 1], rec[:, 2], rec[:, 3], rec[:, 4]
    N, rho, eta = data.N, data.rho, data.eta
    moments = np.array([sample_moments(x, w, v) for x, w, v in zip(data.X, W, V, strict=True)])
    eC, rC = moments[:, 0] / (data.n * N), moments[:, 1] / (data.n * N)
    # The observables of linvae.observables with M = M_star = 1: (S,) -> (S, 1, 1) matrices.
    mm, dd, QQ, EE, RR = (x[:, None, None] for x in (m, d, Q, E, R))
    DD, eCC, rCC = D[:, None], eC[:, None, None], rC[:, None, None]
    mu2, cross = encoder_moments(mm, dd, EE, RR, rho=rho, eta=eta)
    with np.errstate(invalid="ignore", divide="ignore"):  # a diverged stack: NaN, reported
        kl = D - np.log(D) - 1.0
        observed = {
            "rate": rate(mu2, DD),
            "distortion": distortion(cross, QQ, mu2, DD, rho=rho, eta=eta),
            "rate_train": rate(eCC, DD),
            "distortion_train": distortion(rCC, QQ, eCC, DD, rho=rho, eta=eta),
        }
    loss = -rC + 0.5 * (Q + beta) * eC + 0.5 * Q * D + 0.5 * beta * kl + 0.5 * lam_eff * (Q + E)
    theory = _stack_theory(data, beta, lam)
    run = OfflineRun(
        N=N,
        rho=rho,
        eta=eta,
        beta=beta,
        lam=lam,
        method=method.describe(),
        alpha=data.alpha,
        seed=data.seed,
        n=data.n,
        m=m,
        d=d,
        Q=Q,
        E=E,
        R=R,
        D=D,
        eps_g=generalization_error(mm, QQ, rho),
        **observed,
        loss=loss,
        status=status,
        epochs=epochs,
        history=history,
        theory=theory,
        info=info,
        wall_time_s=time.perf_counter() - start,
    )
    if np.any(status):
        bad = np.flatnonzero(status)
        raise TrainingDiverged(
            f"Offline training diverged in {bad.size} of {status.size} stacks (first: alpha = "
            f"{data.alpha[bad[0]]:g}, seed {data.seed[bad[0]]}, epoch {status[bad[0]]}): D <= 0 "
            "or non-finite weights. Lower the learning rate.",
            run,
        )
    return run


def _stack_theory(data: Datasets, beta: float, lam: float) -> OfflineSolution:
    """The finite-N global minimum of every stack, as one OfflineSolution with (S,) fields."""
    sols = [
        solve_sample(x, data.W_star, rho=data.rho, eta=data.eta, beta=beta, lam=lam) for x in data.X
    ]
    fields_ = {name: np.array([getattr(s, name) for s in sols]) for name in sols[0].as_dict()}
    fields_["rho"], fields_["eta"] = data.rho, data.eta
    return OfflineSolution(**fields_)
