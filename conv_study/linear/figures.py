"""Figures of the linear-VAE geometry (matplotlib, Agg; imported by the command line only).

* `plot_time` - imbalances and IDs over training time, measured against predicted, with
  the order parameters that drive them;
* `plot_profile` - the layer profile c, x, mu, z, reconstruction at one time.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from conv_study.linear.study import LinearGeometry
from linvae.plot.labels import LABELS, model_text
from linvae.utils.io import atomic_write
from linvae.utils.paths import check_writable

__all__ = ["make_figures", "plot_profile", "plot_time"]

#: The imbalances drawn against time: the latents against the true factors.
TIME_PAIRS = (("mu", "c"), ("c", "mu"), ("z", "c"), ("c", "z"))
_LABEL = {"mu": r"\mu", "c": "c", "z": "z", "x": "x", "reconstruction": r"\hat x"}
# Resolution of the saved figures (150 dpi or more: readable when zoomed or printed).
_DPI = 150
_T_LABEL = f"{LABELS['t']} = step / {LABELS['N']}"
# What the marker styles mean, one key for the whole figure (colours: the panels' legends).
_STYLE_KEY = (
    Line2D([], [], marker="o", ls="none", color="0.3", label="measured (held-out sample)"),
    Line2D([], [], marker="_", ms=10, color="0.3", lw=1, label="law of the run's order parameters"),
    Line2D([], [], ls="--", color="0.3", lw=1, label="law of the ODE's order parameters"),
)


def _delta_label(a: str, b: str) -> str:
    return rf"$\Delta({_LABEL[a]} \to {_LABEL[b]})$"


def _series(geos, a, b=None):
    """Mean and spread of Delta(a -> b) (or the ID of a) over the times."""
    if b is None:
        return np.array([g.id_of(a) for g in geos]), np.array(
            [g.id_std[g.names.index(a)] for g in geos]
        )
    return np.array([g.delta(a, b) for g in geos]), np.array([g.delta_std(a, b) for g in geos])


def plot_time(result: LinearGeometry, path: str | os.PathLike[str]) -> Path:
    """Imbalances, IDs and order parameters against training time; saved to ``path``.

    Markers: measured on the held-out sample. Error bars: the law of the run's order
    parameters (mean and spread of one draw). Dashed lines: the law of the ODE's.
    """
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.6), layout="constrained")
    t = result.t
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ax = axes[0]
    for (a, b), col in zip(TIME_PAIRS, colors, strict=False):
        meas, _ = _series(result.measured, a, b)
        pred, spread = _series(result.predicted, a, b)
        ax.plot(t, meas, "o", color=col, label=_delta_label(a, b))
        ax.errorbar(t, pred, yerr=spread, color=col, capsize=3, lw=1)
        if result.predicted_ode is not None:
            ode, _ = _series(result.predicted_ode, a, b)
            ax.plot(t, ode, "--", color=col, lw=1)
    ax.set_xlabel(_T_LABEL)
    ax.set_ylabel("information imbalance")
    ax.set_title("latents against the factors")
    ax.legend(fontsize=9)
    ax = axes[1]
    for name, col in zip(("mu", "z"), colors, strict=False):
        meas, _ = _series(result.measured, name)
        pred, spread = _series(result.predicted, name)
        ax.plot(t, meas, "o", color=col, label=rf"ID(${_LABEL[name]}$)")
        ax.errorbar(t, pred, yerr=spread, color=col, capsize=3, lw=1)
        if result.predicted_ode is not None:
            ode, _ = _series(result.predicted_ode, name)
            ax.plot(t, ode, "--", color=col, lw=1)
    ax.axhline(result.model.M, color="0.6", lw=0.8, ls=":")
    ax.set_xlabel(_T_LABEL)
    ax.set_ylabel("2NN intrinsic dimension")
    ax.set_title(f"intrinsic dimension (dotted: $M = {result.model.M}$)")
    ax.legend(fontsize=9)
    ax = axes[2]
    run, ode = result.run, result.ode
    M = result.model.M
    for k in range(M):
        suffix = f"_{k + 1}" if M > 1 else ""
        for name, values, ls in (
            ("|d", np.linalg.norm(run.d[0, :, k, :], axis=-1), "-"),
            ("E", run.E[0, :, k, k], "-"),
            ("D", run.D[0, :, k], "-"),
        ):
            label = f"${name}{suffix}|$" if name == "|d" else f"${name}{suffix}$"
            line = ax.plot(run.t, values, ls, lw=1.2, label=label)[0]
            if ode is not None:
                ode_values = {
                    "|d": np.linalg.norm(ode.d[0, :, k, :], axis=-1),
                    "E": ode.E[0, :, k, k],
                    "D": ode.D[0, :, k],
                }[name]
                ax.plot(ode.t, ode_values, "--", lw=1, color=line.get_color())
    ax.plot(run.t, result.model.schedule(run.t), ":", color="k", lw=1, label=r"$\beta(t)$")
    ax.set_xlabel(_T_LABEL)
    ax.set_title("order parameters (solid: SGD, dashed: ODE)")
    ax.legend(fontsize=8, ncol=2)
    key = _STYLE_KEY if result.predicted_ode is not None else _STYLE_KEY[:2]
    fig.legend(handles=list(key), loc="outside lower center", ncols=len(key), frameon=False)
    fig.suptitle(_model_title(result))
    out = Path(path)
    _save(fig, out)
    return out


def _model_title(result: LinearGeometry) -> str:
    """The run's parameters in symbols: the title line of both figures."""
    m = result.model
    return f"linear VAE, $N = {result.N}$, {model_text(m)}; {result.n_points} held-out points"


def _save(fig, path: Path) -> None:
    """Save atomically (through a symlink to its target; read-only refused), then close."""
    fmt = path.suffix.lower().lstrip(".") or "png"
    atomic_write(path, lambda handle: fig.savefig(handle, format=fmt, dpi=_DPI))
    plt.close(fig)


def plot_profile(result: LinearGeometry, path: str | os.PathLike[str], *, index: int = -1) -> Path:
    """The layer profile c, x, mu, z, reconstruction at one time; saved to ``path``.

    Left: the 2NN ID of each representation (log scale: the input's is of order sqrt(N)).
    Right: Delta(l -> c) and Delta(c -> l), measured (markers) and predicted (bars).
    """
    meas, pred = result.measured[index], result.predicted[index]
    names = meas.names
    pos = np.arange(len(names))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), layout="constrained")
    ax = axes[0]
    ax.semilogy(pos, meas.id, "o-", label="measured")
    ppos = [names.index(n) for n in pred.names]
    ax.errorbar(ppos, pred.id, yerr=pred.id_std, fmt="s", mfc="none", capsize=3, label="predicted")
    ax.set_ylabel("2NN intrinsic dimension")
    ax = axes[1]
    for (label, a_of), col in zip(
        ((r"$\Delta(l \to c)$", lambda n: (n, "c")), (r"$\Delta(c \to l)$", lambda n: ("c", n))),
        ("C0", "C1"),
        strict=True,
    ):
        others = [n for n in names if n != "c"]
        xs = [names.index(n) for n in others]
        ax.plot(xs, [meas.delta(*a_of(n)) for n in others], "o-", color=col, label=label)
        pn = [n for n in pred.names if n != "c"]
        ax.errorbar(
            [names.index(n) for n in pn],
            [pred.delta(*a_of(n)) for n in pn],
            yerr=[pred.delta_std(*a_of(n)) for n in pn],
            fmt="s",
            mfc="none",
            color=col,
            capsize=3,
        )
    ax.set_ylabel("information imbalance")
    ax.set_ylim(0, 1.1)
    for ax in axes:
        ax.set_xticks(pos, [f"${_LABEL[n]}$" for n in names])
        ax.set_xlabel("representation")
        ax.legend(fontsize=9)
    t = float(result.t[index])
    fig.suptitle(
        f"{_model_title(result)}\nat $t = {t:g}$: $\\beta = {result.model.schedule(t):.3g}$ "
        f"($\\beta^* = {result.beta_star:.3g}$); circles measured, open squares predicted"
    )
    out = Path(path)
    _save(fig, out)
    return out


def make_figures(result: LinearGeometry, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Both figures into ``out_dir`` (created): ``linear-time.png``, ``linear-profile.png``."""
    out = check_writable(out_dir, "The `out_dir` parameter of make_figures", directory=True)
    out.mkdir(parents=True, exist_ok=True)
    return [
        plot_time(result, out / "linear-time.png"),
        plot_profile(result, out / "linear-profile.png"),
    ]
