"""A fixed point of the order-parameter ODEs as a value, and its linear stability.

What each latent does at a fixed point (`LatentRole`, `Branch`), the point itself with its
eigenvalues and label (`FixedPoint`), and the pieces that read the label: the Jacobian in the
independent coordinates (`independent_coordinates`, `reduced_jacobian`), its sorted eigenvalues
and `classify_stability`. `linvae.analysis.stability.fixed_points` finds the points, and
`linvae.analysis.closed_form` gives their tau -> 0 closed forms; all the names here are also
importable from `linvae.analysis.stability`. The mathematics is on the results page
(docs/results.md, section "Fixed points and their stability").

Symbols
-------
m, d     (M x M_star) decoder- and encoder-signal overlaps; Q, E, R (M x M); D (M)
J        Jacobian of the drift in the independent coordinates (Q, E upper triangles)
tau      learning rate; ``sgd_noise=False`` drops the O(tau^2) terms (the tau -> 0 limit)

Stability is read from the eigenvalues of J in the *independent* coordinates: the flat state
holds both Q[i, j] and Q[j, i] (and E), and their antisymmetric combination is a spurious zero
mode of the flat Jacobian, which `reduced_jacobian` removes.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass, field

import numpy as np

from linvae.observables import OrderParameters, pack_state
from linvae.params import Model

__all__ = [
    "Branch",
    "FixedPoint",
    "LatentRole",
    "Stability",
    "classify_stability",
    "eigenvalue_tolerance",
    "independent_coordinates",
    "reduced_jacobian",
    "sorted_eigenvalues",
]


class LatentRole(enum.Enum):
    """What one latent does at a fixed point."""

    LEARNED = "learned"
    NOISE = "noise"
    COLLAPSED = "collapsed"


class Branch(enum.Enum):
    """Which nonzero fixed point of one latent along its direction (the larger or smaller q).

    For lam = 0 there is one (upper); for lam > 0 a second, lower one can sit between it and
    collapse: the saddle whose stable manifold separates the two basins.
    """

    UPPER = "upper"
    LOWER = "lower"


class Stability(enum.Enum):
    """Linear stability of a fixed point from the real parts of its Jacobian's eigenvalues."""

    STABLE = "stable"  # all < 0
    SADDLE = "saddle"  # some > 0, some < 0
    UNSTABLE = "unstable"  # some > 0, none < 0
    MARGINAL = "marginal"  # none > 0, some = 0 (within the tolerance)


@dataclass(frozen=True, kw_only=True)
class FixedPoint:
    """One fixed point of the order-parameter ODEs, with its linear stability.

    Attributes
    ----------
    model : Model
        The model; its schedule's final value is the beta used.
    beta : float
        The KL weight at which the point is a fixed point.
    roles : tuple of LatentRole, length M
        What each latent does (`LatentRole`; docs/results.md).
    factors : tuple of (int or None), length M
        The factor each learned latent carries (None for noise and collapsed latents).
    sgd_noise : bool
        Whether the O(tau^2) terms were kept (finite tau) or dropped (the tau -> 0 limit).
    state : OrderParameters
        m, d (M, M_star); Q, E, R (M, M); D (M).
    y : ndarray, shape (state_size(M, M_star),)
        The same state, flat (`linvae.observables.pack_state`).
    closed_form : OrderParameters
        The tau -> 0 closed form (the root solve's start when ``sgd_noise`` is True).
    eps_g : float
        Generalization error at the point (`linvae.generalization_error`).
    eigenvalues : ndarray of complex, shape (n_independent,)
        Eigenvalues of the Jacobian in the independent coordinates, decreasing real part.
    stability : Stability
        Label from the eigenvalues' real parts, with ``eigenvalue_tol``.
    eigenvalue_tol : float
        Real parts with absolute value at most this count as zero.
    residual : float
        max |dy/dt| at ``y`` (0 for the exact closed forms up to round-off).
    success : bool
        Whether the root solve converged (True for closed forms).
    message : str
        The root solver's message, or "closed form".
    nfev : int
        Right-hand-side evaluations of the root solve (0 for the certified enumeration).
    branches : tuple of (Branch or None), length M
        For each learned or noise latent, which of its direction's nonzero points it sits on:
        UPPER (the learned point itself) or LOWER (the saddle between it and collapse, lam > 0);
        None for collapsed latents.
    """

    model: Model
    beta: float
    roles: tuple[LatentRole, ...]
    factors: tuple[int | None, ...]
    sgd_noise: bool
    state: OrderParameters
    y: np.ndarray = field(repr=False)
    closed_form: OrderParameters = field(repr=False)
    eps_g: float
    eigenvalues: np.ndarray = field(repr=False)
    stability: Stability
    eigenvalue_tol: float
    residual: float
    success: bool
    message: str
    nfev: int
    branches: tuple[Branch | None, ...] = ()

    @property
    def name(self) -> str:
        """The roles joined by "+", e.g. "learned", "collapsed", "learned+noise"; a latent on the
        lower branch (the saddle between its learned point and collapse) reads "learned(lower)".
        """
        branches = self.branches or (None,) * len(self.roles)
        return "+".join(
            role.value + ("(lower)" if branch is Branch.LOWER else "")
            for role, branch in zip(self.roles, branches, strict=True)
        )

    @property
    def top_eigenvalue(self) -> float:
        """The largest real part of the eigenvalues (J_max at the learned point)."""
        return float(self.eigenvalues[0].real)

    def images(self) -> np.ndarray:
        """The point's flat state under every latent permutation and sign flip (W, V -> -W, -V
        column-wise), shape (2^M M!, n): the same physical solution, other order parameters."""
        M = self.model.M
        op = self.state
        out = []
        for perm in itertools.permutations(range(M)):
            Pm = np.eye(M)[list(perm)]
            for signs in itertools.product((1.0, -1.0), repeat=M):
                S = np.diag(signs) @ Pm
                image = OrderParameters(
                    m=S @ op.m,
                    d=S @ op.d,
                    Q=S @ op.Q @ S.T,
                    E=S @ op.E @ S.T,
                    R=S @ op.R @ S.T,
                    D=Pm @ op.D,
                )
                out.append(pack_state(image))
        return np.unique(np.round(np.stack(out), 15), axis=0) if M > 1 else np.stack(out)

    def distance(self, y: np.ndarray) -> np.ndarray:
        """Euclidean distance of flat state(s) ``y`` (..., n) to the nearest of `images`.

        Examples
        --------
        >>> from linvae import Model
        >>> from linvae.analysis.stability import fixed_points
        >>> (point, _) = fixed_points(Model(beta=1.0), sgd_noise=False)
        >>> float(point.distance(-point.y * np.array([1, 1, -1, -1, -1, -1])))
        0.0
        """
        y = np.asarray(y, dtype=np.float64)
        diff = y[..., None, :] - self.images()
        return np.min(np.linalg.norm(diff, axis=-1), axis=-1)

    def as_dict(self) -> dict:
        """JSON-able summary: name, roles, state, eps_g, eigenvalues, label, residual."""
        return {
            "name": self.name,
            "roles": [r.value for r in self.roles],
            "branches": [None if b is None else b.value for b in self.branches],
            "factors": list(self.factors),
            "beta": self.beta,
            "sgd_noise": self.sgd_noise,
            "state": {k: np.asarray(v).tolist() for k, v in self.state.as_dict().items()},
            "eps_g": self.eps_g,
            "eigenvalues_real": [float(v.real) for v in self.eigenvalues],
            "eigenvalues_imag": [float(v.imag) for v in self.eigenvalues],
            "top_eigenvalue": self.top_eigenvalue,
            "stability": self.stability.value,
            "residual": self.residual,
            "success": self.success,
        }


# --------------------------------------------------------------------------- coordinates
def independent_coordinates(M: int, M_star: int) -> tuple[np.ndarray, np.ndarray]:
    """The independent flat coordinates (Q, E upper triangles) and the map back to the flat state.

    Parameters
    ----------
    M, M_star : int

    Returns
    -------
    keep : ndarray of int, shape (n_z,)
        Positions of the independent coordinates in the flat state: ``z = y[keep]``.
    P : ndarray, shape (n, n_z)
        ``y = P z`` duplicates the off-diagonal entries of Q and E.

    Examples
    --------
    >>> keep, P = independent_coordinates(2, 1)
    >>> keep.size, P.shape
    (16, (18, 16))
    """
    n1, n2 = M * M_star, M * M
    keep, columns = [], []
    n = 2 * n1 + 3 * n2 + M
    for k in range(n):
        in_sym = 2 * n1 <= k < 2 * n1 + 2 * n2
        if in_sym:
            i, j = divmod((k - 2 * n1) % n2, M)
            if i > j:
                continue
            block = 2 * n1 + ((k - 2 * n1) // n2) * n2
            col = np.zeros(n)
            col[k] = 1.0
            col[block + j * M + i] = 1.0
        else:
            col = np.zeros(n)
            col[k] = 1.0
        keep.append(k)
        columns.append(col)
    return np.array(keep), np.stack(columns, axis=1)


def reduced_jacobian(J: np.ndarray, M: int, M_star: int) -> np.ndarray:
    """The Jacobian in the independent coordinates (Q, E upper triangles), batched.

    ``J_z = J[keep] @ P``, where ``y = P z`` duplicates the off-diagonal entries of Q and E.

    Parameters
    ----------
    J : ndarray, shape (..., n, n)
        Jacobian(s) of the flat drift, ``n = state_size(M, M_star)``.
    M, M_star : int

    Returns
    -------
    ndarray, shape (..., n_z, n_z)
        ``n_z = 2 M M_star + M (M + 1) + M^2 + M``.
    """
    keep, P = independent_coordinates(M, M_star)
    return J[..., keep, :] @ P


def classify_stability(eigenvalues: np.ndarray, *, tol: float) -> Stability:
    """Stability label from eigenvalues: real parts within ``tol`` of 0 count as zero.

    Examples
    --------
    >>> classify_stability(np.array([-1.0, 1e-14]), tol=1e-10)
    <Stability.MARGINAL: 'marginal'>
    """
    re = np.real(eigenvalues)
    n_pos, n_neg = int(np.sum(re > tol)), int(np.sum(re < -tol))
    if n_pos and n_neg:
        return Stability.SADDLE
    if n_pos:
        return Stability.UNSTABLE
    if n_neg == re.size:
        return Stability.STABLE
    return Stability.MARGINAL


def sorted_eigenvalues(Jz: np.ndarray) -> np.ndarray:
    """Eigenvalues of (a batch of) square matrices, by decreasing real part, shape (..., n).

    Examples
    --------
    >>> sorted_eigenvalues(np.diag([-2.0, 1.0, -0.5])).real.tolist()
    [1.0, -0.5, -2.0]
    """
    ev = np.linalg.eigvals(Jz)
    order = np.argsort(-ev.real, axis=-1, kind="stable")
    return np.take_along_axis(ev, order, axis=-1)


def eigenvalue_tolerance(eigenvalues: np.ndarray, tau: float) -> float:
    """Real parts at most this far from 0 count as zero: ``1e-9 max(max |ev|, tau)``.

    Eigenvalues are O(tau); round-off in eigvals is ~1e-15 of the largest.
    """
    return 1e-9 * max(float(np.max(np.abs(eigenvalues), initial=0.0)), tau)
