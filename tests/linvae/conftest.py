import numpy as np
import pytest

from linvae import Model


@pytest.fixture
def authors_model():
    """The authors' setting: rho = eta = beta = 1, lam = 0, tau = 0.01."""
    return Model(rho=1.0, eta=1.0, beta=1.0, lam=0.0, tau=0.01)


def _block_cubic_roots(nu, beta, lam):
    """Real roots u > beta of the one-latent block's cubic
    u (nu^2 lam + nu^3 beta) = (beta + lam u)(nu u + lam)^2, increasing, from numpy's
    polynomial roots (independent of the package); q = u - beta is the latent's Q."""
    coeffs = [
        lam * nu**2,
        beta * nu**2 + 2 * nu * lam**2,
        2 * beta * nu * lam + lam**3 - nu**2 * lam - nu**3 * beta,
        beta * lam**2,
    ]
    r = np.roots(coeffs)
    return np.sort(r.real[(np.abs(r.imag) < 1e-10) & (r.real > beta)])


@pytest.fixture
def block_cubic_roots():
    """`_block_cubic_roots(nu, beta, lam)`: the block cubic's roots u > beta, increasing."""
    return _block_cubic_roots
