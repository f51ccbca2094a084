"""Initial order parameters for ODE runs that do not start from a simulation.

Symbols
-------
N      input dimension whose random initialization is imitated
m, d   O(N^-1/2) overlaps that decide when the plateau near the collapsed point is left

A random start at size N has m, d = O(N^-1/2); the ODE leaves the plateau near m = d = 0 at
the rate of its unstable direction, so the time to leave it grows like ln(N) / 2 divided by
that rate, and differs from draw to draw. `initial_ensemble` draws many such starts, so
that answers computed from the ODE (e.g. the convergence time) come with their spread over
initializations.
"""

from __future__ import annotations

import numpy as np

from linvae.observables import OrderParameters, order_parameters
from linvae.params import Model
from linvae.utils.validation import check_int

__all__ = ["initial_ensemble", "initial_order_parameters"]


def initial_order_parameters(model: Model, *, N: int = 200, rng=0) -> OrderParameters:
    """Order parameters of the authors' initialization, W, V entries i.i.d. N(0, 1), D = 1.

    ``m = W^T W_star / N ~ N(0, 1/N)`` per entry, ``Q, E ~ I + O(N^-1/2)``, ``R = O(N^-1/2)``,
    computed from one draw of W and V with orthogonal factors (T = I). The ODE started here
    leaves the invariant manifold m = d = 0 the way a simulation at this N does, and distinct
    latents start distinct (which the M > M_star dynamics needs).

    Parameters
    ----------
    model : Model
        Gives M and M_star.
    N : int
        Input dimension to imitate (>= M and M_star).
    rng : int, Generator or None
        Seed of the one draw.

    Returns
    -------
    OrderParameters
        m, d (M, M_star); Q, E, R (M, M); D (M).

    Examples
    --------
    >>> from linvae import Model
    >>> op = initial_order_parameters(Model(M=2), N=200, rng=0)
    >>> op.m.shape, op.Q.shape, float(op.D[0])
    ((2, 1), (2, 2), 1.0)
    """
    N = check_int("N", N, "initial_order_parameters", low=max(model.M, model.M_star))
    return _draw(model, N, np.random.default_rng(rng))


def _draw(model: Model, N: int, gen: np.random.Generator) -> OrderParameters:
    W = gen.standard_normal((N, model.M))
    V = gen.standard_normal((N, model.M))
    W_star = np.zeros((N, model.M_star))
    W_star[np.arange(model.M_star), np.arange(model.M_star)] = np.sqrt(N)
    return order_parameters(W, V, np.ones(model.M), W_star)


def initial_ensemble(model: Model, n_init: int, *, N: int = 200, rng=0) -> OrderParameters:
    """``n_init`` independent draws of `initial_order_parameters` (one generator).

    Parameters
    ----------
    model : Model
        Gives M and M_star.
    n_init : int
        Number of draws (>= 1).
    N : int
        Input dimension to imitate (>= M and M_star).
    rng : int, Generator or None
        Seed of the draws; the same seed gives the same ensemble.

    Returns
    -------
    OrderParameters
        With a leading axis of length ``n_init``: m, d (n_init, M, M_star); Q, E, R
        (n_init, M, M); D (n_init, M).

    Examples
    --------
    >>> from linvae import Model
    >>> ens = initial_ensemble(Model(), 8, N=200, rng=0)
    >>> ens.m.shape, bool(abs(ens.m).mean() < 0.2)
    ((8, 1, 1), True)
    """
    owner = "initial_ensemble"
    n_init = check_int("n_init", n_init, owner, low=1)
    N = check_int("N", N, owner, low=max(model.M, model.M_star))
    gen = np.random.default_rng(rng)
    draws = [_draw(model, N, gen).as_dict() for _ in range(n_init)]
    return OrderParameters(**{name: np.stack([d[name] for d in draws]) for name in draws[0]})
