"""Placement helpers shared by the figures of `linvae.plot`: legends that cover no data and
list only what a window shows, plain-number tick labels on log axes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch
from matplotlib.ticker import LogFormatter

__all__ = ["drawn_in", "in_view", "legend_below", "legend_key", "plain_log_ticks"]


def in_view(x, y, view) -> bool:
    """Whether any finite point (x, y) lies inside ``view = (x_min, x_max, y_min, y_max)``."""
    x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    x0, x1, y0, y1 = view
    return bool(np.any((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)))


def drawn_in(handle, view) -> bool:
    """A line of data coordinates has a point in the view; any other artist counts as drawn."""
    if type(handle).__name__ != "Line2D" or handle.get_transform() != handle.axes.transData:
        return True
    return in_view(handle.get_xdata(), handle.get_ydata(), view)


def legend_key(handle):
    """The legend key of ``handle``; the white hatching of the coexistence strip is keyed
    on a grey patch (white on the legend's white would not show)."""
    if getattr(handle, "get_hatch", lambda: None)():
        return Patch(facecolor="0.55", edgecolor="w", hatch=handle.get_hatch(),
                     label=handle.get_label())  # fmt: skip
    return handle


def legend_below(ax: Axes, handles: list, *, ncols: int = 2, fontsize: float = 8) -> None:
    """The legend of ``ax`` under its x label, where it covers no data (constrained layout
    makes room for it)."""
    rc = plt.rcParams
    # from the bottom spine down past the tick labels and the x label, in points
    depth = (
        max(rc["xtick.major.size"], 0.0) + rc["xtick.major.pad"]
        + 1.3 * _points(rc["xtick.labelsize"]) + rc["axes.labelpad"]
        + 1.3 * _points(rc["axes.labelsize"])
    )  # fmt: skip
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=ncols,
              borderaxespad=depth / fontsize, fontsize=fontsize, frameon=False)  # fmt: skip


def _points(size) -> float:
    """A font size of rcParams (a number or a name such as "medium") in points."""
    return FontProperties(size=size).get_size_in_points()


class _PlainLogFormatter(LogFormatter):
    """Log-axis tick labels as plain numbers (2, 5, 10, 0.1), not 2x10^0; the ticks labelled
    are those matplotlib's log formatter would label."""

    def __call__(self, x, pos=None):
        return f"{x:g}" if super().__call__(x, pos) else ""


def plain_log_ticks(axis) -> None:
    """Label a log ``axis`` (``ax.xaxis`` or ``ax.yaxis``) with plain numbers."""
    axis.set_major_formatter(_PlainLogFormatter(labelOnlyBase=False))
    axis.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
