"""remove_tree and sweep on a temporary folder, and the private folders they clean up after."""
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.sandbox import cleanup
from autograder.sandbox.cleanup import WORKDIR_PREFIX, _OURS, private_dir, remove_tree, sweep
from autograder.sandbox.procfs import _owner_alive, _owner_tag, _start_time


@pytest.fixture(autouse=True)
def no_cgroups(monkeypatch):
    """sweep also removes dead graders' cgroups, machine-wide: not in these tests."""
    monkeypatch.setattr(cleanup._Cgroups, "sweep", classmethod(lambda cls: []))


def test_remove_tree_goes_deeper_than_path_max_and_follows_no_link(tmp_path):
    """A chain of folders longer than PATH_MAX, unreadable folders, a symlink out of the tree: is everything
    removed, and the link's target left alone?"""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    top = tmp_path / "top"
    top.mkdir()
    fd = os.open(top, os.O_RDONLY)
    try:
        for _ in range(100):  # 100 * 60 characters: past PATH_MAX (4096)
            os.mkdir("d" * 59, dir_fd=fd)
            sub = os.open("d" * 59, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = sub
        with open(os.open("file", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd), "w") as f:
            f.write("deep")
    finally:
        os.close(fd)
    (top / "link").symlink_to(outside)
    (top / "locked" / "inner").mkdir(parents=True)
    (top / "locked" / "inner" / "f").write_text("x")
    os.chmod(top / "locked" / "inner", 0)
    os.chmod(top / "locked", 0)
    remove_tree(top)
    assert not top.exists() and (outside / "keep.txt").read_text() == "keep"


def test_remove_tree_takes_a_file_and_never_raises(tmp_path):
    (tmp_path / "file").write_text("x")
    remove_tree(tmp_path / "file")
    remove_tree(tmp_path / "missing")
    assert not (tmp_path / "file").exists()


def test_a_private_dir_names_its_owner(tmp_path, monkeypatch):
    monkeypatch.setattr(cleanup.tempfile, "tempdir", str(tmp_path))
    path = private_dir()
    assert path.parent == tmp_path and path.name.startswith(WORKDIR_PREFIX) and _OURS.match(path.name)
    assert stat.S_IMODE(path.stat().st_mode) == 0o700 and (path / "owner").read_text() == _owner_tag()


def folder(tmp_path, name, owner=None, files=(), age_s=0.0):
    path = tmp_path / name
    path.mkdir()
    if owner is not None:
        (path / "owner").write_text(owner)
    for f in files:
        (path / f).write_text("")
    if age_s:
        old = time.time() - age_s
        os.utime(path, (old, old))
    return path


def test_sweep_removes_what_dead_owners_left_and_nothing_else(tmp_path):
    """A dead owner's folder goes; a live owner's, another program's ag-*, an unowned one younger than the grace
    period and an unowned one holding files a grader never makes stay; an old unowned grader's folder goes."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = folder(tmp_path, "ag-dead0001", owner=f"{dead.stdout.strip()} 1")
    alive = folder(tmp_path, "ag-alive001", owner=_owner_tag())
    other = folder(tmp_path, "ag-other-program", owner="1 2")
    young = folder(tmp_path, "ag-young001", files=["work"])
    strange = folder(tmp_path, "ag-strange1", files=["photos"], age_s=3600)
    abandoned = folder(tmp_path, "ag-aband001", files=["work", "kernel.log"], age_s=3600)
    removed = sweep(tmp=str(tmp_path), grace_s=600)
    assert sorted(removed) == sorted([str(gone), str(abandoned)])
    assert all(p.exists() for p in (alive, other, young, strange))
    assert not gone.exists() and not abandoned.exists()


def test_a_folder_whose_owner_was_killed_but_not_yet_reaped_is_swept(tmp_path):
    """A grader killed with kill -9 whose parent has not reaped it yet (a zombie, as a Dask worker whose nanny is
    slow) owns nothing: is its ag-* folder swept, while a live owner's folder stays?"""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        tag = f"{child.pid} {_start_time(child.pid)}"
        folder = tmp_path / "ag-zombie01"
        folder.mkdir()
        (folder / "owner").write_text(tag)
        # sweep also removes dead graders' cgroups, machine-wide (a parallel test's): only tmp_path's entries count
        swept = [r for r in sweep(tmp=str(tmp_path)) if Path(r).parent == tmp_path]
        assert _owner_alive(tag) and swept == [] and folder.exists()  # alive: kept
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline, "the child did not become a zombie"
            time.sleep(0.02)
        assert str(folder) in sweep(tmp=str(tmp_path)) and not folder.exists()
    finally:
        child.kill()
        child.wait(timeout=10)
