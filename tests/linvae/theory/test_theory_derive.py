"""The sympy-derived ODEs against their matrix forms (docs/theory.md, section "The result"),
and their Jacobian."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import sympy as sp

from linvae import Model
from linvae.observables import state_size
from linvae.theory.derive import derive_ode
from linvae.theory.reference import matrix_form_drift
from linvae.theory.rhs import (
    JAC_NAME,
    RHS_NAME,
    compile_ode,
    generate_source,
    parameter_vector,
)

SHAPES = [(1, 1), (2, 1), (2, 2), (3, 2)]


@pytest.fixture(autouse=True, scope="module")
def _private_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("LINVAE_CACHE_DIR", str(tmp_path_factory.mktemp("linvae_cache")))
    yield
    mp.undo()


@functools.cache
def python_functions(M, M_star):
    """The generated source executed as plain Python: the same code numba compiles."""
    namespace = {"np": np}
    exec(generate_source(M, M_star), namespace)
    return namespace[RHS_NAME], namespace[JAC_NAME]


def random_problem(M, M_star, rng, *, lam):
    """A random physical state (Q, E symmetric positive definite; D > 0) and parameters."""
    n = state_size(M, M_star)
    y = rng.normal(size=n)
    offset = 2 * M * M_star
    for k in range(2):  # Q, E
        A = rng.normal(size=(M, M))
        y[offset + k * M * M : offset + (k + 1) * M * M] = (A @ A.T + np.eye(M)).ravel()
    y[-M:] = rng.uniform(0.3, 2.0, size=M)
    rho = rng.uniform(0.5, 2.0, size=M_star)
    B = rng.normal(size=(M_star, M_star))
    T = np.eye(M_star) + 0.2 * (B + B.T)  # a general teacher Gram matrix
    params = dict(rho=rho, T=T, eta=rng.uniform(0.5, 1.5), beta=rng.uniform(0.1, 2.0))
    params.update(lam=lam, tau=rng.uniform(0.01, 0.5))
    return y, params


def packed(M, M_star, params, xi):
    model = Model(
        M=M,
        M_star=M_star,
        rho=tuple(params["rho"]),
        eta=params["eta"],
        beta=params["beta"],
        lam=params["lam"],
        tau=params["tau"],
    )
    return parameter_vector(model, T=params["T"], sgd_noise=bool(xi), beta=params["beta"])


def test_field_moments_are_those_of_the_matrix_forms():
    ode = derive_ode(2, 2)
    M, M_star = 2, 2
    sym = {s.name: s for s in (*ode.state_symbols, *ode.parameter_symbols)}

    def mat(name, rows, cols, symmetric=False):
        return sp.Matrix(
            rows,
            cols,
            lambda i, j: sym[f"{name}_{min(i, j)}_{max(i, j)}" if symmetric else f"{name}_{i}_{j}"],
        )

    m, d = mat("m", M, M_star), mat("d", M, M_star)
    Q, E, R = mat("Q", M, M, True), mat("E", M, M, True), mat("R", M, M)
    T = mat("T", M_star, M_star, True)
    P = sp.diag(*[sym[f"rho_{k}"] for k in range(M_star)])
    eta = sym["eta"]
    expected = {
        "aa": m * P * m.T + eta * Q,
        "mumu": d * P * d.T + eta * E,
        "amu": m * P * d.T + eta * R,
        "munu": d * P * T + eta * d,
        "anu": m * P * T + eta * m,
    }
    for key, value in expected.items():
        assert sp.expand(ode.moments[key] - value) == sp.zeros(*value.shape), key


@pytest.mark.parametrize("xi", [0.0, 1.0], ids=["no-tau2", "tau2"])
@pytest.mark.parametrize("lam", [0.0, 0.3], ids=["lam0", "lam"])
@pytest.mark.parametrize(("M", "M_star"), SHAPES)
def test_derived_drift_equals_matrix_forms(M, M_star, lam, xi):
    rhs, _ = python_functions(M, M_star)
    rng = np.random.default_rng(1000 * M + 10 * M_star + int(10 * lam) + int(xi))
    for _ in range(5):
        y, params = random_problem(M, M_star, rng, lam=lam)
        got = rhs(y, packed(M, M_star, params, xi))
        want = matrix_form_drift(y, M=M, M_star=M_star, xi=xi, **params)
        # Both are exact polynomials evaluated in float64: they differ by round-off only,
        # a few ulps of the largest intermediate term (entries are O(1)-O(100) here).
        scale = 1.0 + np.abs(want).max()
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * scale)


@pytest.mark.parametrize(("M", "M_star"), SHAPES)
def test_derived_jacobian_equals_finite_differences(M, M_star):
    rhs, jac = python_functions(M, M_star)
    rng = np.random.default_rng(7 + M + M_star)
    y, params = random_problem(M, M_star, rng, lam=0.2)
    p = packed(M, M_star, params, 1.0)
    J = jac(y, p)
    h = 1e-6
    fd = np.empty_like(J)
    for k in range(y.size):
        e = np.zeros_like(y)
        e[k] = h
        fd[:, k] = (rhs(y + e, p) - rhs(y - e, p)) / (2 * h)
    # Central differences: truncation O(h^2 |f'''|) ~ 1e-12, round-off O(eps |f| / h) ~ 1e-10
    # for |f| ~ 1; 1e-7 relative to the largest entry leaves a wide margin for both.
    np.testing.assert_allclose(J, fd, rtol=0, atol=1e-7 * (1 + np.abs(J).max()))


@pytest.mark.parametrize(("M", "M_star"), [(1, 1), (2, 1)])
def test_compiled_code_equals_generated_python(M, M_star):
    compiled = compile_ode(M, M_star)
    rhs, jac = python_functions(M, M_star)
    rng = np.random.default_rng(3)
    y, params = random_problem(M, M_star, rng, lam=0.1)
    p = packed(M, M_star, params, 1.0)
    np.testing.assert_allclose(compiled.rhs(y, p), rhs(y, p), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(compiled.jac(y, p), jac(y, p), rtol=1e-14, atol=1e-14)


def test_regenerated_source_matches_the_cached_module():
    compiled = compile_ode(1, 1)
    derive_ode.cache_clear()  # re-derive from scratch
    assert generate_source(1, 1) == compiled.source
    assert compiled.path is not None
    assert compiled.path.read_text().startswith("# Generated by linvae.theory.rhs")
    assert compiled.source_hash in compiled.path.read_text()


def test_tampered_cache_file_is_regenerated():
    compiled = compile_ode(1, 1)
    compile_ode.cache_clear()
    text = compiled.path.read_text()
    compiled.path.write_text(text.replace("out = np.empty(6)", "out = np.zeros(6)", 1))
    again = compile_ode(1, 1)
    assert not again.from_disk_cache
    assert again.source == compiled.source
    assert again.path.read_text() == text


def test_symmetrized_reading_of_Q_and_E():
    """An asymmetric Q is read as its symmetric part."""
    rhs, _ = python_functions(2, 1)
    rng = np.random.default_rng(5)
    y, params = random_problem(2, 1, rng, lam=0.0)
    p = packed(2, 1, params, 1.0)
    skewed = y.copy()
    q01, q10 = 2 * 2 * 1 + 1, 2 * 2 * 1 + 2
    skewed[q01] += 0.1
    skewed[q10] -= 0.1
    np.testing.assert_allclose(rhs(skewed, p), rhs(y, p), rtol=0, atol=1e-14)
