import pytest

from linvae import Model


@pytest.fixture
def authors_model():
    """The authors' setting: rho = eta = beta = 1, lam = 0, tau = 0.01."""
    return Model(rho=1.0, eta=1.0, beta=1.0, lam=0.0, tau=0.01)
