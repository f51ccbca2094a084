"""Figures of sweeps: the finite-size scaling of SGD around its ODE limit.

SGD approaches its ODE twin as N grows, with fluctuations of order N^-1/2 (theory page,
docs/theory.md, section "SGD and its ODE twin"); `plot_finite_size_scaling` draws the
measured deviation against N with its power-law fit. How to run such a sweep: docs/sweeps.md,
section "Finite-size scaling".
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from linvae.analysis.finite_size import FiniteSizeScaling
from linvae.plot.labels import LABELS, tex
from linvae.plot.trajectory import save_figure

__all__ = ["plot_finite_size_scaling"]


def plot_finite_size_scaling(
    fss: FiniteSizeScaling, *, ax: Axes | None = None, path: str | Path | None = None
) -> Axes:
    """Deviation of SGD from the ODE vs N, log-log, with the fit and the N^-1/2 reference.

    Parameters
    ----------
    fss : FiniteSizeScaling
        From `linvae.analysis.finite_size.finite_size_scaling`.
    ax : matplotlib Axes, optional
        Where to draw (a new figure otherwise).
    path : path, optional
        Save the figure there (`save_figure`, which closes it).

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.5), constrained_layout=True)
    N = fss.N.astype(np.float64)
    ax.errorbar(N, fss.deviation, yerr=fss.deviation_err, fmt="o", color="C0", label="SGD vs ODE")
    grid = np.geomspace(N.min(), N.max(), 50)
    ax.plot(
        grid,
        fss.amplitude * grid**fss.exponent,
        color="C0",
        label=f"fit: N^({fss.exponent:.3f} ± {fss.exponent_err:.3f})",
    )
    anchor = fss.deviation[0] * (grid / N[0]) ** -0.5
    ax.plot(grid, anchor, "--", color="0.5", label="N^(-1/2)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(LABELS["N"])
    symbol = tex(fss.observable)
    ax.set_ylabel(f"RMS$_t$ $|{symbol}^{{SGD}} - {symbol}^{{ODE}}|$")
    ax.legend(frameon=False, fontsize="small")
    if path is not None:
        save_figure(ax.figure, path)
    return ax
