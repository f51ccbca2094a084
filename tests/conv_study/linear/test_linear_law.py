"""Tests of conv_study.linear.law: the Gaussian law of a linear VAE's representations."""

from __future__ import annotations

import numpy as np
import pytest

from conv_study.linear import (
    LAW_REPRESENTATIONS,
    encode_decode,
    held_out_sample,
    representation_law,
    seed_sequence,
)
from linvae import Model, order_parameters


def _weights(N, M, M_star, seed):
    """Weights with an O(1) signal overlap and a random part, and a teacher (T = I)."""
    gen = np.random.default_rng(seed)
    W_star = np.linalg.qr(gen.standard_normal((N, M_star)))[0] * np.sqrt(N)
    W = 0.8 * W_star @ gen.standard_normal((M_star, M)) + 0.5 * gen.standard_normal((N, M))
    V = 0.6 * W_star @ gen.standard_normal((M_star, M)) + 0.4 * gen.standard_normal((N, M))
    D = gen.uniform(0.2, 1.0, M)
    return W, V, D, W_star


def _check_covariance(samples, cov, n):
    """Sample covariance against ``cov`` entry by entry.

    An entry of the sample covariance of n Gaussian points has standard deviation
    sqrt((S_aa S_bb + S_ab^2) / n); 6 of them bound a deviation for any seed (probability
    below 1e-8 per entry, a few dozen entries).
    """
    emp = np.cov(samples, rowvar=False)
    sd = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
    assert np.all(np.abs(emp - cov) <= 6 * sd + 1e-12), np.max(np.abs(emp - cov) / (sd + 1e-300))


@pytest.mark.parametrize(("M", "M_star"), [(1, 1), (3, 2)])
def test_law_covariance_is_that_of_the_representations(M, M_star):
    """c, mu, z computed from weights have the covariance the order parameters predict."""
    N, n = 300, 20_000
    W, V, D, W_star = _weights(N, M, M_star, seed=M)
    model = Model(M=M, M_star=M_star, rho=tuple(np.linspace(1.0, 2.0, M_star)), eta=0.7)
    c, x = held_out_sample(model, W_star, n, rng=1)
    reps = encode_decode(W, V, D, x, rng=2)
    law = representation_law(order_parameters(W, V, D, W_star), model)
    cov = law.covariance()
    k = M_star + 2 * M
    _check_covariance(np.hstack([c, reps["mu"], reps["z"]]), cov[:k, :k], n)
    # The reconstruction's distances are those of z under the metric Q (exact, round-off).
    i, j = np.arange(50), np.arange(50, 100)
    dz = reps["z"][i] - reps["z"][j]
    lhs = ((reps["reconstruction"][i] - reps["reconstruction"][j]) ** 2).sum(1)
    np.testing.assert_allclose(lhs, np.einsum("pa,ab,pb->p", dz, law.Q, dz), rtol=1e-10)


def test_law_samples_have_its_covariance():
    W, V, D, W_star = _weights(200, 2, 1, seed=5)
    model = Model(M=2, rho=1.5, eta=1.0)
    law = representation_law(order_parameters(W, V, D, W_star), model)
    n = 20_000
    s = law.sample(n, rng=3)
    assert tuple(s) == LAW_REPRESENTATIONS
    _check_covariance(np.hstack([s[k] for k in LAW_REPRESENTATIONS]), law.covariance(), n)


def test_representation_law_rejects_weights_of_another_model():
    with pytest.raises(ValueError, match=r"`op\.d` parameter of representation_law"):
        representation_law(order_parameters(*_weights(50, 2, 1, seed=0)), Model())


def test_seed_sequence_reads_every_kind_of_rng():
    """An int (or None) is the entropy; a SeedSequence gives a child of its state and a
    Generator two draws of its stream, so equal inputs give equal streams (bitwise) and the
    Generator moves on."""
    assert seed_sequence(5).entropy == 5
    assert seed_sequence(None).entropy is not None
    parent = np.random.SeedSequence(9)
    child = seed_sequence(parent)
    np.testing.assert_array_equal(child.entropy, parent.generate_state(4))
    assert (
        child.generate_state(2).tolist()
        == seed_sequence(np.random.SeedSequence(9)).generate_state(2).tolist()
    )
    gen = np.random.default_rng(1)
    first, second = seed_sequence(gen), seed_sequence(gen)
    np.testing.assert_array_equal(
        first.entropy, np.random.default_rng(1).integers(0, 2**63, size=2)
    )
    assert first.generate_state(2).tolist() != second.generate_state(2).tolist()
