"""Training: recipe, metrics, checkpoints, bitwise resume after a kill, sweeps, CLI."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conv_study import cli  # noqa: E402
from conv_study.data import DataConfig  # noqa: E402
from conv_study.device import cpu_has_bfloat16  # noqa: E402
from conv_study.epoch import vae_loss_terms  # noqa: E402
from conv_study.train import DivergenceError, TrainConfig, load_run, sweep, train  # noqa: E402
from conv_study.train_state import eval_seed  # noqa: E402

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
    return [{k: v for k, v in r.items() if k not in _TIMING} for r in records]


_TIMING = ("seconds", "train_seconds", "eval_seconds", "images_per_second")


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
    import conv_study.epoch as epoch_module

    def nan_loss(logits, x, mu, logvar):  # NaN in training only (gradients on)
        recon, kl = vae_loss_terms(logits, x, mu, logvar)
        return (recon * float("nan") if torch.is_grad_enabled() else recon), kl

    monkeypatch.setattr(epoch_module, "vae_loss_terms", nan_loss)
    with pytest.raises(DivergenceError, match=r"epoch 1.*Lower `lr`"):
        train(tmp_path / "d", data=data_config(tiny_npz), config=config(epochs=1))
    assert load_run(tmp_path / "d").checkpoint_epochs == (0,)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_diverged_evaluation_is_strict_json_and_stops(value, tmp_path, tiny_npz, monkeypatch):
    """metrics.jsonl held NaN tokens (not JSON) when a loss was not finite."""
    import conv_study.epoch as epoch_module
    import conv_study.train as train_module

    def bad_eval(logits, x, mu, logvar):  # the evaluation's loss blows up from epoch 1
        recon, kl = vae_loss_terms(logits, x, mu, logvar)
        if not torch.is_grad_enabled() and calls["train"]:
            recon = recon * value
        return recon, kl

    calls = {"train": 0}
    real_epoch = train_module.train_epoch

    def counting_epoch(*args, **kwargs):
        calls["train"] += 1
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(epoch_module, "vae_loss_terms", bad_eval)
    monkeypatch.setattr(train_module, "train_epoch", counting_epoch)
    run_dir = tmp_path / "e"
    with pytest.raises(DivergenceError, match=r"Evaluation diverged in epoch 1.*null in"):
        train(run_dir, data=data_config(tiny_npz), config=config(epochs=3))
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2  # epochs 0 and 1: it stopped at the first bad one

    def refuse(token):
        raise AssertionError(f"non-strict JSON token {token}")

    last = json.loads(lines[-1], parse_constant=refuse)
    assert last["epoch"] == 1 and last["eval"]["recon"] is None and last["eval"]["loss"] is None
    assert "training diverged" in last["null_reasons"]["eval.recon"]
    assert math.isfinite(last["eval"]["kl"])
    assert load_run(run_dir).checkpoint_epochs == (0,)  # the diverged weights are not saved


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
    # A run directory with other settings is refused before any run trains.
    with pytest.raises(ValueError, match="lr"):
        sweep(tmp_path, datasets=[data], latent_dims=[4, 2], config=config(epochs=1, lr=0.1))
    assert not (tmp_path / "blobs-K4").exists()


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


# -- memory layouts, mixed precision ---------------------------------------------------------
def test_bfloat16_and_layouts_train_the_same_network(tmp_path, tiny_npz):
    """channels_last changes only the memory layout; bfloat16 autocast only round-off."""
    data = data_config(tiny_npz)
    runs = {
        name: train(tmp_path / name, data=data, config=config(**changes)).metrics
        for name, changes in {
            "plain": {"channels_last": False},
            "nhwc": {"channels_last": True},
            "bf16": {"amp": True},
        }.items()
    }
    for name, records in runs.items():
        assert all(np.isfinite(r["eval"]["loss"]) for r in records), name
        assert all(r["images_per_second"] > 0 and r["train_seconds"] > 0 for r in records[1:])
    untrained = {name: records[0]["eval"]["loss"] for name, records in runs.items()}
    # The same initial weights: float32 kernels of two layouts differ in summation order only.
    assert untrained["nhwc"] == pytest.approx(untrained["plain"], rel=1e-5)
    # Adam's first steps move every weight by about lr * sign(gradient), so round-off that
    # flips the sign of a near-zero gradient component moves it by up to 2 lr: after 6 steps
    # the evaluation losses (~600 nats per image) of the three runs stay within 2%.
    plain = runs["plain"][-1]["eval"]["loss"]
    assert runs["nhwc"][-1]["eval"]["loss"] == pytest.approx(plain, rel=2e-2)
    if cpu_has_bfloat16():
        assert runs["bf16"][-1]["eval"]["loss"] == pytest.approx(plain, rel=2e-2)


# -- failed starts and interruptions --------------------------------------------------------
def test_failed_start_leaves_nothing_that_blocks_a_retry(tmp_path, tiny_npz, monkeypatch):
    import conv_study.train as train_module

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory (simulated)")

    data = data_config(tiny_npz)
    with monkeypatch.context() as patch:
        patch.setattr(train_module, "new_train_state", broken)
        with pytest.raises(RuntimeError, match="simulated"):
            train(tmp_path / "f", data=data, config=config(epochs=1))
    assert not (tmp_path / "f").exists()
    # A directory made by the user beforehand is kept, emptied of what the failed start wrote.
    (tmp_path / "mine").mkdir()
    with monkeypatch.context() as patch:
        patch.setattr(train_module, "new_train_state", broken)
        with pytest.raises(RuntimeError):
            train(tmp_path / "mine", data=data, config=config(epochs=1))
    assert list((tmp_path / "mine").iterdir()) == []
    assert train(tmp_path / "f", data=data, config=config(epochs=1, latent_dim=3)).metrics


def test_interrupt_saves_the_finished_epochs(tmp_path, tiny_npz, monkeypatch):
    """Ctrl-C (or SIGTERM via the CLI) in epoch 3 keeps epochs 0..2; a rerun goes on from 2."""
    import conv_study.train as train_module

    data = data_config(tiny_npz)
    settings = {"epochs": 4, "checkpoint_epochs": (0, 1)}
    real_epoch = train_module.train_epoch

    def interrupted(state, x_train, *, epoch, **kwargs):
        if epoch == 3:
            raise KeyboardInterrupt
        return real_epoch(state, x_train, epoch=epoch, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(train_module, "train_epoch", interrupted)
        with pytest.raises(KeyboardInterrupt):
            train(tmp_path / "i", data=data, config=config(**settings))
    run_dir = tmp_path / "i"
    assert (run_dir / "checkpoints" / "resume.pt").is_file()
    assert load_run(run_dir).checkpoint_epochs == (0, 1)  # the analysis ignores resume.pt
    assert [r["epoch"] for r in load_run(run_dir).metrics()] == [0, 1, 2]
    resumed = train(run_dir, data=data, config=config(**settings))
    assert resumed.resumed_from == 2
    assert not (run_dir / "checkpoints" / "resume.pt").exists()
    train(tmp_path / "ref", data=data, config=config(**settings))
    assert_same_checkpoint(
        run_dir / "checkpoints/epoch_0004.pt", tmp_path / "ref/checkpoints/epoch_0004.pt"
    )
    assert strip_timing(load_run(run_dir).metrics()) == strip_timing(
        load_run(tmp_path / "ref").metrics()
    )


def test_cli_missing_device_is_one_line_and_leaves_no_directory(tmp_path, tiny_npz, capsys):
    common = ["--dataset", "npz", "--data", tiny_npz, "--n-eval", str(N_TEST), "--epochs", "1"]
    common += ["--batch-size", str(BATCH), "--threads", "1", "--quiet"]
    out = tmp_path / "gpu"
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert cli.main(["train", *common, "--device", "cuda", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("conv-study train: error: The `device` parameter")
    assert not out.exists()
    assert cli.main(["train", *common, "--device", "cpu", "--K", "3", "--out", str(out)]) == 0


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_cli_signal_saves_and_exits_with_the_conventional_code(tmp_path, tiny_npz, sig, code):
    """A scheduler's SIGTERM (or Ctrl-C) mid-run: finished epochs saved, exit 143 (130)."""
    out = tmp_path / "sig"
    command = [sys.executable, "-m", "conv_study", "train", "--dataset", "npz", "--data"]
    command += [tiny_npz, "--n-eval", str(N_TEST), "--K", "2", "--epochs", "500"]
    command += ["--batch-size", str(BATCH), "--threads", "1", "--device", "cpu", "--quiet"]
    command += ["--checkpoints", "0", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while len(load_run(out).metrics() if (out / "run.json").exists() else []) < 3:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the training subprocess made no progress"
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err
    assert "Traceback" not in err and err.strip().endswith("conv-study train: interrupted")
    saved = torch.load(out / "checkpoints" / "resume.pt", weights_only=True)["epoch"]
    assert saved >= 2
    assert [r["epoch"] for r in load_run(out).metrics()] == list(range(saved + 1))
    resumed = train(
        out, data=data_config(tiny_npz), config=config(epochs=saved + 1, checkpoint_epochs=(0,))
    )
    assert resumed.resumed_from == saved
