"""Tests of conv_study.linear.study: measured vs predicted along SGD; its command line, figures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conv_study.cli import main
from conv_study.linear import LAW_REPRESENTATIONS, REPRESENTATIONS, linear_geometry
from linvae import Model

# Points per estimate and draws per prediction in the measured-vs-predicted tests.
N_POINTS, REPEATS = 600, 16


# Three regimes (rho = eta = 1, so beta* = 2 and spare latents fit noise below beta = eta):
# learned, collapsed, and one spare latent (M = 2 > M* = 1) fitting noise.
CASES = {
    "learned": Model(beta=0.5, tau=0.1),
    "collapsed": Model(beta=3.0, tau=0.1),
    "superfluous": Model(M=2, beta=0.5, tau=0.1),
}


@pytest.fixture(scope="module")
def geometries():
    return {
        name: linear_geometry(
            model,
            N=200,
            times=[0, 150] if name == "learned" else [150],
            n_points=N_POINTS,
            repeats=REPEATS,
            ode=False,
            rng=7,
        )
        for name, model in CASES.items()
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_predicted_geometry_matches_measured(geometries, case):
    """The estimators on the law agree with the estimators on the held-out representations.

    Given the weights the law is exact, so a measurement is one draw of what the prediction
    averages over REPEATS draws: their difference has standard deviation
    sigma sqrt(1 + 1/REPEATS), with sigma the spread of the draws. With sigma estimated from
    16 draws, 6 of them bound the difference for any seed (Student t, 15 degrees of freedom:
    probability 2e-5 per number, 16 numbers per time); 2/n, one rank step of the imbalance,
    covers quantities the law fixes exactly (Delta(z -> reconstruction) for M = 1).
    """
    res = geometries[case]
    for meas, pred in zip(res.measured, res.predicted, strict=True):
        scale = 6 * np.sqrt(1 + 1 / REPEATS)
        idx = [meas.names.index(n) for n in pred.names]
        got_imb = meas.imbalance[np.ix_(idx, idx)]
        off = ~np.eye(len(idx), dtype=bool)
        tol = scale * pred.imbalance_std + 2 / N_POINTS
        bad = np.abs(got_imb - pred.imbalance)[off] > tol[off]
        assert not bad.any(), (case, got_imb, pred.imbalance, pred.imbalance_std)
        tol_id = scale * pred.id_std + 1e-9
        assert np.all(np.abs(meas.id[idx] - pred.id) <= tol_id), (case, meas.id, pred.id)


def test_collapse_is_seen_by_z_not_by_mu(geometries):
    """Learning lowers Delta(mu -> c); collapse shows in z, and not in the direction of mu.

    Learned, mu is as informative as the data allow along the spike (correlation^2
    rho / (rho + eta) = 1/2: Delta about 0.78 at this n), down from about 1 at the random
    initialization; z adds the encoder noise D (Delta(z -> c) about 0.85). Collapsed, z is
    the prior's noise (Delta about 1), but mu, though it vanishes (E -> 0), shrinks along the
    signal direction slowest of all and keeps the learned mu's neighbourhoods
    (docs/linear-geometry.md). The comparisons use the predictions (means of REPEATS draws,
    which the previous test ties to the measurements), whose spread is sigma / sqrt(REPEATS);
    a gap must exceed 3 times the combined spread.
    """
    learned, collapsed = geometries["learned"], geometries["collapsed"]
    assert learned.order_parameters.d[-1, 0, 0] ** 2 > 0.2  # it has learned
    assert collapsed.order_parameters.E[-1, 0, 0] < 1e-3  # it has collapsed

    def gap_needed(*geos, pair):
        return 3 * np.sqrt(sum(g.delta_std(*pair) ** 2 for g in geos) / REPEATS)

    start, end, off = learned.predicted[0], learned.predicted[-1], collapsed.predicted[-1]
    pair = ("mu", "c")
    assert end.delta(*pair) < start.delta(*pair) - gap_needed(start, end, pair=pair)
    for pair in (("z", "c"), ("c", "z")):
        assert end.delta(*pair) < off.delta(*pair) - gap_needed(end, off, pair=pair), pair
    # Collapsed mu: near the learned value (about 0.78), far below the 1 of noise.
    assert off.delta("mu", "c") < 0.9 and collapsed.measured[-1].delta("mu", "c") < 0.9


def test_spare_latent_fitting_noise_adds_a_dimension(geometries):
    """For beta < eta the spare latent fits noise: ID(mu) is about 2 instead of 1, and c's
    neighbours are scattered along the noise direction (Delta(c -> mu) rises, on the
    predictions, by more than 3 times the combined spread of two means of REPEATS draws).

    The 2NN estimate of a Gaussian in 1 or 2 dimensions at n = 600 is within 0.1 of the
    dimension (its spread here is about 0.05); 0.3 leaves room for the anisotropy of mu.
    """
    one, two = geometries["learned"], geometries["superfluous"]
    assert abs(one.measured[-1].id_of("mu") - 1) < 0.3
    assert abs(two.measured[-1].id_of("mu") - 2) < 0.3
    p1, p2 = one.predicted[-1], two.predicted[-1]
    spread = np.hypot(p1.delta_std("c", "mu"), p2.delta_std("c", "mu")) / np.sqrt(REPEATS)
    assert p2.delta("c", "mu") > p1.delta("c", "mu") + 3 * spread


def test_study_offers_the_moved_names_and_documents_its_own():
    """conv_study.linear.study still offers the names of geometry.py and snapshots.py (the same
    objects), and its block on the API page lists exactly the names it defines itself."""
    import re
    from pathlib import Path

    from conv_study.linear import geometry, snapshots, study

    for module in (geometry, snapshots):
        for name in module.__all__:
            assert getattr(study, name) is getattr(module, name) and name in study.__all__
    own = {name for name in study.__all__ if getattr(study, name).__module__ == study.__name__}
    page = Path(__file__).resolve().parents[3] / "docs" / "api" / "conv_study.md"
    listed = re.search(
        r"::: conv_study\.linear\.study\n +options:\n +members: \[(.*)\]", page.read_text()
    )
    assert listed is not None and set(listed.group(1).split(", ")) == own


def _strict(text):
    def reject(value):
        raise ValueError(f"non-strict JSON constant {value}")

    return json.loads(text, parse_constant=reject)


def test_cli_linear_json_and_figures(tmp_path, capsys):
    code = main(
        ["linear", "--N", "100", "--times", "0", "10", "--points", "100", "--repeats", "2",
         "--seed", "1", "--out", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    # With --out the whole result is in geometry.json; stdout gets a summary of it.
    summary = _strict(capsys.readouterr().out)
    out = _strict((tmp_path / "geometry.json").read_text())
    assert summary["json"] == str(tmp_path / "geometry.json") and summary["complete"] is True
    assert summary["t"] == [0.0, 10.0] and len(summary["figures"]) == 2
    assert summary["last"]["id_measured"] == out["times"][-1]["measured"]["id"]
    assert out["representations"] == list(REPRESENTATIONS)
    assert [e["t"] for e in out["times"]] == [0.0, 10.0]
    last = out["times"][-1]
    assert set(last["measured"]["imbalance"]) >= {"mu->c", "c->mu", "x->c", "z->reconstruction"}
    assert set(last["predicted"]["id"]) == set(LAW_REPRESENTATIONS)
    assert "predicted_ode" in last
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "geometry.json",
        "linear-profile.png",
        "linear-time.png",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--times", "5", "2"], "--times must be increasing"),
        (["--times", "10", "--t-max", "5"], "--times goes beyond --t-max"),
        (["--points", "3"], "--points must be at least 10"),
        (["--tau", "-1"], "`tau` parameter of Model"),
        (["--anneal", "tanh"], "--anneal tanh needs --gamma"),
        (["--N", "1", "--M", "2"], "--N must be at least"),
        (["--seed", "-4"], "--seed must be >= 0"),
        (["--out", "/dev/null/sub/out"], "--out /dev/null/sub/out: /dev/null is not a folder"),
    ],
)
def test_cli_linear_bad_input(argv, message, capsys):
    assert main(["linear", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("conv-study linear: error: ")
    assert message in err[0]


def test_docs_synopsis_shows_the_real_defaults():
    """docs/linear-geometry.md, "Command line": every ``[--option value]`` of the synopsis is the
    parser's default (t-max through the default measurement times)."""
    import re
    from pathlib import Path

    from conv_study.cli import build_parser
    from conv_study.cli.linear import _times

    page = Path(__file__).resolve().parents[3] / "docs" / "linear-geometry.md"
    synopsis = page.read_text().split("```text\nconv-study linear", 1)[1].split("```", 1)[0]
    shown = dict(re.findall(r"\[--([a-zA-Z-]+) ([0-9.]+)", synopsis))
    args = build_parser().parse_args(["linear"])
    defaults = {k.replace("_", "-"): v for k, v in vars(args).items()}
    defaults["t-max"] = _times(args)[-1]
    defaults["rho"] = args.rho if np.ndim(args.rho) == 0 else args.rho[0]
    assert {"N", "tau", "t-max", "points", "repeats", "seed"} <= set(shown)
    for name, value in shown.items():
        assert float(value) == pytest.approx(float(defaults[name]), rel=0, abs=0), name


def test_linear_figures_150_dpi_readable_titles_and_a_real_legend(geometries, tmp_path):
    import matplotlib
    from PIL import Image

    from conv_study.linear import figures

    matplotlib.use("Agg")
    result = geometries["learned"]
    kept = {}
    save = figures._save

    def keep(fig, path):
        fig.canvas.draw()
        kept[path.name] = fig
        save(fig, path)

    mp = pytest.MonkeyPatch()
    mp.setattr(figures, "_save", keep)
    try:
        paths = figures.make_figures(result, tmp_path)
    finally:
        mp.undo()
    for path in paths:
        with Image.open(path) as image:
            assert min(image.info["dpi"]) >= 150 - 0.01, path.name  # PNG stores dots per metre
    for name, fig in kept.items():
        for ax in fig.axes:
            assert ax.get_xlabel() and ax.title.get_fontsize() >= 10, (name, ax.get_title())
            assert "beta" not in ax.get_title() and " M* " not in ax.get_title()
        assert "$N = " in fig._suptitle.get_text() and r"\tau" in fig._suptitle.get_text()
    # The style key is a legend of the figure, not a string in a title.
    (key,) = kept["linear-time.png"].legends
    texts = [t.get_text() for t in key.get_texts()]
    assert texts[:2] == ["measured (held-out sample)", "law of the run's order parameters"]
