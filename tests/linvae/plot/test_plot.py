"""The plot package: a light face, shared labels, every figure drawn and saved."""

from __future__ import annotations

import json
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


# ----------------------------------------------------------------- what a figure shows
def _drawn_y(ax) -> np.ndarray:
    """Every y value drawn on ``ax`` by lines and filled bands (NaN gaps left out)."""
    ys = [np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()]
    for coll in ax.collections:
        for path in coll.get_paths():
            ys.append(path.vertices[:, 1])
    y = np.concatenate([v.ravel() for v in ys]) if ys else np.empty(0)
    return y[np.isfinite(y)]


def assert_readable_axes(fig) -> None:
    """Every visible panel has both axis labels; a log axis has tick labels and nothing
    non-positive drawn on it."""
    fig.canvas.draw()
    for ax in fig.axes:
        if not ax.get_visible() or ax.get_label() == "<colorbar>":
            continue
        assert ax.get_xlabel() and ax.get_ylabel(), ax
        if ax.get_yscale() == "log":
            labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
            lo, hi = ax.get_ylim()
            assert labels, f"no tick labels on the log axis of {ax.get_ylabel()}"
            assert np.all(_drawn_y(ax) > 0)
            assert lo > 0 and hi > lo


def _spread_run(S=3, n_t=21):
    """A run whose eps_g spreads over seeds by more than its mean: mean - std < 0 at times."""
    rng = np.random.default_rng(3)
    m = rng.uniform(0.0, 1.0, size=(S, n_t, 1, 1))
    op = OrderParameters(
        m=m,
        d=m,
        Q=m**2 + rng.uniform(0, 1e-3, size=(S, n_t, 1, 1)),
        E=np.ones((S, n_t, 1, 1)),
        R=np.zeros((S, n_t, 1, 1)),
        D=np.ones((S, n_t, 1)),
    )
    return Trajectory.from_order_parameters(
        np.linspace(0, 20, n_t), op, model=Model(), source="sgd", N=100
    )


def test_log_band_is_the_16_84_quantile_band_where_mean_minus_std_is_negative():
    from linvae.plot import plot_observable
    from linvae.plot.trajectory import BAND_LABELS

    run = _spread_run()
    mean, std = run.mean("eps_g"), run.std("eps_g")
    assert np.any(mean - std < 0)  # the case of the issue: the band would dive to the floor
    ax = plot_observable(run, "eps_g", logy=True)
    assert_readable_axes(ax.figure)
    (band,) = ax.collections
    # fill_between's outline: a start vertex, the lower edge forward, an end vertex, the
    # upper edge back; the lower edge is exactly the 16 % quantile over seeds.
    vertices = band.get_paths()[0].vertices
    low = np.quantile(run.eps_g, 0.16, axis=0)
    high = np.quantile(run.eps_g, 0.84, axis=0)
    assert np.all(low > 0)
    n_t = run.t.size
    np.testing.assert_array_equal(vertices[1 : n_t + 1, 1], low)
    np.testing.assert_array_equal(vertices[n_t + 2 : 2 * n_t + 2, 1][::-1], high)
    assert vertices[:, 1].min() == low.min() > 0
    # The legend says what the band is.
    legend = {t.get_text() for t in ax.get_legend().get_texts()}
    assert BAND_LABELS["quantile"] in legend and "16\N{EN DASH}84 %" in BAND_LABELS["quantile"]


def test_linear_band_is_mean_plus_minus_std_and_named_once_for_several_runs():
    from linvae.plot import plot_observable
    from linvae.plot.trajectory import BAND_LABELS

    run = _spread_run()
    ax = plot_observable([run, run], "m", labels=["a", "b"])
    mean, std = run.mean("m")[:, 0, 0], run.std("m")[:, 0, 0]
    vertices = ax.collections[0].get_paths()[0].vertices
    n_t = run.t.size
    # mean and std over seeds computed two ways (ddof=1 both): float64 round-off only.
    np.testing.assert_allclose(vertices[1 : n_t + 1, 1], mean - std, rtol=0, atol=1e-14)
    np.testing.assert_allclose(vertices[n_t + 2 : 2 * n_t + 2, 1][::-1], mean + std, atol=1e-14)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["a", BAND_LABELS["std"], "b"]  # the band's meaning once, not per run
    with pytest.raises(ValueError, match="`band` parameter of plot_observable"):
        plot_observable(run, "m", band="sem")


def test_compare_figure_has_one_shared_legend_outside_the_panels():
    from linvae.plot import plot_compare

    run = _spread_run()
    first_seed = OrderParameters(**{k: v[:1] for k, v in run.order_parameters().as_dict().items()})
    ode = Trajectory.from_order_parameters(run.t, first_seed, model=run.model, source="ode")
    fig = plot_compare(run, ode, names=("eps_g", "m", "Q", "D"))
    assert_readable_axes(fig)
    assert "$\\rho = 1$" in fig._suptitle.get_text()  # symbols, not code names
    assert [ax.get_legend() for ax in fig.axes] == [None] * 4
    (legend,) = fig.legends
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts == ["SGD mean, $N = 100$, 3 seeds", "SGD 16\N{EN DASH}84 % of seeds", "ODE"]
    # Outside the panels: the legend's box overlaps none of the axes.
    renderer = fig.canvas.get_renderer()
    box = legend.get_window_extent(renderer)
    assert not any(box.overlaps(ax.get_window_extent(renderer)) for ax in fig.axes)


@pytest.mark.parametrize(
    ("schedule", "text"),
    [
        ("TanhAnneal(beta_final=1.0, gamma=0.002)", r"$\beta(t) = \tanh(0.002\,t)$"),
        ("TanhAnneal(beta_final=0.5, gamma=0.01)", r"$\beta(t) = 0.5\,\tanh(0.01\,t)$"),
        ("Constant(beta=0.5)", r"$\beta = 0.5$"),
        (
            "LinearRamp(beta_initial=0.0, beta_final=1.0, t_ramp=100.0)",
            r"$\beta(t)$ from $0$ to $1$ linearly until $t = 100$",
        ),
        (
            "StepSchedule(beta_initial=0.2, beta_final=1.0, t_switch=50.0)",
            r"$\beta = 0.2$, then $1$ from $t = 50$",
        ),
    ],
)
def test_schedule_labels_are_mathtext_without_a_factor_of_one(schedule, text):
    from matplotlib.mathtext import MathTextParser

    from linvae import schedules
    from linvae.plot.labels import schedule_text

    got = schedule_text(eval(schedule, vars(schedules)))
    assert got == text
    parser = MathTextParser("agg")
    for k, part in enumerate(got.split("$")):
        if k % 2:  # every symbol inside $...$, and each such span valid mathtext
            parser.parse(f"${part}$")
        else:
            assert "beta" not in part and "tau" not in part  # no symbol in plain text


def test_phase_diagram_in_words_with_labelled_regions_and_an_analytic_boundary():
    from linvae.analysis.phase import penalty_diagram, stability_diagram
    from linvae.plot import plot_phase_diagram

    diagram = stability_diagram(
        Model(), betas=np.linspace(0.1, 4, 15), values=np.linspace(0.1, 3, 12)
    )
    ax = plot_phase_diagram(diagram)
    title = ax.get_title()
    assert "beta-rho" not in title and "eps_g_star" not in title
    assert "Posterior collapse" in title and r"\varepsilon_g^*" in title
    assert {t.get_text() for t in ax.texts} >= {"learned", "collapsed"}
    # beta* is the analytic line, not a contour of the grid's labels (a staircase).
    assert not [c for c in ax.collections if type(c).__name__ == "ContourSet"]
    (star,) = [ln for ln in ax.get_lines() if "collapse threshold" in ln.get_label()]
    np.testing.assert_array_equal(star.get_xdata(), diagram.boundary["beta_star"])
    assert_readable_axes(ax.figure)

    ax = plot_phase_diagram(
        penalty_diagram(Model(), Ms=np.arange(1, 5), betas=np.linspace(0.1, 2, 9))
    )
    ax.figure.canvas.draw()
    ticks = [float(t) for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
    assert ticks and all(t == int(t) for t in ticks)  # M is a whole number


# ----------------------------------------------------------------- linvae compare
def test_compare_cli_refuses_an_ode_as_the_run_and_overlays_a_saved_ode(tmp_path, capsys):
    from linvae.cli import main

    run = _small_run(S=3).save(tmp_path / "run.npz")
    ode = tmp_path / "ode.npz"
    assert main(["ode", "--init", str(run), "--out", str(ode)]) == 0
    capsys.readouterr()

    # An ODE solution given as the run: exit 2, one line naming it and the way to pass it.
    assert main(["compare", str(ode), "--out", str(tmp_path / "x.png")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "is an ODE solution" in line and f"--ode {ode}" in line
    # ... and a simulation given as --ode.
    assert main(["compare", str(run), "--ode", str(run), "--out", str(tmp_path / "y.png")]) == 2
    assert "is a simulation, not an ODE solution" in capsys.readouterr().err
    # --save-ode with --ode would write nothing: refused rather than ignored.
    argv = ["compare", str(run), "--ode", str(ode), "--save-ode", str(tmp_path / "s.npz")]
    assert main([*argv, "--out", str(tmp_path / "z.png")]) == 2
    assert "Drop --save-ode" in capsys.readouterr().err
    assert not [p for p in ("x.png", "y.png", "z.png", "s.npz") if (tmp_path / p).exists()]

    # The saved ODE overlaid equals the one compare solves in place: same numbers, same image.
    solved = tmp_path / "solved.npz"
    argv = ["compare", str(run), "--out", str(tmp_path / "a.png"), "--save-ode", str(solved)]
    assert main(argv) == 0
    in_place = json.loads(capsys.readouterr().out)
    assert main(["compare", str(run), "--ode", str(ode), "--out", str(tmp_path / "b.png")]) == 0
    given = json.loads(capsys.readouterr().out)
    a, b = Trajectory.load(solved), Trajectory.load(ode)
    for name in OBSERVABLE_NAMES:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert in_place["max_abs_eps_g_gap"] == given["max_abs_eps_g_gap"]
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_saved_figures_are_150_dpi_or_more(tmp_path):
    from PIL import Image

    from linvae.plot import plot_observable, save_figure

    path = save_figure(plot_observable(_small_run(), "eps_g", logy=True).figure, tmp_path / "f.png")
    with Image.open(path) as image:
        assert min(image.info["dpi"]) >= 150 - 0.01  # PNG stores dots per metre: rounding
