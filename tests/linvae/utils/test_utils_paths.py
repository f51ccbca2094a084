"""The output-path contract through the Python API: `linvae.utils.paths` and the writers.

Every case is a small file operation in ``tmp_path``; permissions are read from the mode bits,
so the read-only cases hold for root too (the test machines run as root).
"""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from linvae import Model, OrderParameters, Trajectory
from linvae.utils.io import atomic_write, atomic_write_json
from linvae.utils.paths import Output, check_outputs, is_read_only, resolve_path


def _run() -> Trajectory:
    n_t, S = 3, 1
    ops = OrderParameters(
        m=np.full((S, n_t, 1, 1), 0.1),
        d=np.full((S, n_t, 1, 1), 0.1),
        Q=np.ones((S, n_t, 1, 1)),
        E=np.ones((S, n_t, 1, 1)),
        R=np.zeros((S, n_t, 1, 1)),
        D=np.ones((S, n_t, 1)),
    )
    return Trajectory.from_order_parameters(
        np.linspace(0, 1, n_t), ops, model=Model(), source="sgd", N=10
    )


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# --------------------------------------------------------------------------- writes
def test_atomic_write_goes_through_a_symlink_and_keeps_the_mode(tmp_path):
    target = tmp_path / "real" / "a.txt"
    target.parent.mkdir()
    target.write_bytes(b"old")
    target.chmod(0o604)
    link = tmp_path / "link.txt"
    os.symlink(target, link)
    assert atomic_write(link, lambda f: f.write(b"new")) == link
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == b"new" and _mode(target) == 0o604
    assert os.listdir(target.parent) == ["a.txt"]  # no temporary file left
    assert sorted(os.listdir(tmp_path)) == ["link.txt", "real"]  # nothing beside the link


def test_atomic_write_refuses_a_read_only_file_unless_forced(tmp_path):
    path = tmp_path / "a.json"
    path.write_text("{}")
    path.chmod(0o444)
    assert is_read_only(path)
    with pytest.raises(PermissionError, match=r"a\.json is read-only \(mode 0444\)"):
        atomic_write_json(path, {"x": 1})
    assert path.read_text() == "{}"
    atomic_write_json(path, {"x": 1}, force=True)
    assert path.read_text() == '{\n  "x": 1\n}\n' and _mode(path) == 0o444


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_atomic_write_removes_its_temporary_file_on_failure(error, tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"old")

    def fail(handle):
        handle.write(b"half")
        raise error

    with pytest.raises(error):
        atomic_write(path, fail)
    assert os.listdir(tmp_path) == ["a.txt"] and path.read_bytes() == b"old"


def test_a_new_file_gets_the_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "new.txt", lambda f: f.write(b"x"))
    finally:
        os.umask(old)
    assert _mode(tmp_path / "new.txt") == 0o640


def test_trajectory_save_onto_a_symlink_and_a_read_only_file(tmp_path):
    run = _run()
    target = tmp_path / "target.npz"
    target.write_bytes(b"")
    target.chmod(0o640)
    link = tmp_path / "link.npz"
    os.symlink(target, link)
    run.save(link)
    assert link.is_symlink() and Trajectory.load(target).N == 10 and _mode(target) == 0o640
    target.chmod(0o444)
    with pytest.raises(PermissionError, match="read-only"):
        run.save(link)
    run.save(link, force=True)
    assert _mode(target) == 0o444 and Trajectory.load(link).N == 10


def test_save_figure_onto_a_symlink_and_a_read_only_file(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from linvae.plot.trajectory import save_figure

    target = tmp_path / "fig.png"
    target.write_bytes(b"")
    link = tmp_path / "link.png"
    os.symlink(target, link)
    save_figure(plt.figure(figsize=(1, 1)), link, dpi=10)
    assert link.is_symlink() and target.read_bytes().startswith(b"\x89PNG")
    target.chmod(0o444)
    with pytest.raises(PermissionError, match="read-only"):
        save_figure(plt.figure(figsize=(1, 1)), link, dpi=10)


# --------------------------------------------------------------------------- checks
def test_check_outputs_resolves_links_and_leaves_nothing_behind(tmp_path):
    os.symlink(tmp_path / "real", tmp_path / "link")
    out = tmp_path / "link" / "a" / "b" / "run.npz"
    resolved = check_outputs([Output(name="--out", path=out)])
    assert resolved == {"--out": tmp_path / "real" / "a" / "b" / "run.npz"}
    # The missing folders were created for the probe, then removed: a refused command leaves
    # nothing behind.
    assert not (tmp_path / "real").exists()
    assert resolve_path(out) == resolved["--out"]


def test_check_outputs_trailing_slash_and_kinds(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a folder, not a file"):
        check_outputs([Output(name="--out", path=f"{tmp_path}/new/")])
    with pytest.raises(ValueError, match=r"^--out .*file is a file, not a folder; give a folder"):
        check_outputs([Output(name="--out", path=tmp_path / "file", folder=True)])
    with pytest.raises(ValueError, match="not a regular file"):
        check_outputs([Output(name="--out", path="/dev/null")])
    assert check_outputs([Output(name="--out", path=f"{tmp_path}/new/", folder=True)])


def test_check_outputs_clashes(tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    (data / "cfg.toml").write_text("")
    folder = Output(name="--out", path=data, folder=True, writes=("*.json", "points"))
    # An input in the output folder is fine unless the command writes that name there.
    check_outputs([folder], inputs={"CONFIG": data / "cfg.toml"})
    for inside in (data / "sweep.json", data / "points" / "p1.npz"):
        with pytest.raises(ValueError, match=r"--out .* would overwrite CONFIG"):
            check_outputs([folder], inputs={"CONFIG": inside})
    # Two outputs: the same file, or one file inside the other's folder at a written name.
    a, b = Output(name="--a", path=data / "x.png"), Output(name="--b", path=data / "x.png")
    with pytest.raises(ValueError, match=r"--a and --b are the same file .*different paths\.$"):
        check_outputs([a, b])
    with pytest.raises(ValueError, match=r"--out .* would overwrite --data"):
        check_outputs([Output(name="--data", path=data / "x.json"), folder])
    # None is "not given".
    assert check_outputs([Output(name="--a", path=None)], inputs={"X": None}) == {}


def test_read_only_is_read_from_the_mode_bits(tmp_path):
    """Root may write anywhere; a file without write bits is still read-only to the contract."""
    path = tmp_path / "f"
    path.write_text("")
    assert not is_read_only(path)
    path.chmod(0o444)
    assert is_read_only(path)
    assert not is_read_only(tmp_path / "missing")
    with pytest.raises(ValueError, match=r"read-only \(mode 0444\).*or choose another path\.$"):
        check_outputs([Output(name="--out", path=path)])
    check_outputs([Output(name="--out", path=path)], force=True)
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    with pytest.raises(ValueError, match=r"is a read-only folder \(mode 0555\)"):
        check_outputs([Output(name="--out", path=folder, folder=True)])


def test_a_dangling_symlink_output_creates_its_target(tmp_path):
    link = tmp_path / "link.json"
    os.symlink(tmp_path / "later" / "target.json", link)
    (tmp_path / "later").mkdir()
    check_outputs([Output(name="--out", path=link)])
    atomic_write_json(link, [1])
    assert link.is_symlink() and (tmp_path / "later" / "target.json").read_text() == "[\n  1\n]\n"


def test_a_hard_link_to_the_input_is_the_input(tmp_path):
    run = tmp_path / "run.npz"
    run.write_bytes(b"")
    os.link(run, tmp_path / "other.npz")
    with pytest.raises(ValueError, match="--out and --init are the same file"):
        check_outputs([Output(name="--out", path=tmp_path / "other.npz")], inputs={"--init": run})
