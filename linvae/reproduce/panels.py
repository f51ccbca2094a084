"""What the figures of the set share: a blank figure and the parameters in symbols."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from linvae.params import Model

__all__ = ["base_text", "new_figure"]


def new_figure(
    nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (6.0, 4.0)
) -> tuple[Figure, np.ndarray]:
    """A constrained-layout Figure and its Axes, an array of shape (nrows, ncols).

    A plain Figure, outside pyplot's global state: nothing to close, nothing shown.
    """
    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def base_text(model: Model) -> str:
    """The fixed parameters of the figure set in symbols, for titles (mathtext)."""
    return (
        rf"$\rho = {model.rho:g}$, $\eta = {model.eta:g}$, $\lambda = {model.lam:g}$, "
        rf"$\tau = {model.tau:g}$"
    )
