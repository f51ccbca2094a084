"""The process contract (linvae.utils.process): signals, folder locks, workers, memory.

Signals and kills are tested on real processes (subprocess), as a user or a cluster scheduler
would send them; waits are bounded by deadlines, never by fixed sleeps that must be "long
enough".
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from linvae.cli import main as cli_main
from linvae.utils.cli import run_program
from linvae.utils.process import (
    LOCK_NAME,
    FolderLocked,
    Terminated,
    available_memory,
    check_interrupt,
    check_memory,
    deferred_interrupts,
    folder_lock,
    format_bytes,
    interrupt_signal,
    interrupted_exit_code,
)

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _wait_for(condition, timeout: float, what: str, proc=None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"the process ended ({proc.returncode}) before {what}: {err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def _leftovers(folder: Path) -> list[str]:
    """Temporary files of atomic writes and lock files left in ``folder``."""
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob(".*")
        if p.name.endswith(".tmp") or p.name == LOCK_NAME
    )


# ---------------------------------------------------------------------- signals, in process
def test_a_deferred_signal_is_raised_at_the_next_safe_point():
    previous = signal.getsignal(signal.SIGINT)
    with deferred_interrupts():
        check_interrupt()  # nothing received: nothing raised
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)  # the handler has run (it only records)
        assert interrupt_signal() == signal.SIGTERM
        with pytest.raises(Terminated):
            check_interrupt()
        with pytest.raises(Terminated):  # still recorded: every later safe point raises
            check_interrupt()
    assert interrupted_exit_code() == 143
    assert signal.getsignal(signal.SIGINT) is previous
    check_interrupt()  # outside, the recorded signal is only read for the exit code
    with deferred_interrupts():  # a new command starts clean
        assert interrupt_signal() is None
        check_interrupt()


def test_nested_deferral_keeps_the_outer_signal():
    with deferred_interrupts():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
        with deferred_interrupts():  # a long function deferring inside a command
            assert interrupt_signal() == signal.SIGINT  # not forgotten on entry
            with pytest.raises(KeyboardInterrupt):
                check_interrupt()
        with pytest.raises(KeyboardInterrupt):  # the outer handler is still the recorder
            check_interrupt()


def test_a_second_signal_raises_at_once():
    with deferred_interrupts():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1.0)  # interrupted long before the end
    assert interrupted_exit_code() == 130


def _program(func) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prog")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("job").set_defaults(func=func)
    return parser


def test_a_command_that_returns_after_a_signal_does_not_exit_zero(capsys):
    def job(args):  # the signal lands after the last safe point
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
        return 0

    assert run_program(_program(job), ["job"]) == 130
    assert "prog job: interrupted" in capsys.readouterr().err


def test_sigterm_at_a_safe_point_exits_143(capsys):
    saved = []

    def job(args):
        for step in range(1000):
            check_interrupt()
            saved.append(step)
            if step == 3:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.01)
        return 0

    assert run_program(_program(job), ["job"]) == 143
    assert saved == [0, 1, 2, 3]  # stopped at the first safe point after the signal


# ---------------------------------------------------------------------- folder locks
def test_a_second_writer_is_refused_naming_the_folder_and_the_holder(tmp_path):
    folder = tmp_path / "out"
    with folder_lock(folder, "--out"):
        assert (folder / LOCK_NAME).exists()
        with pytest.raises(
            FolderLocked, match=f"--out {folder} is being written by pid {os.getpid()}"
        ):
            with folder_lock(folder, "--out"):
                pass
    assert not (folder / LOCK_NAME).exists()  # removed on release
    with folder_lock(folder, "--out"):  # and free again
        pass


def test_a_lock_whose_holder_was_killed_does_not_block(tmp_path):
    folder = tmp_path / "out"
    code = textwrap.dedent(
        f"""
        import time
        from linvae.utils.process import folder_lock
        with folder_lock({str(folder)!r}):
            print("locked", flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(FolderLocked, match=f"pid {proc.pid}"):
            with folder_lock(folder):
                pass
    finally:
        proc.kill()  # SIGKILL: no cleanup runs
        proc.wait()
    assert (folder / LOCK_NAME).exists()  # the stale file stays...
    with folder_lock(folder):  # ...and blocks nothing
        pass


def test_reproduce_and_run_sweep_into_a_folder_being_written_are_refused(tmp_path):
    from linvae import Model
    from linvae.reproduce import reproduce
    from linvae.sweep import Serial, Sweep, run_sweep

    with folder_lock(tmp_path):
        with pytest.raises(FolderLocked, match="The `out_dir` folder of reproduce"):
            reproduce(tmp_path, quick=True, progress=False)
        sweep = Sweep(grid={"beta": [0.5]}, model=Model(tau=0.1), N=20, t_max=1.0)
        with pytest.raises(FolderLocked, match="The sweep folder"):
            run_sweep(sweep, tmp_path, scheduler=Serial(), progress=False)
        assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_NAME]


def _sweep_file(path: Path, betas: list[float]) -> Path:
    path.write_text(
        'kind = "sgd"\nN = 40\nt_max = 2.0\nobservables = ["eps_g"]\n'
        f"[model]\ntau = 0.1\n[grid]\nbeta = {betas}\n"
    )
    return path


def _slow_sweep(config: Path, out: Path, pause: float, *options: str) -> subprocess.Popen:
    """`linvae sweep CONFIG --out OUT OPTIONS` in a child process that pauses ``pause``
    seconds after writing each point (no number changes), so that it is caught running."""
    argv = ["sweep", str(config), "--out", str(out), *options, "--no-progress"]
    code = (
        "import sys, time; from linvae.cli import main; import linvae.sweep.store as s;"
        "orig = s.write_point;"
        f"s.write_point = lambda *a: (orig(*a), time.sleep({pause!r}));"
        f"sys.exit(main({argv!r}))"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_two_sweeps_into_one_folder_at_once(tmp_path, capsys):
    """The second sweep is refused while the first runs; the folder holds the first alone."""
    first = _sweep_file(tmp_path / "first.toml", [0.5, 1.0])
    second = _sweep_file(tmp_path / "second.toml", [3.0, 4.0])
    out = tmp_path / "out"
    # A pause after each point (no number changes) keeps the first sweep running meanwhile.
    proc = _slow_sweep(first, out, 0.5, "--serial")
    _wait_for(lambda: (out / "sweep.json").exists(), 120, "the first sweep to start", proc)
    # The second `linvae sweep` (in this process: the lock is the operating system's).
    assert cli_main(["sweep", str(second), "--out", str(out), "--serial"]) == 2
    assert proc.poll() is None  # refused while the first runs, not after it ended
    message = capsys.readouterr().err.strip()
    assert message.count("\n") == 0 and "Traceback" not in message
    assert f"{out} is being written by pid {proc.pid}" in message
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    from linvae.sweep import load_sweep

    result = load_sweep(out)
    assert result.complete
    assert list(result.coords["beta"]) == [0.5, 1.0]
    assert _leftovers(out) == []


@pytest.mark.slow
@linux_only
def test_sigterm_during_a_pool_sweep_leaves_points_and_nothing_else(tmp_path):
    """143, the finished points on disk, no temporary or lock file, no worker left running."""
    config = _sweep_file(tmp_path / "sweep.toml", [0.5, 1.0, 2.0, 4.0])
    out = tmp_path / "out"
    proc = _slow_sweep(config, out, 1.0, "--workers", "2")
    _wait_for(lambda: any(out.glob("points/*.npz")), 120, "a finished point", proc)
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "SIGTERM received" in err
    index = json.loads((out / "index.json").read_text())
    done = [p for p in index["points"] if p["status"] == "done"]
    assert 1 <= len(done) < 4 and len(list(out.glob("points/*.npz"))) == len(done)
    assert _leftovers(out) == []
    _wait_for(lambda: not any(_alive(p) for p in workers), 10, "the workers to end")


# ---------------------------------------------------------------------- worker processes
def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has ended; only its exit status is left


def _workers(pid: int) -> set[int]:
    """The pool workers among the children of ``pid`` whose parent watchdog is running (the
    initializer has run: a second thread exists), leaving out multiprocessing's resource
    tracker."""
    found = set()
    for child in _children(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
            threads = len(list(Path(f"/proc/{child}/task").iterdir()))
        except OSError:
            continue
        if b"spawn_main" in command and threads >= 2:
            found.add(child)
    return found


@linux_only
def test_pool_workers_die_with_a_killed_parent():
    code = textwrap.dedent(
        """
        import time
        from linvae.sweep import ProcessPool
        ProcessPool(workers=2).run(time.sleep, [(0, 120), (1, 120)], lambda i, o: None)
        """
    )
    # stderr silenced: the killed parent's resource tracker reports its semaphores there.
    parent = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: len(_workers(parent.pid)) == 2, 120, "two workers", parent)
        workers = _workers(parent.pid)
    finally:
        parent.kill()  # kill -9: the parent runs no cleanup
        parent.wait()
    # Without the initializer the workers would sleep on for two minutes. PR_SET_PDEATHSIG
    # ends them at once, the watchdog fallback within about a second.
    _wait_for(lambda: not any(_alive(p) for p in workers), 10, "the workers to end")


# ---------------------------------------------------------------------- memory
def test_memory_limit_and_message(monkeypatch):
    assert format_bytes(750 * 2**30) == "750 GiB"
    assert format_bytes(512) == "512 bytes"
    monkeypatch.setenv("LINVAE_MEMORY_LIMIT", "1M")
    assert available_memory() <= 2**20
    check_memory(2**19, "--N 10")
    with pytest.raises(ValueError, match=r"^--N 10 needs 1 GiB of memory; this machine has .* MiB"):
        check_memory(2**30, "--N 10")
    monkeypatch.setenv("LINVAE_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="LINVAE_MEMORY_LIMIT environment variable"):
        available_memory()


@pytest.mark.parametrize(
    ("argv", "options"),
    [
        (["simulate", "--N", "10000", "--seeds", "100"], "--N 10000 --n-seeds 100"),
        (["ode", "--init-values", "m=0.1,d=0.1,Q=1,E=1,R=0.5,D=1", "--t-max", "1e6"], "--t-max"),
        (["offline", "--simulate", "--N", "1000", "--alpha", "5"], "--simulate with --N 1000"),
    ],
)
def test_requests_beyond_memory_are_refused_before_any_work(
    argv, options, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("LINVAE_MEMORY_LIMIT", "1M")  # a tiny machine
    out = ["--out", str(tmp_path / "run.npz")] if argv[0] != "offline" else []
    assert cli_main(argv + out) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and options in err and "needs" in err and "available" in err
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------- long commands
def _reproduce_interrupted(out: Path, delay: float) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(
        [sys.executable, "-m", "linvae", "reproduce", "--quick", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.mark.parametrize(
    "delay",
    [
        3.0,  # starting up
        pytest.param(9.0, marks=pytest.mark.slow),  # learning curves and their figure
        pytest.param(16.0, marks=pytest.mark.slow),  # later stages
    ],
)
def test_ctrl_c_during_reproduce_exits_130_and_keeps_what_is_finished(tmp_path, delay):
    out = tmp_path / "figs"
    done = _reproduce_interrupted(out, delay)
    if done.returncode == 0:
        pytest.skip(f"reproduce --quick finished within {delay} s: nothing to interrupt")
    assert done.returncode == 130, done.stderr
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr
    assert "interrupted" in done.stderr
    if (out / "manifest.json").exists():  # it started drawing: what it kept is listed
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["complete"] is False
        assert all((out / name).is_file() for name in manifest["figures"])
    if out.exists():
        assert _leftovers(out) == []


def test_a_closed_stdout_is_not_an_error():
    """``linvae threshold | head -c 1``: the reader leaves early; the command exits 0 without
    "Broken pipe" on stderr (the JSON is longer than the one byte the reader takes)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "linvae", "threshold", "--rho", "1", "--eta", "1", "--lam", "1.8"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader is gone before the command prints
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert b"Broken pipe" not in err and b"Traceback" not in err, err.decode()
