"""What the phase-diagram and hysteresis figures show: legends off the data listing only what
is drawn, plain numbers on log axes, colour bars in words (linvae.plot.phase, linvae.plot.offline).
"""

from __future__ import annotations

from dataclasses import replace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from linvae import Model
from linvae.analysis.hysteresis import beta_sweep
from linvae.analysis.phase import annealing_diagram, stability_diagram
from linvae.offline.phase import offline_phase_diagram
from linvae.plot.offline import plot_offline_phase_diagram
from linvae.plot.phase import plot_hysteresis, plot_phase_diagram


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _assert_legend_off_the_axes(ax) -> None:
    """The legend's box overlaps the axes' box nowhere: it covers no data."""
    renderer = ax.figure.canvas.get_renderer()
    ax.figure.canvas.draw()
    legend = ax.get_legend().get_window_extent(renderer)
    assert not legend.overlaps(ax.get_window_extent(renderer))
    inside = ax.figure.bbox
    assert inside.x0 <= legend.x0 and legend.x1 <= inside.x1 + 0.5  # not cut off (half a pixel)
    assert inside.y0 <= legend.y0


def test_phase_diagram_legend_below_the_axes_and_the_strip_keyed_visibly():
    """beta-lam across the first-order strip: every boundary named, off the data, and the
    white hatching of the strip keyed on a grey patch (visible on the legend's white)."""
    betas, lams = np.linspace(0.005, 0.3, 12), np.linspace(1.2, 2.0, 9)
    pd = stability_diagram(Model(), betas=betas, values=lams, axis="lam")
    ax = plot_phase_diagram(pd)
    _assert_legend_off_the_axes(ax)
    # the parameters held fixed are in the title, the axes' own are not
    fixed = ax.get_title().splitlines()[-1]
    assert fixed == r"$\rho = 1$, $\eta = 1$, $M = 1$, $M^* = 1$"
    texts = _legend_texts(ax)
    assert "coexistence: learned and collapsed both stable" in texts
    assert any("collapse threshold" in t for t in texts)
    (key,) = [
        h for h, t in zip(ax.get_legend().legend_handles, texts, strict=True) if "coexist" in t
    ]
    assert key.get_hatch() and key.get_facecolor()[:3] != (1.0, 1.0, 1.0)


def test_phase_diagram_leaves_out_a_line_outside_its_window():
    """M-beta's beta = eta line is listed when eta = 1 is inside the beta window, and neither
    drawn nor listed when the window stops below it."""
    from linvae.analysis.phase import penalty_diagram

    inside = plot_phase_diagram(
        penalty_diagram(Model(), Ms=np.arange(1, 3), betas=np.linspace(0.5, 2, 4))
    )
    outside = plot_phase_diagram(
        penalty_diagram(Model(), Ms=np.arange(1, 3), betas=np.linspace(0.1, 0.6, 4))
    )
    assert any("spare latents" in t for t in _legend_texts(inside))
    legend = outside.get_legend()
    assert legend is None or not any("spare latents" in t for t in _legend_texts(outside))


def test_log_axes_read_plain_numbers():
    """Log alpha (offline) and log gamma (annealing) tick labels are 2, 10, 0.1 ..., never
    2x10^0 mathtext."""
    off = offline_phase_diagram(np.geomspace(1.5, 12.0, 30), np.linspace(5e-4, 0.12, 20), lam=10.0)
    ax = plot_offline_phase_diagram(off)
    ax.figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels(minor=True) + ax.get_xticklabels()]
    shown = [t for t in labels if t]
    assert "10" in shown and "2" in shown
    assert not any("times" in t or "^" in t or "$" in t for t in shown), shown
    gamma = annealing_diagram(Model(tau=0.05), gammas=np.geomspace(0.01, 1.0, 4),
                              beta_finals=np.array([0.5, 1.0]))  # fmt: skip
    ax = plot_phase_diagram(gamma)
    ax.figure.canvas.draw()
    shown = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert shown and not any("^" in t or "$" in t for t in shown), shown


def test_offline_legend_lists_what_the_window_shows():
    """At lam = 10 over alpha in [1.5, 12], beta in [5e-4, 0.12]: alpha_BBP = 1, rho + eta = 2
    and the over-fitting phase lie outside, so none is drawn or listed; the strip is. Over
    alpha in [0.05, 100], beta in [0.01, 3] at lam = 1, all three are."""
    small = offline_phase_diagram(
        np.geomspace(1.5, 12.0, 30), np.linspace(5e-4, 0.12, 20), lam=10.0
    )
    ax = plot_offline_phase_diagram(small)
    texts = _legend_texts(ax)
    assert not any("BBP" in t or "online" in t or t == "over-fitting" for t in texts), texts
    assert "coexistence: learned and collapsed" in texts and "spinodal" in " ".join(texts)
    assert not any(ln.get_label().startswith(r"$\alpha_{BBP}") for ln in ax.get_lines())
    _assert_legend_off_the_axes(ax)
    assert ax.get_title().endswith(r"$\rho = 1$, $\eta = 1$, $\lambda = 10$")
    wide = offline_phase_diagram(np.geomspace(0.05, 100.0, 30), np.linspace(0.01, 3.0, 20), lam=1.0)
    texts = _legend_texts(plot_offline_phase_diagram(wide))
    assert any("BBP" in t for t in texts) and any("online" in t for t in texts)
    assert "over-fitting" in texts and "coexistence: learned and collapsed" not in texts


def test_hysteresis_legend_beside_the_axes_and_colour_bar_in_words():
    """The sweep's legend lies outside the axes (it covered a measured point inside), its
    line values in mathtext; a basin-fraction map has its colour bar in words."""
    h = beta_sweep(Model(rho=1.0, eta=1.0, lam=1.5, tau=0.05), np.array([0.03, 0.07, 0.12]),
                   N=10_000)  # fmt: skip
    ax = plot_hysteresis(h, points={r"SGD $N = 10^4$": ([0.07], [0.5])})
    _assert_legend_off_the_axes(ax)
    texts = _legend_texts(ax)
    assert r"SGD $N = 10^4$" in texts
    assert any(t.startswith("spinodal, $\\beta = ") for t in texts)

    pd = stability_diagram(Model(), betas=np.linspace(0.1, 3, 5), values=np.linspace(0.5, 2, 4))
    share = np.linspace(0.0, 1.0, 20).reshape(4, 5)
    basins = replace(pd, values={"learned_fraction": share}, default_value="learned_fraction")
    ax = plot_phase_diagram(basins)
    (bar,) = [a for a in ax.figure.axes if a is not ax]
    assert bar.get_ylabel() == "share of starts ending learned"
    assert "share of starts ending learned" in ax.get_title()
