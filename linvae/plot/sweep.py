"""Figures of sweeps: the finite-size scaling of SGD around its ODE limit.

Imported by nobody in the core; needs matplotlib (a dependency of linvae).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from linvae.sweep import FiniteSizeScaling

__all__ = ["plot_finite_size_scaling"]


def plot_finite_size_scaling(fss: FiniteSizeScaling, *, ax=None, path: str | Path | None = None):
    """Deviation of SGD from the ODE vs N, log-log, with the fit and the N^-1/2 reference.

    Parameters
    ----------
    fss : FiniteSizeScaling
        From :func:`linvae.sweep.finite_size_scaling`.
    ax : matplotlib Axes, optional
        Where to draw (a new figure otherwise).
    path : path, optional
        Save the figure there.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

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
    ax.set_xlabel("N")
    ax.set_ylabel(f"RMS$_t$ |{fss.observable}$_{{SGD}}$ - {fss.observable}$_{{ODE}}$|")
    ax.legend(frameon=False, fontsize="small")
    if path is not None:
        ax.figure.savefig(path, dpi=150)
    return ax
