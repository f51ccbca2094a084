"""The plot package: a light face, shared labels, every figure drawn and saved."""

from __future__ import annotations

import subprocess
import sys

import matplotlib
import numpy as np
import pytest

from linvae import Model, OrderParameters, Trajectory
from linvae.trajectory import OBSERVABLE_NAMES

matplotlib.use("Agg")


def test_face_is_light_and_lists_every_figure():
    code = (
        "import sys, linvae.plot as p; "
        "assert 'matplotlib' not in sys.modules, 'import linvae.plot loaded matplotlib'; "
        "print(' '.join(p.__all__))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert {"save_figure", "plot_observable", "plot_compare", "plot_phase_diagram"} <= set(out)
    assert {"plot_error_vs_beta", "plot_finite_size_scaling"} <= set(out)


def test_every_observable_and_axis_has_a_label():
    from linvae.plot.labels import LABELS, axis_label

    for name in (*OBSERVABLE_NAMES, "beta", "rho", "eta", "lam", "gamma", "beta_f", "M"):
        assert LABELS[name].startswith("$") and LABELS[name].endswith("$")
    assert axis_label("Q", (0, 1)) == "$Q$$_{1,2}$"


def _small_run(S=2, n_t=11):
    rng = np.random.default_rng(0)
    op = OrderParameters(
        m=0.1 + 0.01 * rng.normal(size=(S, n_t, 1, 1)),
        d=0.1 + 0.01 * rng.normal(size=(S, n_t, 1, 1)),
        Q=np.ones((S, n_t, 1, 1)),
        E=np.ones((S, n_t, 1, 1)),
        R=np.zeros((S, n_t, 1, 1)),
        D=np.ones((S, n_t, 1)),
    )
    return Trajectory.from_order_parameters(
        np.linspace(0, 10, n_t), op, model=Model(), source="sgd", N=100
    )


def test_save_figure_twice_then_closed(tmp_path):
    import matplotlib.pyplot as plt

    from linvae.plot import plot_observable, save_figure

    ax = plot_observable(_small_run(), "m", logy=False)
    assert ax.get_ylabel() == "$m$"
    png = save_figure(ax.figure, tmp_path / "sub" / "f.png")
    pdf = save_figure(ax.figure, tmp_path / "sub" / "f.pdf")
    assert png.stat().st_size > 1000 and pdf.stat().st_size > 1000
    assert ax.figure.number not in plt.get_fignums()


def test_plot_error_vs_beta_marks_eta_and_beta_star():
    from linvae.plot import plot_error_vs_beta

    betas = np.linspace(0.1, 2.5, 20)
    ax = plot_error_vs_beta(
        betas, {"curve": betas**2}, eta=1.0, beta_star=2.0, points={"pts": ([1.0], [1.0], None)}
    )
    texts = {t.get_text() for t in ax.get_legend().get_texts()}
    assert texts == {"curve", "pts", r"$\beta=\eta$", r"$\beta^*=\rho+\eta$"}


def test_plot_finite_size_scaling_saves(tmp_path):
    from linvae.analysis.finite_size import FiniteSizeScaling
    from linvae.plot import plot_finite_size_scaling

    N = np.array([100, 400, 1600])
    fss = FiniteSizeScaling(
        N=N,
        deviation=0.5 * N**-0.5,
        deviation_err=0.01 * N**-0.5,
        exponent=-0.5,
        exponent_err=0.01,
        amplitude=0.5,
        chi2=0.0,
        observable="eps_g",
        result=None,
    )
    path = tmp_path / "fss.png"
    ax = plot_finite_size_scaling(fss, path=path)
    assert path.stat().st_size > 1000
    assert r"\varepsilon_g^{SGD}" in ax.get_ylabel()


@pytest.mark.parametrize("name", ["beta_star", "beta_eta", "gamma_c", "eps_g_star"])
def test_phase_labels_are_mathtext(name):
    from matplotlib.mathtext import MathTextParser

    from linvae.plot.labels import LABELS

    MathTextParser("agg").parse(LABELS[name])  # raises on bad mathtext
