"""The representations of a linear VAE and their Gaussian law given the order parameters.

The linear VAE of `linvae` maps an input x to an encoder mean, a sampled latent and a
reconstruction. For a held-out sample this module computes these representations from the
weights (what is measured) and gives their joint law from the order parameters alone (what
theory predicts). The derivation is on the page "Geometry of the linear VAE"
(docs/linear-geometry.md).

Symbols
-------
N, M, M_star   input dimension, latents, true factors
c              true factors of one input, c ~ N(0, I_M_star)
x              input, sqrt(rho/N) W_star c + sqrt(eta) n, n ~ N(0, I_N)
mu             encoder mean V^T x / sqrt(N)
z              sampled latent mu + sqrt(D) xi, xi ~ N(0, I_M)
reconstruction decoder mean W z / sqrt(N); its distances are those of Q^(1/2) z
P              diag(rho_k); d, E, Q, D the order parameters of `linvae.observables`

Given the weights, (c, mu, z) are jointly Gaussian:

    mu = d P^(1/2) c + sqrt(eta) g,   g = V^T n / sqrt(N) ~ N(0, E)   (independent of c)
    z  = mu + diag(D)^(1/2) xi

and ``||W (z_i - z_j)||^2 / N = (z_i - z_j)^T Q (z_i - z_j)``. Both statements are exact at
finite N: the law depends on the weights only through d, E, Q and D.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linvae.observables import OrderParameters
from linvae.params import Model
from linvae.utils.validation import check_array, check_int

__all__ = [
    "LAW_REPRESENTATIONS",
    "REPRESENTATIONS",
    "RepresentationLaw",
    "encode_decode",
    "held_out_sample",
    "representation_law",
    "seed_sequence",
]

#: The measured representations, in the order of the layer profile (c is the ground truth).
REPRESENTATIONS = ("c", "x", "mu", "z", "reconstruction")
#: The representations whose law the order parameters fix (x is N-dimensional data).
LAW_REPRESENTATIONS = ("c", "mu", "z", "reconstruction")


def _psd_sqrt(A: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix.

    Eigenvalues below zero (round-off of a Gram matrix, or of an ODE state) are set to 0.
    """
    w, U = np.linalg.eigh(0.5 * (A + A.T))
    return (U * np.sqrt(np.clip(w, 0.0, None))) @ U.T


@dataclass(frozen=True)
class RepresentationLaw:
    """The joint Gaussian law of (c, mu, z) and the metric of the reconstruction.

    Attributes
    ----------
    d : ndarray, shape (M, M_star)
        Encoder-signal overlap V^T W_star / N.
    E : ndarray, shape (M, M)
        Encoder Gram V^T V / N.
    Q : ndarray, shape (M, M)
        Decoder Gram W^T W / N: the metric of the reconstruction on the latent space.
    D : ndarray, shape (M,)
        Encoder variances.
    rho : ndarray, shape (M_star,)
        Signal strength per factor.
    eta : float
        Noise strength.
    """

    d: np.ndarray
    E: np.ndarray
    Q: np.ndarray
    D: np.ndarray
    rho: np.ndarray
    eta: float

    @property
    def M(self) -> int:
        return self.d.shape[0]

    @property
    def M_star(self) -> int:
        return self.d.shape[1]

    def covariance(self) -> np.ndarray:
        """Joint covariance of ``(c, mu, z, Q^(1/2) z)``, shape (M_star + 3M, M_star + 3M).

        With ``B = d P d^T + eta E`` and ``S = Q^(1/2)``: Cov(c) = I, Cov(mu, c) = d P^(1/2),
        Cov(mu) = B, Cov(z, mu) = B, Cov(z) = B + diag(D), and the last block is S times the
        z block (distances of ``Q^(1/2) z`` are those of the reconstruction).
        """
        Ms, M = self.M_star, self.M
        dp = self.d * np.sqrt(self.rho)[None, :]
        B = dp @ dp.T + self.eta * self.E
        Z = B + np.diag(self.D)
        S = _psd_sqrt(self.Q)
        # Rows of the linear map from (c, mu-noise, xi) would also do; the blocks are explicit.
        blocks = {
            ("c", "c"): np.eye(Ms),
            ("mu", "c"): dp,
            ("mu", "mu"): B,
            ("z", "c"): dp,
            ("z", "mu"): B,
            ("z", "z"): Z,
            ("r", "c"): S @ dp,
            ("r", "mu"): S @ B,
            ("r", "z"): S @ Z,
            ("r", "r"): S @ Z @ S,
        }
        sizes = {"c": Ms, "mu": M, "z": M, "r": M}
        names = list(sizes)
        start = dict(zip(names, np.cumsum([0, *sizes.values()])[:-1], strict=True))
        cov = np.zeros((Ms + 3 * M, Ms + 3 * M))
        for (a, b), block in blocks.items():
            ia, ib = start[a], start[b]
            cov[ia : ia + sizes[a], ib : ib + sizes[b]] = block
            cov[ib : ib + sizes[b], ia : ia + sizes[a]] = block.T
        return cov

    def sample(self, n_points: int, *, rng=None) -> dict[str, np.ndarray]:
        """Draw ``n_points`` joint samples of c, mu, z and ``Q^(1/2) z`` ("reconstruction").

        Parameters
        ----------
        n_points : int
            Sample size.
        rng : int, Generator or None
            Seed.

        Returns
        -------
        dict
            ``{name: array (n_points, width)}`` for the names of `LAW_REPRESENTATIONS`.
        """
        n_points = check_int("n_points", n_points, "RepresentationLaw.sample", low=2)
        gen = np.random.default_rng(rng)
        c = gen.standard_normal((n_points, self.M_star))
        g = gen.standard_normal((n_points, self.M)) @ _psd_sqrt(self.E)
        xi = gen.standard_normal((n_points, self.M))
        mu = (c * np.sqrt(self.rho)) @ self.d.T + np.sqrt(self.eta) * g
        z = mu + np.sqrt(self.D) * xi
        return {"c": c, "mu": mu, "z": z, "reconstruction": z @ _psd_sqrt(self.Q)}


def representation_law(op: OrderParameters, model: Model) -> RepresentationLaw:
    """The law of the representations fixed by the order parameters at one time.

    Parameters
    ----------
    op : OrderParameters
        Shapes (M, M_star) for d, (M, M) for E and Q, (M,) for D (m and R are not needed):
        measured on weights (`linvae.order_parameters`) or read off an ODE solution.
    model : Model
        Gives rho (per factor) and eta.

    Returns
    -------
    RepresentationLaw

    Raises
    ------
    ValueError
        If a shape does not match the model, or some D_k <= 0.

    Examples
    --------
    >>> import numpy as np
    >>> from linvae import Model, OrderParameters
    >>> op = OrderParameters(m=np.ones((1, 1)), d=np.full((1, 1), 0.5), Q=np.ones((1, 1)),
    ...                      E=np.full((1, 1), 0.25), R=np.full((1, 1), 0.5), D=np.full(1, 0.5))
    >>> law = representation_law(op, Model(rho=1.0, eta=1.0))
    >>> law.covariance()[:3, :3]  # c, mu, z: Var(mu) = d^2 rho + eta E = 0.5
    array([[1. , 0.5, 0.5],
           [0.5, 0.5, 0.5],
           [0.5, 0.5, 1. ]])
    """
    owner = "representation_law"
    if not isinstance(model, Model):
        raise ValueError(f"The `model` parameter of {owner} must be a linvae.Model. Got {model!r}.")
    M, Ms = model.M, model.M_star
    fix = "Pass the order parameters at one time (no seed or time axis)."
    d = check_array("op.d", op.d, owner, shape=(M, Ms), fix=fix)
    E = check_array("op.E", op.E, owner, shape=(M, M), fix=fix)
    Q = check_array("op.Q", op.Q, owner, shape=(M, M), fix=fix)
    D = check_array("op.D", op.D, owner, shape=(M,), fix=fix)
    if np.any(D <= 0):
        raise ValueError(f"The `op.D` parameter of {owner} must be > 0. Got {D!r}.")
    return RepresentationLaw(
        d=d, E=0.5 * (E + E.T), Q=0.5 * (Q + Q.T), D=D, rho=model.rho_vector.copy(), eta=model.eta
    )


def held_out_sample(
    model: Model, W_star: np.ndarray, n_points: int, *, rng=None
) -> tuple[np.ndarray, np.ndarray]:
    """A held-out sample from the data model: factors c and inputs x.

    Parameters
    ----------
    model : Model
        Gives M_star, rho and eta.
    W_star : ndarray, shape (N, M_star)
        The true factors of the run.
    n_points : int
        Sample size.
    rng : int, Generator or None
        Seed.

    Returns
    -------
    c : ndarray, shape (n_points, M_star)
    x : ndarray, shape (n_points, N)
        ``x = sqrt(rho/N) W_star c + sqrt(eta) n``.
    """
    owner = "held_out_sample"
    n_points = check_int("n_points", n_points, owner, low=2)
    W_star = check_array("W_star", W_star, owner, shape=(None, model.M_star))
    N = W_star.shape[0]
    gen = np.random.default_rng(rng)
    c = gen.standard_normal((n_points, model.M_star))
    x = (c * np.sqrt(model.rho_vector / N)) @ W_star.T
    x += np.sqrt(model.eta) * gen.standard_normal((n_points, N))
    return c, x


def encode_decode(
    W: np.ndarray, V: np.ndarray, D: np.ndarray, x: np.ndarray, *, rng=None
) -> dict[str, np.ndarray]:
    """Encoder mean, sampled latent and reconstruction of inputs ``x`` by given weights.

    Parameters
    ----------
    W, V : ndarray, shape (N, M)
        Decoder and encoder weights.
    D : ndarray, shape (M,)
        Encoder variances.
    x : ndarray, shape (n_points, N)
        Inputs.
    rng : int, Generator or None
        Seed of the latent noise xi.

    Returns
    -------
    dict
        ``mu`` (n_points, M) = x V / sqrt(N); ``z`` = mu + sqrt(D) xi;
        ``reconstruction`` (n_points, N) = z W^T / sqrt(N), the decoder mean.
    """
    owner = "encode_decode"
    W = check_array("W", W, owner, shape=(None, None))
    N, M = W.shape
    V = check_array("V", V, owner, shape=(N, M))
    D = check_array("D", D, owner, shape=(M,))
    x = check_array("x", x, owner, shape=(None, N))
    gen = np.random.default_rng(rng)
    mu = x @ V / np.sqrt(N)
    z = mu + np.sqrt(D) * gen.standard_normal(mu.shape)
    return {"mu": mu, "z": z, "reconstruction": z @ W.T / np.sqrt(N)}


def seed_sequence(rng) -> np.random.SeedSequence:
    """The `numpy.random.SeedSequence` that a ``rng`` argument of this package stands for.

    An int or None is its entropy; a SeedSequence gives a child of its state (4 words); a
    Generator gives two draws of its stream (so the Generator advances). Spawning from the
    result gives the independent streams of a computation.

    Parameters
    ----------
    rng : int, SeedSequence, Generator or None
        The seed (None: fresh entropy from the operating system).

    Returns
    -------
    numpy.random.SeedSequence

    Examples
    --------
    >>> seed_sequence(3).entropy
    3
    >>> a, b = seed_sequence(0).spawn(2)
    >>> bool(np.random.default_rng(a).random() != np.random.default_rng(b).random())
    True
    """
    if isinstance(rng, np.random.SeedSequence):
        return np.random.SeedSequence(rng.generate_state(4))
    if isinstance(rng, np.random.Generator):
        return np.random.SeedSequence(rng.integers(0, 2**63, size=2))
    return np.random.SeedSequence(rng)
