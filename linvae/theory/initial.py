"""Initial order parameters for ODE runs that do not start from a simulation.

Symbols
-------
N      input dimension whose random initialization is imitated
m, d   O(N^-1/2) overlaps that decide when the plateau near the collapsed point is left
"""

from __future__ import annotations

import numpy as np

from linvae.observables import OrderParameters, order_parameters
from linvae.params import Model
from linvae.utils.validation import check_int

__all__ = ["initial_order_parameters"]


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
    gen = np.random.default_rng(rng)
    W = gen.standard_normal((N, model.M))
    V = gen.standard_normal((N, model.M))
    W_star = np.zeros((N, model.M_star))
    W_star[np.arange(model.M_star), np.arange(model.M_star)] = np.sqrt(N)
    return order_parameters(W, V, np.ones(model.M), W_star)
