"""Start-up cost: importing the packages and starting the command-line programs.

Each figure is a whole fresh interpreter (``python -c ...``), as a user's script or shell pays
it. The package faces are lazy (scientific-Python SPEC-1), so ``import linvae`` and the
``--help`` of both programs load none of numba, sympy, matplotlib, torch or dask; the check
sits next to the timing. Before the lazy faces, on the project's 2-core machine, each of the
three took about 1 s (numba and the simulator were imported just to parse arguments).

Run with ``pytest benchmarks/test_bench_startup.py --benchmark-only``.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("numba", "sympy", "matplotlib", "torch", "dask")

STARTS = {
    "import linvae": "import linvae",
    "import conv_study": "import conv_study",
    "linvae --help": "from linvae.cli import build_parser; build_parser().format_help()",
    "conv-study --help": "from conv_study.cli import build_parser; build_parser().format_help()",
}


def _start(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; return the heavy modules it loaded."""
    probe = f"{code}\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout
    return [m for m in out.strip().split(",") if m]


@pytest.mark.parametrize("name", list(STARTS))
def test_startup(benchmark, name):
    loaded = benchmark.pedantic(_start, args=(STARTS[name],), rounds=5, iterations=1)
    assert loaded == [], f"{name} loaded {loaded}"
