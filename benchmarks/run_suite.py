"""Run the benchmark suite and its accuracy checks; write JSON and one figure.

Usage (from the repository root, after ``pip install -e ".[dev]"``)::

    python benchmarks/run_suite.py --out bench-results            # everything
    python benchmarks/run_suite.py --out r --files test_bench_simulate.py test_bench_ode.py

Writes ``OUT/benchmarks.json`` (pytest-benchmark's machine-readable output: every timing with
its parameters and ``extra_info``), ``OUT/accuracy.xml`` (JUnit XML of the accuracy tests),
``OUT/suite.json`` (machine description, a summary row per benchmark, accuracy verdicts) and
``OUT/suite.png``: SGD ns per (step x N) vs N with numpy's RNG floor; ODE solve time;
phase-diagram time; ID/II time vs points and vs width. Each panel names the accuracy check its
timings rely on and whether it passed in this run. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"

# Panel -> (benchmark files feeding it, accuracy tests it relies on).
ACCURACY = {
    "sgd": ["tests/linvae/sgd/test_kernel.py", "tests/linvae/sgd/test_rng.py"],
    "ode": [
        "tests/linvae/theory/test_theory_solve.py",
        "tests/linvae/theory/test_theory_derive.py",
        "tests/linvae/theory/test_theory_integrate.py",
    ],
    "phase": [
        "tests/linvae/analysis/test_analysis_phase.py",
        "tests/linvae/analysis/test_analysis_fixed_points.py",
    ],
    "estimators": ["tests/conv_study/estimators/test_estimators.py"],
}


def _run(cmd: list[str]) -> int:
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT, check=False).returncode


def run_accuracy(out: Path) -> dict[str, dict]:
    """Run the accuracy tests once; verdict per panel from the JUnit XML."""
    files = sorted({f for fs in ACCURACY.values() for f in fs if (ROOT / f).exists()})
    xml = out / "accuracy.xml"
    if files:
        _run(
            [sys.executable, "-m", "pytest", *files, "-q", "-m", "not slow", "-p",
             "no:cacheprovider", f"--junitxml={xml}"]
        )  # fmt: skip
    per_file: dict[str, dict[str, int]] = defaultdict(lambda: {"passed": 0, "failed": 0})
    if xml.exists():
        for case in ET.parse(xml).getroot().iter("testcase"):
            path = case.get("file") or case.get("classname", "").replace(".", "/") + ".py"
            bad = any(child.tag in ("failure", "error") for child in case)
            skipped = any(child.tag == "skipped" for child in case)
            if not skipped:
                per_file[path]["failed" if bad else "passed"] += 1
    verdicts = {}
    for panel, paths in ACCURACY.items():
        passed = sum(per_file[p]["passed"] for p in paths if p in per_file)
        failed = sum(per_file[p]["failed"] for p in paths if p in per_file)
        present = [p for p in paths if (ROOT / p).exists()]
        verdicts[panel] = {"files": present, "passed": passed, "failed": failed}
    return verdicts


def run_benchmarks(out: Path, files: list[str], extra: list[str]) -> Path:
    """pytest-benchmark over the chosen files, JSON into ``out``."""
    json_path = out / "benchmarks.json"
    targets = [str(BENCH / f) for f in files]
    _run(
        [sys.executable, "-m", "pytest", *targets, "--benchmark-only", "-q", "-p",
         "no:cacheprovider", f"--benchmark-json={json_path}", "-o", "addopts=", *extra]
    )  # fmt: skip
    return json_path


def _rows(json_path: Path) -> list[dict]:
    if not json_path.exists():
        return []
    data = json.loads(json_path.read_text())
    rows = []
    for b in data.get("benchmarks", []):
        rows.append(
            {
                "file": Path(b["fullname"].split("::")[0]).name,
                "name": b["name"],
                "group": b["name"].split("[")[0],
                "params": b.get("params") or {},
                "min_s": b["stats"]["min"],
                "median_s": b["stats"]["median"],
                "extra_info": b.get("extra_info", {}),
            }
        )
    return rows


def _verdict_text(verdict: dict) -> str:
    if not verdict["files"]:
        return "accuracy: no check found in this checkout"
    state = "PASS" if verdict["failed"] == 0 and verdict["passed"] > 0 else "FAIL"
    if verdict["passed"] + verdict["failed"] == 0:
        state = "not run"
    names = ", ".join(Path(f).name for f in verdict["files"])
    return f"accuracy ({names}): {state}, {verdict['passed']} passed, {verdict['failed']} failed"


def _generic_panel(ax, rows: list[dict], title: str) -> None:
    """Time vs the first numeric parameter (one line per other setting), or bars."""
    if not rows:
        ax.text(0.5, 0.5, "no benchmark results", ha="center", va="center")
        ax.set_title(title)
        return
    numeric = [
        k
        for k in rows[0]["params"]
        if all(isinstance(r["params"].get(k), int | float) for r in rows)
    ]
    if numeric:
        x_key = numeric[0]
        lines = defaultdict(list)
        for r in rows:
            label = r["group"] + "".join(f" {k}={v}" for k, v in r["params"].items() if k != x_key)
            lines[label].append((r["params"][x_key], r["median_s"]))
        for label, pts in lines.items():
            pts.sort()
            ax.plot(*zip(*pts, strict=True), "o-", label=label)
        ax.set_xlabel(x_key)
        ax.set_yscale("log")
        ax.legend(fontsize="x-small", frameon=False)
    else:
        ax.barh([r["name"] for r in rows], [r["median_s"] for r in rows])
        ax.set_xscale("log")
        ax.tick_params(axis="y", labelsize="x-small")
    ax.set_title(title)
    ax.set_ylabel("median time [s]") if numeric else ax.set_xlabel("median time [s]")


def _ode_panel(ax, rows: list[dict]) -> None:
    """Seconds per trajectory against M: one compiled solve, the batch, the scalar reference."""
    ax.set_title("ODE: seconds per trajectory")
    single = sorted((r["params"]["M"], r["median_s"]) for r in rows
                    if r["group"] == "test_solve_time_vs_M")  # fmt: skip
    if single:
        ax.plot(*zip(*single, strict=True), "o-", label="compiled DOP853, t to 3000")
    ref = [r["extra_info"] for r in rows if r["group"] == "test_compiled_vs_scalar_reference"]
    if ref:
        info = ref[0]
        ax.axhline(
            info["scalar_lsoda_s"],
            color="k",
            ls="--",
            label=f"reference: scalar numpy + LSODA, M=1 ({info['ratio']:.0f}x slower)",
        )
        ax.plot([1], [info["compiled_s"]], "k*", ms=10, label="compiled, same run as reference")
    batch = [r["extra_info"] for r in rows if r["group"] == "test_batch_throughput"]
    if batch:
        info = batch[0]
        free = info.get("two_free_cores_trajectories_per_s", info["trajectories_per_s"])
        ax.plot(
            [1],
            [1.0 / info["trajectories_per_s"]],
            "s",
            ms=8,
            label=f"batch, t to 1e4: {info['trajectories_per_s']:.0f}/s "
            f"({free:.0f}/s on 2 free cores)",
        )
        ax.axhline(
            1.0 / info["reference_trajectories_per_s"],
            color="0.5",
            ls=":",
            label="reference, t to 1e4",
        )
    if not (single or ref or batch):
        ax.text(0.5, 0.5, "no benchmark results", ha="center", va="center")
        return
    ax.set_yscale("log")
    ax.set_xlabel("M (M* = 1)")
    ax.set_xticks([1, 2, 3])
    ax.set_ylabel("seconds per trajectory")
    ax.legend(fontsize="x-small", frameon=False)


def make_figure(rows: list[dict], verdicts: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5), constrained_layout=True)
    (a_sgd, a_ode, a_phase), (a_idn, a_idw, a_note) = axes

    sgd = [r for r in rows if r["group"] == "test_sgd_step"]
    floor = [r for r in rows if r["group"] == "test_numpy_normals_floor"]
    for M, style in ((1, "o-"), (4, "s-")):
        pts = sorted(
            {
                (r["params"]["N"], r["extra_info"]["ns_per_step_N"])
                for r in sgd
                if r["params"].get("M") == M and "ns_per_step_N" in r["extra_info"]
            }
        )
        if pts:
            a_sgd.plot(*zip(*pts, strict=True), style, label=f"SGD step, M={M}")
    pts = sorted(
        {
            (r["params"]["N"], r["extra_info"]["ns_per_normal"])
            for r in floor
            if "ns_per_normal" in r["extra_info"]
        }
    )
    if pts:
        a_sgd.plot(*zip(*pts, strict=True), "k--", label="numpy standard_normal(N), per normal")
    a_sgd.set_xscale("log")
    a_sgd.set_yscale("log")
    a_sgd.set_xlabel("N")
    a_sgd.set_ylabel("ns per (step x N)")
    a_sgd.set_title("one-pass SGD vs the RNG floor")
    a_sgd.legend(fontsize="small", frameon=False)

    _ode_panel(a_ode, [r for r in rows if r["file"] == "test_bench_ode.py"])
    _generic_panel(
        a_phase, [r for r in rows if r["file"] == "test_bench_phase.py"], "phase diagram"
    )

    est = [r for r in rows if r["group"] == "test_id_ii_time"]
    for ax, key, fixed_key in ((a_idn, "n_points", "width"), (a_idw, "width", "n_points")):
        by_fixed = defaultdict(list)
        for r in est:
            by_fixed[r["params"][fixed_key]].append((r["params"][key], r["min_s"]))
        for fixed, pts in by_fixed.items():
            if len(pts) > 1:
                label = f"2 IDs + 2 imbalances, {fixed_key}={fixed}"
                ax.plot(*zip(*sorted(pts), strict=True), "o-", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(key)
        ax.xaxis.set_minor_formatter(plt.NullFormatter())  # labelled minor ticks overlap
        ax.set_ylabel("seconds")
        ax.set_title(f"2NN ID + information imbalance vs {key}")
    # The study's per-checkpoint workload (11 layers) against the BLAS floor measured in the
    # same run: scipy's ssyrk alone on the same widths.
    checkpoints = sorted(
        (r for r in rows if "blas_floor_s" in r["extra_info"]),
        key=lambda r: r["extra_info"]["n_points"],
    )
    if checkpoints:
        info = checkpoints[-1]["extra_info"]
        n = [r["extra_info"]["n_points"] for r in checkpoints]
        a_idn.plot(
            n,
            [r["min_s"] for r in checkpoints],
            "*",
            ms=12,
            label=f"checkpoint: {len(info['widths'])} IDs + {info['n_imbalances']} imbalances",
        )
        floor = [r["extra_info"]["blas_floor_s"] for r in checkpoints]
        a_idn.plot(n, floor, "k_", ms=16, mew=2, label="BLAS floor: ssyrk of its Gram matrices")
    for ax in (a_idn, a_idw):
        ax.legend(fontsize="small", frameon=False)

    a_note.axis("off")
    lines = [
        f"{platform.node()}: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "",
        "SGD panel: " + _verdict_text(verdicts["sgd"]),
        "ODE panel: " + _verdict_text(verdicts["ode"]),
        "phase panel: " + _verdict_text(verdicts["phase"]),
        "ID/II panels: " + _verdict_text(verdicts["estimators"]),
    ]
    errors = [r["extra_info"].get("max_id_error") for r in est if "max_id_error" in r["extra_info"]]
    if errors:
        lines.append(f"  + per timing: |ID - float64 brute force| <= {max(errors):.1e}")
    for r in checkpoints:
        info = r["extra_info"]
        lines.append(
            f"  checkpoint N={info['n_points']}: {r['min_s']:.1f} s, BLAS floor "
            f"{info['blas_floor_s']:.1f} s (ratio {r['min_s'] / info['blas_floor_s']:.2f})"
        )
    a_note.text(0, 1, "\n".join(lines), va="top", fontsize="small", wrap=True)
    fig.savefig(path, dpi=150)


def machine() -> dict:
    import numba
    import numpy

    return {
        "node": platform.node(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument(
        "--files",
        nargs="+",
        help="benchmark files under benchmarks/ (default: every test_bench_*.py)",
    )
    parser.add_argument("--skip-accuracy", action="store_true", help="timings only")
    parser.add_argument(
        "--figure-only", action="store_true", help="redraw from OUT/benchmarks.json"
    )
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    files = args.files or sorted(p.name for p in BENCH.glob("test_bench_*.py"))
    summary_path = out / "suite.json"
    if args.figure_only:
        verdicts = json.loads(summary_path.read_text())["accuracy"]
    else:
        verdicts = (
            {k: {"files": [], "passed": 0, "failed": 0} for k in ACCURACY}
            if args.skip_accuracy
            else run_accuracy(out)
        )
        run_benchmarks(out, files, args.pytest_args)
    rows = _rows(out / "benchmarks.json")
    summary = {"machine": machine(), "files": files, "accuracy": verdicts, "benchmarks": rows}
    summary_path.write_text(json.dumps(summary, indent=1, default=str))
    make_figure(rows, verdicts, out / "suite.png")
    print(f"wrote {summary_path}, {out / 'benchmarks.json'}, {out / 'suite.png'}")
    failed = any(v["failed"] for v in verdicts.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
