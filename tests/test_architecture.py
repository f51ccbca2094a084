"""The architecture of linvae and conv_study, held in place by tests.

docs/architecture.md says the same in words. The layers, the modules that must not know each
other, the modules only some may import, the absence of cycles and the light modules are
import-linter contracts (``[tool.importlinter]`` in pyproject.toml, checked by
``lint-imports`` and by `test_import_contracts` here). This file keeps what import-linter
cannot express; the tables below are the one place where the crossings from conv_study into
linvae, the moves and the old public names are written down. Change the table when the design
changes, not the assertion.

What is checked here, and how:

* **The contracts hold**: ``lint-imports`` runs on the working tree and keeps every contract.
* **Light imports.** Importing a package face or building a CLI parser loads none of numba,
  sympy, matplotlib, torch, dask. Each case runs in a fresh interpreter and reads
  ``sys.modules`` (the contracts see the static graph; this is what actually loads).
* **The import graph, read with ``ast``.** Every first-party import (at module level and
  inside functions) is resolved to the module that defines the name, following package faces
  (``lazy_loader.attach`` tables and eager ``from x import y`` lines of an ``__init__``). On
  that graph: every import names a module that exists; conv_study imports only the public
  linvae modules of `CONV_STUDY_MAY_IMPORT` (an allowlist, which a forbidden contract cannot
  say); no private (``_name``) name is imported from another module, and a private module
  only from its own package.
* **First-party imports inside functions** are allowed only in the command-line modules
  (`FUNCTION_IMPORTS_ALLOWED_IN`), in a package face's lazy ``__getattr__`` (loading on
  first use is what a face is for) and, elsewhere, only when (1) every module the
  statement imports is *heavy* and (2) a comment says why (on the statement or on the line
  just above it, or above the run of imports it belongs to). "Heavy" is computed from the
  AST, not kept by hand: a module is heavy if it imports numba, sympy, matplotlib, torch or
  dask at module level, or imports a heavy first-party module at module level. A computed set
  cannot go stale when code moves, and the comment keeps the reason next to the code; a
  comment alone would be easy to add to an import that only hides a dependency or a cycle.
* **No package attribute hides a submodule**: for every package, a name of its ``__all__`` (or
  lazy table, or a top-level definition of its ``__init__``) that is also a submodule's name
  must be that submodule, also after the submodule has been imported (checked in a fresh
  interpreter per name, since lazy loading caches whatever was asked first).
* **Every previously documented public name still works**: `OLD_PUBLIC_NAMES` (from the
  API pages, the docs' code and the package ``__all__`` lists before the redesign, commit
  33d76c3) resolved through `MOVED_MODULES` and `MOVED_NAMES`.
* **The docs stand alone**: no docstring, comment or page cites "the spec" or "spec section N";
  no Sphinx role in a docstring.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import io
import re
import subprocess
import sys
import tokenize
import types
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = ("linvae", "conv_study")
HEAVY = ("numba", "sympy", "matplotlib", "torch", "dask")
# ``lint-imports`` of this interpreter's environment (the console script may not be on PATH).
LINT_IMPORTS = "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"

# --------------------------------------------------------------------------------------------
# The design, as data
# --------------------------------------------------------------------------------------------

#: The linvae modules conv_study may import (public ones only). Patterns: an exact module name,
#: or ``"pkg.*"`` for a package, its face and everything under it.
CONV_STUDY_MAY_IMPORT: tuple[str, ...] = (
    "linvae.utils.*",
    # The linear VAE through the study's lens (conv_study.linear, conv_study.cli.linear): the
    # problem, its engines and the model options of the linvae command line.
    "linvae.params",
    "linvae.schedules",
    "linvae.observables",
    "linvae.trajectory",
    "linvae.sgd.simulator",
    "linvae.theory.solve",
    "linvae.analysis.threshold",
    "linvae.cli.options",
    # Its figures write the model's parameters in linvae's symbols.
    "linvae.plot.labels",
)

#: Where a first-party import inside a function needs no reason: the command-line programs
#: import each command's dependencies when that command runs.
FUNCTION_IMPORTS_ALLOWED_IN: tuple[str, ...] = (
    "linvae.cli.*",
    "linvae.__main__",
    "conv_study.cli.*",
    "conv_study.__main__",
)

#: Modules that moved in the redesign: old module -> new module (docs/architecture.md, "Where
#: things moved", shows the same table).
MOVED_MODULES: dict[str, str] = {
    "linvae.simulate": "linvae.sgd.simulator",
    "linvae.plotting": "linvae.plot.trajectory",
    "linvae.analysis.fixed_points": "linvae.analysis.stability",
    "linvae.analysis.initial": "linvae.theory.initial",
    "linvae.analysis.reproduce": "linvae.reproduce",
    "linvae.analysis.plot": "linvae.plot.phase",
    "linvae.theory.plot": "linvae.plot.compare",
    "linvae.sweep_plot": "linvae.plot.sweep",
    "linvae._cli_hub": "linvae.utils.cli",
    "linvae.cli.frame": "linvae.utils.cli",
    "linvae.cli_simulate": "linvae.cli.simulate",
    "linvae.cli_theory": "linvae.cli.theory",
    "linvae.cli_analysis": "linvae.cli.analysis",
    "linvae.cli_sweep": "linvae.cli.sweep",
    "linvae._kernels": "linvae.sgd.kernels",
    "linvae._rng": "linvae.sgd.rng",
    "linvae._reference": "linvae.sgd.reference",
    "linvae._progress": "linvae.utils.progress",
    "linvae._validation": "linvae.utils.validation",
}

#: Single names that left their module: (old module, name) -> new module.
MOVED_NAMES: dict[tuple[str, str], str] = {
    ("linvae.sweep", "FiniteSizeScaling"): "linvae.analysis.finite_size",
    ("linvae.sweep", "finite_size_scaling"): "linvae.analysis.finite_size",
    ("linvae.sweep", "fit_power_law"): "linvae.analysis.finite_size",
    # Helpers no longer offered by the linvae.analysis face (it offers what users call); they
    # stay public in their modules, where the API pages document them.
    ("linvae.analysis", "classify_stability"): "linvae.analysis.stability",
    ("linvae.analysis", "closed_form_state"): "linvae.analysis.stability",
    ("linvae.analysis", "settling_time"): "linvae.analysis.annealing",
    ("linvae.analysis", "decay_exponent"): "linvae.analysis.superfluous",
    # Initial conditions of the ODEs belong to the theory.
    ("linvae.analysis", "initial_order_parameters"): "linvae.theory.initial",
    # The training recipe and the run format left the training loop (both torch-free).
    ("conv_study.train", "TrainConfig"): "conv_study.config",
    ("conv_study.train", "load_run"): "conv_study.runs",
}

#: Every public name documented before the redesign (commit 33d76c3): the ``__all__`` of the
#: package faces and of the modules the API pages rendered (docs/api/*.md, the ``:::`` blocks
#: of docs/results.md and docs/simulator.md), and the names the docs' text and examples use.
#: Dotted names after the module are attributes (``Trajectory.load``).
OLD_PUBLIC_NAMES: dict[str, tuple[str, ...]] = {
    "linvae": (
        "CallableSchedule",
        "Constant",
        "FinalWeights",
        "LinearRamp",
        "Model",
        "OrderParameters",
        "Schedule",
        "SimulationDiverged",
        "SimulationInterrupted",
        "StepSchedule",
        "TanhAnneal",
        "Trajectory",
        "Trajectory.load",
        "__version__",
        "generalization_error",
        "initial_conditions_from",
        "make_teacher",
        "order_parameters",
        "sample_inputs",
        "simulate",
        "solve_ode",
    ),
    "linvae.params": ("Model",),
    "linvae.simulate": (
        "SimulationDiverged",
        "SimulationInterrupted",
        "make_teacher",
        "sample_inputs",
        "simulate",
    ),
    "linvae.trajectory": ("FinalWeights", "Trajectory", "Trajectory.load", "Trajectory.save"),
    "linvae.observables": (
        "ORDER_PARAMETER_NAMES",
        "OrderParameters",
        "generalization_error",
        "order_parameters",
        "pack_state",
        "state_size",
        "unpack_state",
    ),
    "linvae.schedules": (
        "CallableSchedule",
        "Constant",
        "LinearRamp",
        "Schedule",
        "StepSchedule",
        "TanhAnneal",
        "as_schedule",
    ),
    "linvae.plotting": ("observable_series", "plot_observable", "save_figure"),
    "linvae.theory": ("initial_conditions_from", "solve_ode"),
    "linvae.theory.derive": ("DerivedODE", "derive_ode", "latex_equations"),
    "linvae.theory.rhs": ("compile_ode",),
    "linvae.theory.reference": ("matrix_form_drift",),
    "linvae.theory.plot": ("plot_compare",),
    "linvae.analysis": (
        "AnnealingOptimum",
        "CollapseThreshold",
        "ConvergenceTime",
        "ConvergenceVsM",
        "CriticalRate",
        "FixedPoint",
        "LatentRole",
        "Phase",
        "PhaseDiagram",
        "Stability",
        "SuperfluousDynamics",
        "annealing_diagram",
        "attractor",
        "classify_stability",
        "closed_form_state",
        "collapse_threshold",
        "convergence_time",
        "convergence_vs_latents",
        "critical_rate",
        "decay_exponent",
        "fixed_points",
        "initial_order_parameters",
        "optimal_annealing_rate",
        "penalty_diagram",
        "settling_time",
        "stability_diagram",
        "superfluous_dynamics",
        "superfluous_error",
        "threshold_formula",
    ),
    "linvae.analysis.fixed_points": (
        "FixedPoint",
        "LatentRole",
        "Stability",
        "classify_stability",
        "closed_form_state",
        "fixed_points",
        "latent_block",
        "reduced_jacobian",
        "symbolic_fixed_point",
    ),
    "linvae.analysis.threshold": ("CollapseThreshold", "collapse_threshold", "threshold_formula"),
    "linvae.analysis.annealing": (
        "AnnealingOptimum",
        "ConvergenceTime",
        "CriticalRate",
        "attractor",
        "convergence_time",
        "critical_rate",
        "optimal_annealing_rate",
        "settling_time",
    ),
    "linvae.analysis.superfluous": (
        "ConvergenceVsM",
        "SuperfluousDynamics",
        "convergence_vs_latents",
        "decay_exponent",
        "superfluous_dynamics",
        "superfluous_error",
    ),
    "linvae.analysis.phase": (
        "Phase",
        "PhaseDiagram",
        "annealing_diagram",
        "penalty_diagram",
        "stability_diagram",
    ),
    "linvae.analysis.initial": ("initial_order_parameters",),
    "linvae.analysis.reproduce": ("ReproduceSettings", "reproduce"),
    "linvae.analysis.plot": ("plot_error_vs_beta", "plot_phase_diagram"),
    "linvae.sweep": (
        "MODEL_PARAMETERS",
        "RUN_PARAMETERS",
        "SCHEDULE_PARAMETERS",
        "FiniteSizeScaling",
        "Sweep",
        "SweepResult",
        "finite_size_scaling",
        "fit_power_law",
        "load_sweep",
        "model_from_config",
        "run_sweep",
    ),
    "linvae.sweep_plot": ("plot_finite_size_scaling",),
    "linvae.cli": ("main",),
    "conv_study": ("__version__",),
    "conv_study.cli": ("main",),
    "conv_study.estimators": (
        "IDScaling",
        "Imbalance",
        "LayerGeometry",
        "Neighbors",
        "TwoNN",
        "information_imbalance",
        "layer_geometry",
        "nearest_neighbors",
        "relative_imbalance_difference",
        "study_pairs",
        "twonn_from_mu",
        "twonn_id",
        "twonn_scaling",
    ),
    "conv_study.model": ("ConvVAE", "compute_representations"),
    "conv_study.train": ("TrainConfig", "load_run"),
    "conv_study.analysis": ("checkpoint_seed",),
}

# --------------------------------------------------------------------------------------------
# Reading the tree
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool
    tree: ast.Module
    source: str


@dataclass(frozen=True)
class Import:
    """One first-party import, resolved to the module that defines what it imports."""

    importer: str
    target: str
    name: str  # the imported name ("" for ``import x.y``)
    line: int
    in_function: bool
    type_only: bool
    stmt: ast.Import | ast.ImportFrom

    def where(self) -> str:
        return f"{self.importer}:{self.line}"


@cache
def modules() -> dict[str, Module]:
    found = {}
    for top in FIRST_PARTY:
        for path in sorted((ROOT / top).rglob("*.py")):
            if path.name == "conftest.py":
                continue  # pytest's fixtures for the doctests, not a module of the package
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            name = ".".join(parts)
            source = path.read_text(encoding="utf-8")
            found[name] = Module(name, path, is_package, ast.parse(source, str(path)), source)
    return found


def _is_first_party(name: str) -> bool:
    return name.split(".")[0] in FIRST_PARTY


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(
    node: ast.AST, in_function: bool = False, type_only: bool = False
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, in_function, type_only
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _import_nodes(child, True, type_only)
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield from _import_nodes(ast.Module([stmt], []), in_function, True)
            for stmt in child.orelse:
                yield from _import_nodes(ast.Module([stmt], []), in_function, type_only)
        else:
            yield from _import_nodes(child, in_function, type_only)


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.name.split(".")
    if not module.is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _attach_tables(module: Module) -> tuple[list[str], dict[str, list[str]]]:
    """The ``submodules`` and ``submod_attrs`` of a ``lazy_loader.attach`` call, if any."""
    for node in ast.walk(module.tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name != "attach":
            continue
        args = dict(zip(("package_name", "submodules", "submod_attrs"), node.args, strict=False))
        args.update({kw.arg: kw.value for kw in node.keywords if kw.arg})
        submodules = ast.literal_eval(args["submodules"]) if "submodules" in args else []
        attrs = ast.literal_eval(args["submod_attrs"]) if "submod_attrs" in args else {}
        return list(submodules or []), dict(attrs or {})
    return [], {}


@cache
def face(package: str) -> dict[str, str]:
    """Names a package's ``__init__`` offers -> the module that defines each."""
    module = modules()[package]
    table: dict[str, str] = {}
    submodules, attrs = _attach_tables(module)
    for sub in submodules:
        table[sub] = f"{package}.{sub}"
    for sub, names in attrs.items():
        for name in names:
            table[name] = resolve(f"{package}.{sub}", name)
    for node in module.tree.body:
        if isinstance(node, ast.ImportFrom):
            source = _absolute(module, node)
            if _is_first_party(source):
                for alias in node.names:
                    table[alias.asname or alias.name] = resolve(source, alias.name)
    return table


def resolve(source: str, name: str) -> str:
    """The module that defines ``name`` when it is imported ``from source``."""
    if f"{source}.{name}" in modules():
        return f"{source}.{name}"
    mod = modules().get(source)
    if mod is not None and mod.is_package:
        return face(source).get(name, source)
    return source


@cache
def imports() -> tuple[Import, ...]:
    found = []
    for module in modules().values():
        for node, in_function, type_only in _import_nodes(module.tree):
            if isinstance(node, ast.Import):
                pairs = [(alias.name, "") for alias in node.names]
            else:
                source = _absolute(module, node)
                pairs = [(resolve(source, a.name), a.name) for a in node.names]
            for target, name in pairs:
                if _is_first_party(target):
                    found.append(
                        Import(module.name, target, name, node.lineno, in_function, type_only, node)
                    )
    return tuple(found)


def _third_party_tops(module: Module) -> set[str]:
    """Top-level names of the third-party packages imported at module level (at run time)."""
    tops = set()
    for node, in_function, type_only in _import_nodes(module.tree):
        if in_function or type_only:
            continue
        if isinstance(node, ast.Import):
            tops.update(alias.name.split(".")[0] for alias in node.names)
        elif not node.level and node.module:
            tops.add(node.module.split(".")[0])
    return tops - set(FIRST_PARTY)


@cache
def heavy_modules() -> frozenset[str]:
    """First-party modules whose import loads a heavy dependency (computed, see the top)."""
    heavy = {m.name for m in modules().values() if _third_party_tops(m) & set(HEAVY)}
    runtime = [i for i in imports() if not i.in_function and not i.type_only]
    changed = True
    while changed:
        changed = False
        for imp in runtime:
            if imp.target in heavy and imp.importer not in heavy:
                heavy.add(imp.importer)
                changed = True
    return frozenset(heavy)


def _matches(name: str, pattern: str) -> bool:
    if pattern.endswith(".*"):
        prefix = pattern[:-2]
        return name == prefix or name.startswith(prefix + ".")
    return name == pattern


def _matches_any(name: str, patterns: tuple[str, ...]) -> bool:
    return any(_matches(name, p) for p in patterns)


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


# --------------------------------------------------------------------------------------------
# a. Import-time rules
# --------------------------------------------------------------------------------------------

_REPORT_HEAVY = (
    f"import sys; print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}))"
)

LIGHT_CASES = {
    "import linvae": "import linvae",
    "import conv_study": "import conv_study",
    "import linvae.analysis": "import linvae.analysis",
    "import linvae.theory": "import linvae.theory",
    "import linvae.sweep": "import linvae.sweep",
    "import linvae.plot": "import linvae.plot",
    "import linvae.sgd": "import linvae.sgd",
    "import linvae.offline": "import linvae.offline",
    "import linvae.reproduce": "import linvae.reproduce",
    "linvae parser": "from linvae.cli import build_parser; build_parser()",
    "conv-study parser": "from conv_study.cli import build_parser; build_parser()",
    "linvae --help": (
        "import runpy, sys; sys.argv = ['linvae', '--help']\n"
        "try:\n    runpy.run_module('linvae', run_name='__main__')\n"
        "except SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n"
    ),
    "conv-study --help": (
        "import runpy, sys; sys.argv = ['conv-study', '--help']\n"
        "try:\n    runpy.run_module('conv_study', run_name='__main__')\n"
        "except SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n"
    ),
}


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("case", sorted(LIGHT_CASES))
def test_import_is_light(case):
    """Package faces and CLI parsers load none of numba, sympy, matplotlib, torch, dask."""
    done = _python(f"{LIGHT_CASES[case]}\n{_REPORT_HEAVY}")
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.strip().splitlines()[-1]
    assert loaded == "[]", f"{case} loads {loaded}"


@pytest.mark.parametrize("package", FIRST_PARTY)
def test_help_exits_zero(package):
    done = subprocess.run(
        [sys.executable, "-m", package, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


# --------------------------------------------------------------------------------------------
# b. The import graph
# --------------------------------------------------------------------------------------------


def test_import_contracts():
    """Every import-linter contract of pyproject.toml is kept (what ``lint-imports`` says)."""
    done = subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache", "--no-logo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 0 broken" in done.stdout, done.stdout


def test_every_import_names_an_existing_module():
    missing = [f"{i.where()} imports {i.target}" for i in imports() if i.target not in modules()]
    assert not missing, "\n".join(missing)


def test_conv_study_uses_only_public_linvae_modules():
    """conv_study imports the linvae modules of `CONV_STUDY_MAY_IMPORT`, and no private name.

    (That linvae never imports conv_study is the import-linter contract ``linvae-alone``.)
    """
    wrong = []
    for imp in imports():
        if imp.importer.split(".")[0] != "conv_study" or imp.target.split(".")[0] != "linvae":
            continue
        private = any(_private(p) for p in imp.target.split(".")) or _private(imp.name)
        if private or not _matches_any(imp.target, CONV_STUDY_MAY_IMPORT):
            wrong.append(
                f"{imp.where()} imports {imp.target}"
                f"{'.' + imp.name if imp.name else ''}: conv_study may use only "
                f"{CONV_STUDY_MAY_IMPORT} of linvae, and no private name"
            )
    assert not wrong, "\n".join(wrong)


def test_no_private_name_from_another_module():
    """Never ``from x import _name``; a private module only from inside its own package."""
    wrong = []
    for imp in imports():
        if imp.name and _private(imp.name) and imp.target != imp.importer:
            wrong.append(f"{imp.where()} imports the private {imp.target}.{imp.name}")
        parts = imp.target.split(".")
        for depth, part in enumerate(parts):
            owner = ".".join(parts[:depth])
            if _private(part) and not (
                imp.importer == owner or imp.importer.startswith(owner + ".")
            ):
                wrong.append(f"{imp.where()} imports the private module {imp.target}")
    assert not wrong, "\n".join(wrong)


# --------------------------------------------------------------------------------------------
# c. First-party imports inside functions
# --------------------------------------------------------------------------------------------


@cache
def _comment_lines(name: str) -> frozenset[int]:
    tokens = tokenize.generate_tokens(io.StringIO(modules()[name].source).readline)
    return frozenset(tok.start[0] for tok in tokens if tok.type == tokenize.COMMENT)


@cache
def _import_lines(name: str) -> frozenset[int]:
    lines = set()
    for node, _, _ in _import_nodes(modules()[name].tree):
        lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return frozenset(lines)


def _says_why(imp: Import) -> bool:
    """A comment on the statement, or just above it or the run of imports it belongs to."""
    comments, covered = _comment_lines(imp.importer), _import_lines(imp.importer)
    end = imp.stmt.end_lineno or imp.stmt.lineno
    if any(line in comments for line in range(imp.stmt.lineno, end + 1)):
        return True
    line = imp.stmt.lineno - 1
    while line in covered and line not in comments:
        line -= 1
    return line in comments


def test_heavy_modules_are_computed():
    heavy = heavy_modules()
    assert "linvae.sgd.kernels" in heavy  # numba at module level
    assert not heavy & {"linvae", "linvae.params", "linvae.utils.validation"}


def test_imports_inside_functions_only_for_heavy_modules():
    wrong = []
    statements: dict[tuple[str, int], list[Import]] = {}
    for imp in imports():
        if (
            imp.in_function
            and not modules()[imp.importer].is_package  # a face's lazy __getattr__
            and not _matches_any(imp.importer, FUNCTION_IMPORTS_ALLOWED_IN)
        ):
            statements.setdefault((imp.importer, imp.line), []).append(imp)
    for (importer, line), group in sorted(statements.items()):
        light = sorted({i.target for i in group if i.target not in heavy_modules()})
        if light:
            wrong.append(
                f"{importer}:{line} imports {light} inside a function; "
                "import it at the top of the module"
            )
        elif not _says_why(group[0]):
            wrong.append(f"{importer}:{line}: say in a comment why this import is deferred")
    assert not wrong, "\n".join(wrong)


# --------------------------------------------------------------------------------------------
# d. No package attribute shadows a submodule
# --------------------------------------------------------------------------------------------


def _offered_names(package: Module) -> set[str]:
    """Names a package offers that are not a lazy table's plain submodule entries.

    ``lazy_loader.attach(submodules=[...])`` loads exactly that submodule, so those entries
    cannot hide one; every other name (a lazy attribute, an eager ``from x import y``, a
    definition, an ``__all__`` entry) is checked.
    """
    _, attrs = _attach_tables(package)
    names = {name for names in attrs.values() for name in names}
    for node in package.tree.body:
        if isinstance(node, ast.ImportFrom | ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names.add(target.id)
                    if target.id == "__all__":
                        try:
                            names.update(ast.literal_eval(node.value))
                        except ValueError:
                            pass  # built by an expression (lazy_loader): read from the table
    return names


def _shadow_cases() -> list[tuple[str, str]]:
    cases = []
    for package in modules().values():
        if not package.is_package:
            continue
        children = {
            name.rpartition(".")[2] for name in modules() if name.rpartition(".")[0] == package.name
        }
        cases += [(package.name, n) for n in sorted(_offered_names(package) & children)]
    return cases


_SHADOW_CHECK = """
import importlib, sys
package = importlib.import_module({package!r})
first = getattr(package, {name!r})
module = importlib.import_module({package!r} + "." + {name!r})
print(first is module, getattr(package, {name!r}) is module, type(first).__name__)
"""


def test_no_attribute_hides_a_submodule():
    hidden = []
    for package, name in _shadow_cases():
        done = _python(_SHADOW_CHECK.format(package=package, name=name))
        if done.returncode and "No module named 'torch'" in done.stderr:
            continue  # needs the conv extra (torch)
        assert done.returncode == 0, done.stderr
        first, after, kind = done.stdout.split()
        if not first == after == "True":
            hidden.append(f"{package}.{name} is a {kind}, not the submodule {package}.{name}")
    assert not hidden, "\n".join(hidden)


# --------------------------------------------------------------------------------------------
# e. Every previously documented public name still works
# --------------------------------------------------------------------------------------------


def new_home(module: str, name: str) -> str:
    """Where ``module.name`` of the old API lives now."""
    return MOVED_NAMES.get((module, name.split(".")[0]), MOVED_MODULES.get(module, module))


_OLD = [(module, name) for module, names in OLD_PUBLIC_NAMES.items() for name in names]


@pytest.mark.parametrize(("module", "name"), _OLD, ids=[f"{m}.{n}" for m, n in _OLD])
def test_documented_name_resolves(module, name):
    home = new_home(module, name)
    try:
        obj = importlib.import_module(home)
    except ModuleNotFoundError as err:
        if err.name == "torch" and importlib.util.find_spec("torch") is None:
            pytest.skip("needs the conv extra (torch)")
        raise
    assert isinstance(sys.modules[home], types.ModuleType)
    for part in name.split("."):
        obj = getattr(obj, part)
    assert obj is not None


def test_moved_modules_are_gone():
    """An old module path is not left behind as a second home (the moves table is the map)."""
    left = [old for old in MOVED_MODULES if old in modules()]
    assert not left, left


# --------------------------------------------------------------------------------------------
# f. The docs stand alone
# --------------------------------------------------------------------------------------------

SPEC_CITATION = re.compile(r"spec(ification)? ?(section|sections|[0-9])", re.IGNORECASE)
# The scientific-Python SPEC documents (SPEC-1: lazy loading) are another thing: upper case.
SCIENTIFIC_PYTHON_SPEC = re.compile(r"SPEC ?[0-9]")
TEXT_SUFFIXES = {".py", ".md", ".yml", ".yaml", ".toml", ".txt", ".js", ".cfg", ".ini"}


def _text_files() -> Iterator[Path]:
    yield ROOT / "README.md"
    for top in (*FIRST_PARTY, "docs"):
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file() and path.suffix in TEXT_SUFFIXES:
                yield path


def test_no_spec_citations():
    found = []
    for path in _text_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in SPEC_CITATION.finditer(line):
                if not SCIENTIFIC_PYTHON_SPEC.fullmatch(match.group()):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "cite the docs' own pages instead:\n" + "\n".join(found)


SPHINX_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|obj|exc|const|math):`")


def test_no_sphinx_roles():
    """Docstrings are rendered by mkdocstrings (markdown) and by ``--help``, where Sphinx roles
    (func, class, mod, ... before a backquoted name) would show raw: names are code spans."""
    found = []
    for path in sorted(ROOT.glob("*/**/*.py")):
        if ".ci-venv" in path.parts or "site-packages" in path.parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if SPHINX_ROLE.search(line) and "SPHINX_ROLE" not in line:
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "write names as `code` spans, not Sphinx roles:\n" + "\n".join(found)
