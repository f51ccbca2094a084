"""Training: recipe, metrics, checkpoints, bitwise resume after a kill, sweeps, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conv_study import cli  # noqa: E402
from conv_study.data import DataConfig  # noqa: E402
from conv_study.train import (  # noqa: E402
    DivergenceError,
    TrainConfig,
    eval_seed,
    load_run,
    sweep,
    train,
    vae_loss_terms,
)

pytestmark = pytest.mark.torch

REPO = Path(__file__).resolve().parents[2]
# The tiny_npz fixture (conftest.py): 40 training images (80% of 50), 16 evaluation images.
N_TEST, BATCH = 16, 16


def data_config(path: str) -> DataConfig:
    return DataConfig(dataset="npz", path=path, n_eval=N_TEST)


def config(**changes) -> TrainConfig:
    values = {
        "latent_dim": 2,
        "epochs": 2,
        "batch_size": BATCH,
        "checkpoint_epochs": (0, 1),
        "num_threads": 1,
        "device": "cpu",
    }
    return TrainConfig(**{**values, **changes})


def strip_timing(records):
    return [
        {k: v for k, v in r.items() if k not in ("seconds", "images_per_second")} for r in records
    ]


def assert_same_checkpoint(path_a: Path, path_b: Path) -> None:
    a = torch.load(path_a, weights_only=True)
    b = torch.load(path_b, weights_only=True)
    assert a["epoch"] == b["epoch"]
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    for pid, state in a["optimizer"]["state"].items():
        for key, value in state.items():
            assert torch.equal(value, b["optimizer"]["state"][pid][key]), (pid, key)
    assert torch.equal(a["rng"]["shuffle"], b["rng"]["shuffle"])
    assert torch.equal(a["rng"]["noise"], b["rng"]["noise"])


# -- configuration --------------------------------------------------------------------------
def test_defaults_are_the_paper_recipe():
    c = TrainConfig()
    assert (c.epochs, c.batch_size, c.lr, c.weight_decay, c.beta) == (200, 256, 1e-3, 1e-4, 1.0)
    assert c.checkpoint_epochs == (0, 1, 2, 5, 10, 20, 50, 75, 100, 150, 200)
    assert TrainConfig(epochs=7, checkpoint_epochs=(5, 0, 10)).saved_epochs == (0, 5, 7)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"latent_dim": 0}, "latent_dim"),
        ({"lr": 0.0}, "lr"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"batch_size": 1}, "batch_size"),
        ({"checkpoint_epochs": (-1,)}, "checkpoint_epochs"),
        ({"checkpoint_epochs": (1, 2.5)}, r"`checkpoint_epochs\[1\]`"),
        ({"checkpoint_epochs": (True,)}, "checkpoint_epochs"),
        ({"num_threads": 0}, "num_threads"),
    ],
)
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_loss_terms_match_bce_on_sigmoid():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 1, 32, 32, generator=gen)
    x = torch.rand(3, 1, 32, 32, generator=gen)
    mu, logvar = torch.randn(3, 2, generator=gen), torch.randn(3, 2, generator=gen)
    recon, kl = vae_loss_terms(logits, x, mu, logvar)
    expected = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum")
    torch.testing.assert_close(recon, expected, rtol=1e-5, atol=0)  # float32 round-off
    # KL(N(mu, s^2) || N(0, 1)) summed, written out per coordinate.
    by_hand = sum(
        0.5 * (m**2 + np.exp(lv) - 1 - lv)
        for m, lv in zip(mu.flatten().tolist(), logvar.flatten().tolist(), strict=True)
    )
    assert kl.item() == pytest.approx(by_hand, rel=1e-5)


# -- a run ----------------------------------------------------------------------------------
def test_run_directory_metrics_and_load_run(tmp_path, tiny_npz):
    result = train(tmp_path / "run", data=data_config(tiny_npz), config=config())
    run = load_run(tmp_path / "run")
    assert run.complete and run.checkpoint_epochs == (0, 1, 2)
    assert result.epochs_trained == 2 and result.resumed_from is None
    records = run.metrics()
    assert [r["epoch"] for r in records] == [0, 1, 2]
    assert records[0]["train"] is None
    assert all(r["train"]["loss"] > 0 for r in records[1:])
    assert {p.name for p in (tmp_path / "run").iterdir()} == {
        "run.json",
        "metrics.jsonl",
        "eval_images.npy",
        "checkpoints",
        "done.json",
    }
    images = run.eval_images()
    assert images.shape == (N_TEST, 1, 32, 32) and images.dtype == np.float32
    # The eval metric is the true per-sample mean over the whole evaluation set.
    model = run.load_model(2)
    assert not model.training and model.latent_dim == 2
    x = torch.from_numpy(images)
    eps = torch.randn((N_TEST, 2), generator=torch.Generator().manual_seed(eval_seed(0, 2)))
    with torch.no_grad():
        mu, logvar = model.encode(x)
        logits = model.decode_logits(model.sample(mu, logvar, eps=eps))
        recon, kl = vae_loss_terms(logits, x, mu, logvar)
    assert records[2]["eval"]["recon"] == pytest.approx(recon.item() / N_TEST, rel=1e-6)
    assert records[2]["eval"]["kl"] == pytest.approx(kl.item() / N_TEST, rel=1e-6)
    with pytest.raises(ValueError, match="checkpointed epochs"):
        run.load_model(3)


def test_extending_a_run_equals_an_uninterrupted_run(tmp_path, tiny_npz):
    data = data_config(tiny_npz)
    train(tmp_path / "a", data=data, config=config(epochs=1, checkpoint_epochs=(0, 1)))
    resumed = train(tmp_path / "a", data=data, config=config(epochs=3, checkpoint_epochs=(0, 1)))
    assert resumed.resumed_from == 1 and resumed.epochs_trained == 2
    train(tmp_path / "b", data=data, config=config(epochs=3, checkpoint_epochs=(0, 1)))
    assert_same_checkpoint(
        tmp_path / "a/checkpoints/epoch_0003.pt", tmp_path / "b/checkpoints/epoch_0003.pt"
    )
    assert strip_timing(load_run(tmp_path / "a").metrics()) == strip_timing(
        load_run(tmp_path / "b").metrics()
    )


def test_refuses_a_different_run_and_no_resume(tmp_path, tiny_npz):
    data = data_config(tiny_npz)
    train(tmp_path / "r", data=data, config=config(epochs=0))
    with pytest.raises(ValueError, match="latent_dim: 2 -> 3"):
        train(tmp_path / "r", data=data, config=config(epochs=0, latent_dim=3))
    with pytest.raises(ValueError, match="already holds a run"):
        train(tmp_path / "r", data=data, config=config(epochs=0), resume=False)


def test_divergence_stops_with_a_clear_error(tmp_path, tiny_npz, monkeypatch):
    import conv_study.train as train_module

    def nan_loss(logits, x, mu, logvar):
        recon, kl = vae_loss_terms(logits, x, mu, logvar)
        return recon * float("nan"), kl

    monkeypatch.setattr(train_module, "vae_loss_terms", nan_loss)
    with pytest.raises(DivergenceError, match=r"epoch 1.*Lower `lr`"):
        train(tmp_path / "d", data=data_config(tiny_npz), config=config(epochs=1))
    assert load_run(tmp_path / "d").checkpoint_epochs == (0,)


# -- kill and resume ------------------------------------------------------------------------
def test_killed_training_resumes_bitwise(tmp_path, tiny_npz):
    """Kill a training subprocess mid-run, resume it, compare with an uninterrupted run."""
    killed = tmp_path / "killed"
    epochs = 40
    command = [
        sys.executable,
        "-m",
        "conv_study",
        "train",
        "--dataset",
        "npz",
        "--data",
        tiny_npz,
        "--n-eval",
        str(N_TEST),
        "--K",
        "2",
        "--epochs",
        str(epochs),
        "--batch-size",
        str(BATCH),
        "--threads",
        "1",
        "--device",
        "cpu",
        "--quiet",
        "--out",
        str(killed),
        "--checkpoints",
        *map(str, range(epochs + 1)),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (killed / "checkpoints" / "epoch_0002.pt").exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the training subprocess made no progress"
            time.sleep(0.02)
        time.sleep(0.1)  # land the kill at an arbitrary point of a later epoch
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stderr.close()
    last = load_run(killed).checkpoint_epochs[-1]
    assert 2 <= last < epochs

    final = last + 2
    settings = {"epochs": final, "checkpoint_epochs": tuple(range(final + 1))}
    resumed = train(killed, data=data_config(tiny_npz), config=config(**settings))
    assert resumed.resumed_from == last
    reference = tmp_path / "reference"
    train(reference, data=data_config(tiny_npz), config=config(**settings))
    for epoch in (last, final):
        name = f"checkpoints/epoch_{epoch:04d}.pt"
        assert_same_checkpoint(killed / name, reference / name)
    assert strip_timing(load_run(killed).metrics()) == strip_timing(load_run(reference).metrics())


def test_partial_files_of_a_killed_run_are_ignored(tmp_path, tiny_npz):
    data = data_config(tiny_npz)
    run_dir = tmp_path / "p"
    train(run_dir, data=data, config=config(epochs=1))
    # What a kill can leave: a temporary checkpoint and half a metrics line.
    (run_dir / "checkpoints" / ".epoch_0002.pt.abc.tmp").write_bytes(b"partial")
    with (run_dir / "metrics.jsonl").open("a") as log:
        log.write('{"epoch": 2, "tra')
    assert load_run(run_dir).checkpoint_epochs == (0, 1)
    result = train(run_dir, data=data, config=config(epochs=2))
    assert result.resumed_from == 1
    assert [r["epoch"] for r in result.metrics] == [0, 1, 2]


# -- sweeps and the command line ------------------------------------------------------------
def test_sweep_skips_finished_runs(tmp_path, tiny_npz):
    data = data_config(tiny_npz)
    first = sweep(tmp_path, datasets=[data], latent_dims=[2, 3], config=config(epochs=1))
    assert [(e.run_dir.name, e.skipped) for e in first] == [
        ("blobs-K2", False),
        ("blobs-K3", False),
    ]
    (tmp_path / "blobs-K3" / "done.json").unlink()  # as if K = 3 had been interrupted
    second = sweep(tmp_path, datasets=[data], latent_dims=[2, 3], config=config(epochs=1))
    assert [e.skipped for e in second] == [True, False]
    assert load_run(tmp_path / "blobs-K3").train_config.latent_dim == 3
    with pytest.raises(ValueError, match="lr"):
        sweep(tmp_path, datasets=[data], latent_dims=[2], config=config(epochs=1, lr=0.1))


def test_cli_train_and_sweep(tmp_path, tiny_npz, capsys):
    common = [
        "--dataset",
        "npz",
        "--data",
        tiny_npz,
        "--n-eval",
        str(N_TEST),
        "--epochs",
        "1",
        "--batch-size",
        str(BATCH),
        "--threads",
        "1",
        "--device",
        "cpu",
        "--quiet",
    ]
    assert cli.main(["train", *common, "--K", "2", "--out", str(tmp_path / "one")]) == 0
    assert load_run(tmp_path / "one").complete
    assert cli.main(["train", *common, "--K", "3", "--out", str(tmp_path / "one")]) == 2
    assert "different run" in capsys.readouterr().err
    assert cli.main(["sweep", *common, "--K", "2", "--out", str(tmp_path / "sw")]) == 0
    assert load_run(tmp_path / "sw" / "blobs-K2").complete
    assert cli.main(["train", "--dataset", "mnist", "--out", str(tmp_path / "x")]) == 2
    assert "data_dir" in capsys.readouterr().err


def test_cli_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in ("train", "sweep", "download"))
    json.dumps(out)
