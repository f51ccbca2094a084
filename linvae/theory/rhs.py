"""Fast numeric right-hand side and Jacobian of the derived ODEs (numba, generated at run time).

Symbols
-------
y    flat state (m, d, Q, E, R, D) in the layout of `linvae.observables.pack_state`
p    parameter vector: rho_k (M_star), the upper triangle of T (row-major), eta, beta, lam, tau, xi
f    dy/dt;  J = df/dy

The sympy drift of `linvae.theory.derive.derive_ode` and its Jacobian go through
common-subexpression elimination (``sympy.cse``) and are printed as straight-line Python
(`generate_source`), compiled lazily by numba. The generated module is cached on disk
(`cache_dir`; ``LINVAE_CACHE_DIR`` overrides it) under a name that hashes the generator's
own source and the sympy and numba versions, with a "generated, do not edit" header and the hash of
its body; numba caches the machine code beside it. A file whose body does not match its recorded
hash is regenerated. Tests regenerate the source and compare, and compare the compiled functions
with the plain-numpy matrix forms of `linvae.theory.reference`.

Q and E are symmetric: the derived drift depends on ``(Q[i, j] + Q[j, i]) / 2``, so an
asymmetric input (round-off) is read as its symmetric part, and the Jacobian splits the
derivative evenly between the two entries.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import sys
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import NamedTuple

import numpy as np

from linvae.observables import state_size
from linvae.params import Model
from linvae.utils.io import atomic_write

__all__ = [
    "CompiledODE",
    "ParameterLayout",
    "cache_dir",
    "compile_ode",
    "generate_source",
    "generator_hash",
    "parameter_layout",
    "parameter_vector",
]

RHS_NAME = "ode_rhs"
JAC_NAME = "ode_jac"


@dataclass(frozen=True, kw_only=True)
class CompiledODE:
    """Compiled right-hand side and Jacobian for one shape.

    Attributes
    ----------
    M, M_star : int
        Shape.
    rhs : callable ``(y, p) -> f``
        numba-compiled; ``y`` shape (n,), ``p`` shape (layout.size,); returns shape (n,).
    jac : callable ``(y, p) -> J``
        numba-compiled on its first call; returns shape (n, n).
    source : str
        The generated Python source of both functions (plain Python + numpy).
    source_hash : str
        SHA-256 of ``source``.
    path : Path or None
        The cached module file, or None when the cache directory was not writable.
    layout : ParameterLayout
        Where each parameter sits in ``p`` (``layout.size`` is its length).
    derivation_seconds : float
        Time spent deriving and generating the source (sympy + CSE + printing), or reading it
        from the disk cache.
    from_disk_cache : bool
        Whether the source came from the disk cache.
    compile_seconds : float
        Time spent loading the module and compiling (or loading from numba's cache) ``rhs``.
    """

    M: int
    M_star: int
    rhs: object
    jac: object
    source: str
    source_hash: str
    path: Path | None
    layout: ParameterLayout
    derivation_seconds: float
    from_disk_cache: bool
    compile_seconds: float


class ParameterLayout(NamedTuple):
    """Where each model parameter sits in the parameter vector ``p`` of the compiled functions.

    Attributes
    ----------
    rho : slice
        rho_k, k = 0 ... M_star - 1.
    T : slice
        The upper triangle of T, row-major.
    eta, beta, lam, tau, xi : int
        Positions of the scalars.
    size : int
        Length of ``p``.
    """

    rho: slice
    T: slice
    eta: int
    beta: int
    lam: int
    tau: int
    xi: int
    size: int


def parameter_layout(M_star: int) -> ParameterLayout:
    """The positions in ``p`` for ``M_star`` factors (the order of `parameter_vector`).

    Examples
    --------
    >>> parameter_layout(1).beta
    3
    """
    n_T = M_star * (M_star + 1) // 2
    eta = M_star + n_T
    return ParameterLayout(
        rho=slice(0, M_star),
        T=slice(M_star, eta),
        eta=eta,
        beta=eta + 1,
        lam=eta + 2,
        tau=eta + 3,
        xi=eta + 4,
        size=eta + 5,
    )


def parameter_vector(
    model: Model, *, T: np.ndarray | None = None, sgd_noise: bool = True, beta: float = 0.0
) -> np.ndarray:
    """The parameter vector ``p`` of the compiled functions for ``model``.

    Parameters
    ----------
    model : Model
    T : ndarray, shape (M_star, M_star), optional
        W_star^T W_star / N; the identity by default.
    sgd_noise : bool
        Keep the O(tau^2) terms (xi = 1).
    beta : float
        Value put in the beta slot (`linvae.theory.drift.Drift` overwrites it with
        beta(t)).

    Returns
    -------
    ndarray, shape (parameter_layout(M_star).size,)
        In the order of `parameter_layout`.
    """
    M_star = model.M_star
    T = np.eye(M_star) if T is None else np.asarray(T, dtype=np.float64)
    upper = T[np.triu_indices(M_star)]
    tail = [model.eta, beta, model.lam, model.tau, 1.0 if sgd_noise else 0.0]
    return np.concatenate([model.rho_vector, upper, tail]).astype(np.float64)


_GENERATED_HEADER = "# Generated by linvae.theory.rhs from the sympy derivation; do not edit."


def generator_hash() -> str:
    """Hash of what determines the generated code: the generator modules and sympy's version.

    Computed without importing sympy, so that a cache hit costs no sympy import.
    """
    derive_file = importlib.util.find_spec("linvae.theory.derive").origin
    h = hashlib.sha256()
    for module_file in (Path(derive_file), Path(__file__)):
        h.update(module_file.read_bytes())
    h.update(version("sympy").encode())
    return h.hexdigest()


def cache_dir() -> Path:
    """Directory of the generated-code cache: ``$LINVAE_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/linvae`` or ``~/.cache/linvae``."""
    if os.environ.get("LINVAE_CACHE_DIR"):
        return Path(os.environ["LINVAE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "linvae"


def generate_source(M: int, M_star: int) -> str:
    """Python source of ``ode_rhs(y, p)`` and ``ode_jac(y, p)`` for one shape, from sympy.

    Plain Python with numpy (``np``) only; `compile_ode` compiles it with numba. The
    text is deterministic for a given sympy version, which the tests check by regenerating.

    Parameters
    ----------
    M, M_star : int
        Latent dimension and number of true factors.

    Returns
    -------
    str
    """
    # sympy: loaded on first use (a disk-cache hit never needs it).
    import sympy as sp
    from sympy.printing.pycode import PythonCodePrinter

    # sympy: the derivation imports it at module level.
    from linvae.theory.derive import derive_ode

    ode = derive_ode(M, M_star)
    n = state_size(M, M_star)
    positions: dict = {}
    for k, symbol in enumerate(ode.state_layout):
        positions.setdefault(symbol, []).append(k)

    # Jacobian w.r.t. the full flat state: d f / d y_k = (1 / #copies) d f / d symbol.
    jac_entries = []
    for i, f in enumerate(ode.drift):
        for symbol in ode.state_symbols:
            df = sp.diff(f, symbol)
            if df == 0:
                continue
            share = len(positions[symbol])
            for k in positions[symbol]:
                jac_entries.append((i, k, df / share if share > 1 else df))

    printer = PythonCodePrinter({"fully_qualified_modules": False})
    header = ["    # state (Q, E read as their symmetric parts)"]
    for symbol in ode.state_symbols:
        pos = positions[symbol]
        if len(pos) == 1:
            header.append(f"    {symbol.name} = y[{pos[0]}]")
        else:
            header.append(f"    {symbol.name} = 0.5 * (y[{pos[0]}] + y[{pos[1]}])")
    header.append("    # parameters")
    header.extend(f"    {s.name} = p[{k}]" for k, s in enumerate(ode.parameter_symbols))

    def eliminate(exprs):
        temps, reduced = sp.cse(list(exprs), symbols=sp.numbered_symbols("x"))
        return [f"    {t.name} = {printer.doprint(e)}" for t, e in temps], reduced

    rhs_lines, rhs_out = eliminate(ode.drift)
    jac_lines, jac_out = eliminate([e for _, _, e in jac_entries])
    src = [
        f"def {RHS_NAME}(y, p):",
        *header,
        *rhs_lines,
        f"    out = np.empty({n})",
        *(f"    out[{i}] = {printer.doprint(e)}" for i, e in enumerate(rhs_out)),
        "    return out",
        "",
        "",
        f"def {JAC_NAME}(y, p):",
        *header,
        *jac_lines,
        f"    out = np.zeros(({n}, {n}))",
        *(
            f"    out[{i}, {k}] = {printer.doprint(e)}"
            for (i, k, _), e in zip(jac_entries, jac_out, strict=True)
        ),
        "    return out",
        "",
    ]
    return "\n".join(src)


def _module_text(source: str, key: str) -> str:
    digest = hashlib.sha256(source.encode()).hexdigest()
    return "\n".join(
        [
            _GENERATED_HEADER,
            f"# generator hash: {key}",
            f"# body hash: {digest}",
            "import numba",
            "import numpy as np",
            "",
            "",
            source,
            f"{RHS_NAME}_jit = numba.njit(cache=True)({RHS_NAME})",
            f"{JAC_NAME}_jit = numba.njit(cache=True)({JAC_NAME})",
            "",
        ]
    )


def _body_of(text: str) -> str | None:
    """The generated body of a cached module, or None if the file is not intact."""
    lines = text.split("\n")
    if len(lines) < 8 or lines[0] != _GENERATED_HEADER or not lines[2].startswith("# body hash:"):
        return None
    body = "\n".join(lines[7:-3])
    if hashlib.sha256(body.encode()).hexdigest() != lines[2].split(":", 1)[1].strip():
        return None
    return body


def _load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # numba's cache locates functions through their module
    spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=16)
def compile_ode(M: int, M_star: int, *, disk_cache: bool = True) -> CompiledODE:
    """Derive (sympy), generate and compile (numba) the ODE right-hand side for one shape.

    Cached per shape for the life of the process, and on disk across processes (see
    `cache_dir`). The Jacobian is compiled on its first call.

    Parameters
    ----------
    M, M_star : int
        Latent dimension and number of true factors.
    disk_cache : bool
        Read and write the generated module (and numba's machine code) under `cache_dir`.
        Without it, or when that directory is not writable, everything is redone in memory.

    Returns
    -------
    CompiledODE

    Examples
    --------
    >>> import numpy as np
    >>> from linvae import Model
    >>> ode = compile_ode(1, 1)
    >>> p = parameter_vector(Model(), beta=1.0)
    >>> ode.rhs(np.array([0.1, 0.1, 1.0, 1.0, 0.0, 1.0]), p).shape
    (6,)
    """
    # numba: loaded on first use, so that importing the theory package stays light.
    import numba

    start = time.perf_counter()
    key = generator_hash() + f"-numba{numba.__version__}"
    tag = hashlib.sha256(key.encode()).hexdigest()[:16]
    name = f"linvae_ode_M{M}_Ms{M_star}_{tag}"
    path: Path | None = cache_dir() / f"{name}.py" if disk_cache else None
    source = None
    if path is not None and path.exists():
        source = _body_of(path.read_text())
    from_disk = source is not None
    if source is None:
        source = generate_source(M, M_star)
        if path is not None:
            text = _module_text(source, key).encode()
            try:
                atomic_write(path, lambda handle: handle.write(text))
            except OSError:
                path = None
    derived = time.perf_counter()
    if path is not None:
        module = _load_module(path, name)
        rhs = getattr(module, f"{RHS_NAME}_jit")
        jac = getattr(module, f"{JAC_NAME}_jit")
    else:
        namespace: dict = {"np": np}
        exec(compile(source, f"<{name}>", "exec"), namespace)
        rhs = numba.njit(namespace[RHS_NAME])
        jac = numba.njit(namespace[JAC_NAME])
    n = state_size(M, M_star)
    layout = parameter_layout(M_star)
    rhs(np.ones(n), np.ones(layout.size))  # compile (or load) now, not mid-solve
    compiled = time.perf_counter()
    return CompiledODE(
        M=M,
        M_star=M_star,
        rhs=rhs,
        jac=jac,
        source=source,
        source_hash=hashlib.sha256(source.encode()).hexdigest(),
        path=path,
        layout=layout,
        derivation_seconds=derived - start,
        from_disk_cache=from_disk,
        compile_seconds=compiled - derived,
    )
