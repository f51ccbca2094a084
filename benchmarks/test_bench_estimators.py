"""Speed of the estimators on the paper's per-checkpoint workload.

5000 points in the 11 representations of the conv VAE (widths 3072, 16384, 8192, 4096, 1024,
K, 1024, 4096, 8192, 16384, 3072 for CIFAR-10), random float32 data: the 2NN ID of every layer
and every imbalance the study needs (`conv_study.estimators.study_pairs`). DADApy's
full-rank path takes about 160 s of CPU for this on the project's 2-core machine. The floor is
the machine's BLAS: the same run times scipy's ``ssyrk`` alone on the 11 widths (the Gram
products every exact method needs) and records the ratio. Compile time is measured apart (a
small warm-up call), and the accuracy checks sit next to the timing: exact neighbours and
ranks against a float64 brute force on a subset.

Run with ``pytest benchmarks/ --benchmark-only -s``.
"""

from __future__ import annotations

import os
import resource
import time
import tracemalloc

import numpy as np
import pytest

from conv_study.estimators import layer_geometry, study_pairs, twonn_from_mu

WIDTHS_CIFAR = (3072, 16384, 8192, 4096, 1024, 16, 1024, 4096, 8192, 16384, 3072)


def _workload(n_points: int, widths, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n_points, w), dtype=np.float32) for w in widths]


def _gram_floor(reps) -> float:
    """Seconds for the Gram products alone: scipy's ssyrk (one triangle) on every width."""
    from scipy.linalg.blas import ssyrk

    t0 = time.perf_counter()
    for X in reps:
        # X.T is a Fortran-ordered (D, N) view: trans=1 gives X @ X.T without a copy.
        ssyrk(1.0, X.T, trans=1)
    return time.perf_counter() - t0


def _reference_geometry(reps, pairs):
    """Plain-numpy float64 brute force: exact distances, argsort ranks (minimum rank ties;
    continuous data, so no ties between A-neighbours)."""
    n = reps[0].shape[0]
    d2 = []
    for X in reps:
        X = X.astype(np.float64)
        D = np.array([((X - x) ** 2).sum(1) for x in X])  # row by row: bounded memory
        np.fill_diagonal(D, np.inf)
        d2.append(D)
    ids = [twonn_from_mu(np.sqrt(np.sort(D, axis=1)[:, 1] / np.sort(D, axis=1)[:, 0])) for D in d2]
    imb = {}
    for a, b in pairs:
        nn = np.argmin(d2[a], axis=1)
        t = d2[b][np.arange(n), nn]
        imb[(a, b)] = 2.0 * np.mean(1 + (d2[b] < t[:, None]).sum(1)) / n
    return np.array(ids), imb


def _report(label, seconds, peak_traced, geo):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    print(
        f"\n{label}: {seconds:.2f} s, peak traced numpy memory {peak_traced / 2**20:.0f} MiB, "
        f"process max RSS {rss:.0f} MiB; IDs {np.round(geo.id, 1).tolist()}"
    )


@pytest.fixture(scope="module")
def compiled():
    """Compile (or load from cache) the numba kernels once, timed apart."""
    t0 = time.perf_counter()
    layer_geometry(_workload(50, (8, 4, 8)), pairs="all", k=1)
    layer_geometry(_workload(50, (8, 4, 8), seed=1), k=2)
    return time.perf_counter() - t0


@pytest.mark.parametrize(
    ("n_points", "widths"),
    [
        pytest.param(500, (96, 512, 256, 128, 32, 16, 32, 128, 256, 512, 96), id="small"),
        pytest.param(5000, WIDTHS_CIFAR, id="paper-cifar"),
    ],
)
def test_bench_layer_geometry(benchmark, compiled, n_points, widths):
    reps = _workload(n_points, widths)
    pairs = study_pairs(len(reps))

    def run():
        floor = _gram_floor(reps)  # side by side with the workload, same load
        tracemalloc.start()
        t0, c0 = time.perf_counter(), time.process_time()
        geo = layer_geometry(reps, pairs=pairs)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return geo, elapsed, cpu, peak, floor

    geo, elapsed, cpu, peak, floor = benchmark.pedantic(run, rounds=1, iterations=1)
    # On a shared machine the wall time depends on the other jobs; the process CPU time
    # (all threads) is reported too.
    print(f"\nprocess CPU time {cpu:.1f} s over {os.cpu_count()} CPUs, load {os.getloadavg()}")
    print(f"\ncompile/cache-load time {compiled:.2f} s (not included)")
    print(
        f"\nBLAS floor (ssyrk on the {len(reps)} widths) {floor:.2f} s, ratio {elapsed / floor:.2f}"
    )
    _report(f"N={n_points}, {len(reps)} layers, {len(pairs)} imbalances", elapsed, peak, geo)
    assert np.all(np.isfinite(geo.id))
    # Accuracy next to speed: a float64 brute force on the first 300 points.
    sub = [X[:300] for X in reps]
    ref_ids, ref_imb = _reference_geometry(sub, pairs)
    geo_sub = layer_geometry(sub, pairs=pairs)
    max_id_error = float(np.max(np.abs(geo_sub.id - ref_ids) / ref_ids))
    identical = all(geo_sub.imbalance[a, b] == value for (a, b), value in ref_imb.items())
    benchmark.extra_info.update(
        n_points=n_points,
        widths=list(widths),
        n_imbalances=len(pairs),
        seconds=elapsed,
        cpu_seconds=cpu,
        cpu_count=os.cpu_count(),
        load_average=os.getloadavg()[0],
        peak_traced_mib=peak / 2**20,
        max_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        compile_s=compiled,
        blas_floor_s=floor,
        ratio_to_floor=elapsed / floor,
        max_id_error=max_id_error,
        imbalances_identical=identical,
    )
    print(f"accuracy: max relative ID error {max_id_error:.1e}, imbalances identical: {identical}")
    assert max_id_error < 1e-9
    assert identical
