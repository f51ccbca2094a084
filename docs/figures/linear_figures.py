"""Regenerate two figures of the page "Geometry of the linear VAE" (docs/linear-geometry.md).

Run from the repository root (about two minutes on two cores)::

    python docs/figures/linear_figures.py

Writes ``docs/figures/linear-beta.png`` (imbalances and IDs of the latents across beta at
t = 600: lines the law of the ODE's order parameters, dots SGD at N = 500) and
``docs/figures/linear-input.png`` (the input's 2NN ID and its imbalances with the factors
against N, with the first-order formulas), and prints the numbers the page quotes as JSON.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, NullFormatter
from scipy.stats import norm, rankdata

from conv_study.linear import (
    held_out_sample,
    linear_geometry,
    measure_geometry,
    predict_geometry,
    representation_law,
)
from linvae import Model
from linvae.theory import solve_ode
from linvae.theory.initial import initial_ensemble

HERE = Path(__file__).resolve().parent
DPI = 150  # readable when zoomed or printed
SEED = 0
TAU, T_END, N_SGD, N_POINTS = 0.1, 600.0, 500, 2000
BETA_GRID = np.round(np.arange(0.1, 3.001, 0.1), 10)
BETA_SGD = (0.25, 0.5, 1.0, 1.5, 2.5)
PAIRS = (("mu", "c"), ("c", "mu"), ("z", "c"), ("c", "z"))
IDS = ("mu", "z", "reconstruction")
TEX = {"mu": r"\mu", "c": "c", "z": "z", "x": "x", "reconstruction": r"\hat x"}
# Below the ODE's absolute tolerance the law of mu is round-off (deep collapse): left out.
ATOL = 1e-10


def _delta(a: str, b: str) -> str:
    return rf"$\Delta({TEX[a]} \to {TEX[b]})$"


def _ode_geometry(M: int, beta: float, seed: int, draws: int = 0) -> dict[str, float]:
    """IDs and imbalances of the law of the ODE's order parameters at T_END (NaN: round-off).

    The ODE starts from one initial state drawn at N_SGD with ``seed`` (the same for every
    beta); ``draws`` seeds the sample of the law (one per beta, so that the noise of the
    estimates is independent along the line).
    """
    model = Model(M=M, beta=beta, tau=TAU)
    ens = initial_ensemble(model, 1, N=N_SGD, rng=seed)
    init = type(ens)(**{name: v[0] for name, v in ens.as_dict().items()})
    sol = solve_ode(model, t_max=T_END, init=init, t_eval=[0.0, T_END])
    op = sol.order_parameters()
    op = type(op)(**{name: v[0, -1] for name, v in op.as_dict().items()})
    law = representation_law(op, model)
    geo = predict_geometry(law, N_POINTS, repeats=2, rng=np.random.SeedSequence([seed, draws]))
    lost = float(np.max(np.diag(op.E))) < ATOL
    out = {f"{a}->{b}": geo.delta(a, b) for a, b in PAIRS}
    out.update({f"ID {name}": geo.id_of(name) for name in IDS})
    if lost:
        for key in ("mu->c", "c->mu", "ID mu", "ID reconstruction"):
            out[key] = math.nan
    return out


def _sgd_geometry(M: int, beta: float, seed: int) -> dict[str, float]:
    """The same measured on the held-out sample of one SGD run at N_SGD."""
    res = linear_geometry(
        Model(M=M, beta=beta, tau=TAU),
        N=N_SGD,
        times=[T_END],
        n_points=N_POINTS,
        repeats=1,
        ode=False,
        rng=seed,
    )
    geo = res.measured[-1]
    out = {f"{a}->{b}": geo.delta(a, b) for a, b in PAIRS}
    out.update({f"ID {name}": geo.id_of(name) for name in IDS})
    return out


def beta_figure() -> dict:
    """linear-beta.png: M = 1 (top) and M = 2 (bottom), M_star = 1, rho = eta = 1."""
    numbers: dict = {}
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.2), sharex=True, layout="constrained")
    colors = {"mu->c": "C0", "c->mu": "C1", "z->c": "C2", "c->z": "C3"}
    id_colors = {"mu": "C0", "z": "C1", "reconstruction": "C2"}
    for row, M in enumerate((1, 2)):
        lines = [_ode_geometry(M, float(b), SEED, i) for i, b in enumerate(BETA_GRID)]
        dots = [_sgd_geometry(M, b, SEED) for b in BETA_SGD]
        numbers[f"M={M}"] = {"ode": dict(zip(map(float, BETA_GRID), lines, strict=True))}
        numbers[f"M={M}"]["sgd"] = dict(zip(BETA_SGD, dots, strict=True))
        ax = axes[row, 0]
        for a, b in PAIRS:
            key = f"{a}->{b}"
            ax.plot(BETA_GRID, [g[key] for g in lines], color=colors[key], label=_delta(a, b))
            ax.plot(BETA_SGD, [g[key] for g in dots], "o", color=colors[key])
        ax.set_ylabel(f"$M = {M}$, $M_\\star = 1$\ninformation imbalance")
        ax.legend(fontsize=8, ncols=2, loc="upper left")
        ax = axes[row, 1]
        for name in IDS:
            key = f"ID {name}"
            label = f"ID(${TEX[name]}$)"
            ax.plot(BETA_GRID, [g[key] for g in lines], color=id_colors[name], label=label)
            ax.plot(BETA_SGD, [g[key] for g in dots], "o", color=id_colors[name])
        ax.set_ylim(0.5, 2.5)
        ax.set_ylabel("2NN intrinsic dimension")
        ax.legend(fontsize=8, loc="upper right" if M == 1 else "lower left")
    for ax in axes.flat:
        for x in (1.0, 2.0):
            ax.axvline(x, color="0.6", lw=0.8, ls=":")
    for ax in axes[1]:
        ax.set_xlabel(r"$\beta$   (dotted: $\beta = \eta = 1$ and $\beta^* = \rho + \eta = 2$)")
    key = (
        Line2D([], [], color="0.3", label=r"law of the ODE's order parameters at $t = 600$"),
        Line2D([], [], marker="o", ls="none", color="0.3", label=r"SGD at $N = 500$, measured"),
    )
    fig.legend(handles=list(key), loc="outside lower center", ncols=2, frameon=False)
    fig.suptitle(
        rf"linear VAE, $\rho = \eta = 1$, $\tau = {TAU:g}$, $t = {T_END:g}$; "
        f"{N_POINTS} held-out points per estimate"
    )
    fig.savefig(HERE / "linear-beta.png", dpi=DPI)
    plt.close(fig)
    return numbers


def _signal_rank_covariance(c: np.ndarray, rho: float) -> float:
    """(2/n) E_i Cov_j(rank of j among i's neighbours in c, s_ij = rho |c_i - c_j|^2)."""
    n = len(c)
    s = rho * ((c[:, None, :] - c[None, :, :]) ** 2).sum(axis=-1)
    np.fill_diagonal(s, np.nan)
    total = 0.0
    for i in range(n):
        sj = np.delete(s[i], i)
        rank = rankdata(sj)
        total += np.mean((rank - rank.mean()) * (sj - sj.mean()))
    return 2.0 * total / n**2


def input_figure() -> dict:
    """linear-input.png: the input's ID and imbalances with c against N, with the formulas."""
    Ns = np.array([50, 200, 800, 3200, 12800])
    n, seeds, rho, eta = 1000, 4, 1.0, 1.0
    model = Model(rho=rho, eta=eta)
    u_n = float(norm.ppf(1.0 - 1.0 / n))
    rows = []
    for N in Ns:
        ids, x_to_c, c_to_x, cov = [], [], [], []
        for seed in range(seeds):
            gen = np.random.default_rng([seed, int(N)])
            W_star = gen.standard_normal((int(N), 1))
            c, x = held_out_sample(model, W_star, n, rng=gen)
            geo = measure_geometry({"c": c, "x": x})
            ids.append(geo.id_of("x"))
            x_to_c.append(geo.delta("x", "c"))
            c_to_x.append(geo.delta("c", "x"))
            cov.append(_signal_rank_covariance(c, rho))
        sigma = eta * math.sqrt(6.0 * N)
        rows.append({
            "N": int(N),
            "id": float(np.mean(ids)), "id_std": float(np.std(ids, ddof=1)),
            "id_formula": 4.0 / math.sqrt(6.0) * u_n * math.sqrt(N),
            "x->c": float(np.mean(x_to_c)), "x->c_std": float(np.std(x_to_c, ddof=1)),
            "c->x": float(np.mean(c_to_x)), "c->x_std": float(np.std(c_to_x, ddof=1)),
            "c->x_first_order": 1.0 - 2.0 * rho / (eta * math.sqrt(6.0 * math.pi * N)),
            "rank_covariance": float(np.mean(cov)),
            "sigma": sigma,
        })  # fmt: skip
    # The signal's tilt of the nearest neighbour: one constant for M_star = 1, its mean over
    # every sample drawn (about 1.1 rho), so that the first-order line is smooth in N.
    tilt = float(np.mean([r["rank_covariance"] for r in rows]))
    for r in rows:
        r["x->c_first_order"] = 1.0 - u_n / r["sigma"] * tilt
    col = {key: np.array([r[key] for r in rows]) for key in rows[0]}
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.9), layout="constrained")
    ax = axes[0]
    fine = np.geomspace(Ns[0], Ns[-1], 100)
    ax.plot(fine, 4.0 / math.sqrt(6.0) * u_n * np.sqrt(fine), color="C1",
            label=r"$\frac{4}{\sqrt{6}}\,u_n\sqrt{N}$")  # fmt: skip
    ax.errorbar(Ns, col["id"], yerr=col["id_std"], fmt="o", color="C0", label="measured")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"input dimension $N$")
    ax.set_yticks([30, 50, 100, 200, 300, 500])
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel(r"2NN ID($x$)")
    ax.legend(fontsize=9)
    ax = axes[1]
    first_order = {
        "x->c": u_n / (eta * np.sqrt(6.0 * fine)) * tilt,
        "c->x": 2.0 * rho / (eta * np.sqrt(6.0 * math.pi * fine)),
    }
    handles = []
    for key, color, label in (("x->c", "C0", _delta("x", "c")), ("c->x", "C2", _delta("c", "x"))):
        handles.append(ax.errorbar(Ns, 1.0 - col[key], yerr=col[f"{key}_std"], fmt="o",
                                   color=color, label=f"$1 - ${label}: measured"))  # fmt: skip
        handles += ax.plot(fine, first_order[key], color=color, lw=1, label="first order")
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set_xscale("log")
    # symlog: a few measured means and error bars reach below 0; the linear part (|y| < 3e-3)
    # lies below both first-order lines, which therefore stay straight.
    ax.set_yscale("symlog", linthresh=3e-3)
    ax.set_xlabel(r"input dimension $N$")
    ax.set_ylabel(r"$1 - \Delta$")
    ax.legend(handles=handles, fontsize=8, loc="lower left", ncols=2)
    fig.suptitle(
        rf"the input $x$: $n = {n}$ points, $\rho = \eta = 1$, $M_\star = 1$; "
        f"mean and standard deviation over {seeds} seeds"
    )
    fig.savefig(HERE / "linear-input.png", dpi=DPI)
    plt.close(fig)
    return {"n": n, "seeds": seeds, "u_n": u_n, "tilt": tilt, "rows": rows}


def main() -> dict:
    return {"input": input_figure(), "beta": beta_figure()}


if __name__ == "__main__":
    print(json.dumps(main(), indent=1, default=float))
