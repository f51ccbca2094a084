"""The figure set as a registry: its names, stages and files; selection; the driver.

The whole quick set (every figure, the manifest's numbers) is run by
tests/linvae/cli/test_analysis_cli.py::test_reproduce_quick (slow); here one quick figure of
the real set, and the driver on a registry of cheap stand-in figures.
"""

from __future__ import annotations

import json

import pytest
from matplotlib.figure import Figure

import linvae.reproduce.run
from linvae.cli import main
from linvae.reproduce import FIGURES, Computed, FigureSet, FigureSpec, Stage, reproduce
from linvae.utils.process import FolderLocked

MANIFEST_KEYS = [
    "out",
    "quick",
    "complete",
    "settings",
    "figures",
    "numbers",
    "wall_time_s",
    "linvae_version",
]

# The files the set wrote before it was a registry (the figures the docs show).
FIGURE_NAMES = (
    "learning_curves",
    "order_parameters",
    "eps_g_vs_beta",
    "superfluous",
    "annealing",
    "phase_beta_rho",
    "phase_beta_lam",
    "phase_gamma_beta_f",
    "phase_M_beta",
    "offline-eps_g_vs_alpha",
    "offline-phase_alpha_beta",
    "offline-rate_distortion",
    "offline-one_pass_vs_offline",
)


def test_the_set_names_its_figures_stages_and_files():
    assert FIGURES.names == FIGURE_NAMES
    assert [s.name for s in FIGURES.stages] == [
        "learning_curves",
        "order_parameters",
        "eps_g_vs_beta",
        "superfluous",
        "annealing",
        "phase",
        "offline",
    ]
    assert FIGURES["phase_M_beta"].files == ("phase_M_beta.png", "phase_M_beta.pdf")
    assert sum(len(f.files) for f in FIGURES) == 26
    assert {f.stage.section for f in FIGURES} == {None, "phase_diagrams", "offline"}


def test_selection_by_figure_or_stage_keeps_the_set_order():
    chosen = FIGURES.select(["offline-rate_distortion", "phase", "learning_curves"])
    assert [f.name for f in chosen] == [
        "learning_curves",
        "phase_beta_rho",
        "phase_beta_lam",
        "phase_gamma_beta_f",
        "phase_M_beta",
        "offline-rate_distortion",
    ]
    assert FIGURES.select(None) == FIGURES.select([]) == tuple(FIGURES)


def test_the_plan_adds_what_a_figure_needs_first():
    plan = FIGURES.plan(FIGURES.select(["eps_g_vs_beta", "phase_gamma_beta_f"]))
    assert [f.name for f in plan] == [
        "learning_curves",
        "eps_g_vs_beta",
        "annealing",
        "phase_gamma_beta_f",
    ]


def test_an_unknown_name_is_refused_with_the_names_there_are(tmp_path):
    with pytest.raises(ValueError, match=r"`figures` parameter of reproduce .*'phase_x'.*"):
        FIGURES.select(["phase", "phase_x"])
    with pytest.raises(ValueError, match="stages: learning_curves, order_parameters"):
        reproduce(tmp_path, figures=["nope"], progress=False)
    assert not (tmp_path / "manifest.json").exists()  # refused before any work


def _stand_in(name, stage, needs=(), value=1.0):
    def compute(ctx):
        got = {need: ctx.results[need].numbers[need] for need in needs}
        return Computed({name: value + sum(got.values())}, {"y": [0.0, value]})

    def draw(computed, ctx):
        fig = Figure(figsize=(2, 2))
        fig.subplots().plot(computed.data["y"])
        return fig

    return FigureSpec(name=name, stage=stage, compute=compute, draw=draw, needs=needs)


def test_registry_construction_errors():
    top = Stage(name="top", description="top")
    with pytest.raises(ValueError, match="Two figures of the set are named 'a'"):
        FigureSet([_stand_in("a", top), _stand_in("a", top)])
    with pytest.raises(ValueError, match=r"'b' needs \['a'\], which are not earlier"):
        FigureSet([_stand_in("b", top, needs=("a",)), _stand_in("a", top)])


@pytest.fixture
def stand_in_set(monkeypatch):
    """A registry of three cheap figures in two stages, one in a manifest section."""
    top = Stage(name="top", description="top level")
    sec = Stage(name="sec", description="in a section", section="part", header=lambda c: {"h": 7})
    figures = FigureSet(
        [
            _stand_in("a", top, value=1.0),
            _stand_in("b", top, value=2.0),
            _stand_in("c", sec, needs=("a",), value=10.0),
        ]
    )
    monkeypatch.setattr(linvae.reproduce.run, "FIGURES", figures)
    return figures


def test_the_driver_draws_the_selection_and_records_what_it_computed(tmp_path, stand_in_set):
    manifest = reproduce(tmp_path, quick=True, progress=False, figures=["c"])
    assert list(manifest) == MANIFEST_KEYS
    assert manifest["complete"] is True
    # "a" is computed for "c" (its numbers recorded) but not drawn; "b" is not computed.
    assert manifest["figures"] == ["c.png", "c.pdf"]
    assert manifest["numbers"] == {"a": 1.0, "part": {"h": 7, "c": 11.0}}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pdf", "c.png", "manifest.json"]
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest


def test_the_driver_shows_a_bar_labelled_by_stage(tmp_path, stand_in_set, capsys):
    """tqdm's bar over the three figures, its label the current stage, then one closing line."""
    reproduce(tmp_path, progress=True)
    err = capsys.readouterr().err
    assert "[1/2] top level" in err and "[2/2] in a section" in err
    assert "3/3 figures" in err
    assert err.splitlines()[-1].startswith("done: 6 files in ")


def test_an_interrupted_run_keeps_the_finished_figures(tmp_path, stand_in_set, monkeypatch):
    """Ctrl-C during a figure: the manifest lists the figures done, ``complete`` false."""

    def interrupted(ctx):
        raise KeyboardInterrupt

    a, b, _ = stand_in_set
    broken = FigureSpec(name="b", stage=b.stage, compute=interrupted, draw=b.draw)
    monkeypatch.setattr(linvae.reproduce.run, "FIGURES", FigureSet([a, broken]))
    with pytest.raises(KeyboardInterrupt):
        reproduce(tmp_path, progress=False)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["complete"] is False
    assert manifest["figures"] == ["a.png", "a.pdf"]
    assert manifest["numbers"] == {"a": 1.0}


def test_a_folder_being_written_is_refused(tmp_path, stand_in_set):
    from linvae.utils.process import folder_lock

    with folder_lock(tmp_path, "another writer"):
        with pytest.raises(FolderLocked, match="The `out_dir` folder of reproduce"):
            reproduce(tmp_path, progress=False)


def test_one_quick_figure_of_the_real_set(tmp_path):
    """``phase_beta_rho`` alone: its two files, and its numbers under ``phase_diagrams``."""
    manifest = reproduce(tmp_path, quick=True, progress=False, figures=["phase_beta_rho"])
    assert list(manifest) == MANIFEST_KEYS
    assert manifest["figures"] == ["phase_beta_rho.png", "phase_beta_rho.pdf"]
    for name in manifest["figures"]:
        assert (tmp_path / name).stat().st_size > 1000
    diagram = manifest["numbers"]["phase_diagrams"]["phase_beta_rho"]
    assert list(manifest["numbers"]) == ["phase_diagrams"]
    assert diagram["kind"] == "beta-rho"
    assert diagram["shape"] == [manifest["settings"]["phase_n"]] * 2 == [30, 30]
    assert diagram["x_range"] == [0.02, 4.0] and diagram["y_range"] == [0.05, 3.0]


def test_the_command_line_selects_figures_comma_or_space_separated(
    tmp_path, stand_in_set, monkeypatch, capsys
):
    monkeypatch.setattr(linvae.reproduce, "FIGURES", stand_in_set)
    argv = ["reproduce", "--out", str(tmp_path), "--quiet", "--figures", "c,b", "a"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["figures"] == 6
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["figures"] == ["a.png", "a.pdf", "b.png", "b.pdf", "c.png", "c.pdf"]


def test_the_command_line_refuses_an_unknown_figure_before_any_output(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["reproduce", "--out", str(out), "--figures", "phase", "phase_x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("linvae reproduce: error: --figures names no figure or stage")
    assert "['phase_x']" in err and "phase_beta_rho" in err and len(err.splitlines()) == 1
    assert not out.exists()
