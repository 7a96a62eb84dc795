"""The sandbox's cgroups, on a stand-in cgroup file system (a plain folder): what is made and written, and how
an out-of-memory kill is read."""
from pathlib import Path

import pytest

from autograder.sandbox import Limits, cgroups
from autograder.sandbox.cgroups import _Cgroups


@pytest.fixture
def v2(tmp_path, monkeypatch):
    (tmp_path / "cgroup.controllers").write_text("memory pids\n")
    (tmp_path / "grader.slice").mkdir()
    monkeypatch.setattr(_Cgroups, "ROOT", tmp_path)
    monkeypatch.setattr(cgroups, "_own_cgroups", lambda: ["0::/grader.slice"])
    return tmp_path


def test_v2_group_with_its_limits(v2):
    """Is the group made under this process's own cgroup, with memory, swap and task limits written?"""
    group = _Cgroups("autograder-1-2-ab", Limits(memory_mb=100, processes=9))
    made = v2 / "grader.slice" / "autograder-1-2-ab"
    assert group.dirs == [made] and group.memory == made and group.kind == "cgroup v2" and group.pids
    assert (made / "memory.max").read_text() == str(100 << 20) and (made / "pids.max").read_text() == "9"
    assert (made / "memory.swap.max").read_text() == "0"
    assert _Cgroups.parents() == [v2 / "grader.slice"]


def test_oom_kills_are_read_from_memory_events(v2):
    group = _Cgroups("autograder-1-2-cd", Limits())
    assert group.oom_kills() == 0 and not group.oom_killed()
    (group.memory / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n")
    assert group.oom_kills() == 2 and group.oom_killed()


def test_v1_groups_per_controller(tmp_path, monkeypatch):
    """cgroup v1: a memory group (limit with and without swap) and a pids group, each under its hierarchy."""
    for c in ("memory", "pids"):
        (tmp_path / c / "user").mkdir(parents=True)
    monkeypatch.setattr(_Cgroups, "ROOT", tmp_path)
    monkeypatch.setattr(cgroups, "_own_cgroups", lambda: ["5:memory:/user", "3:pids:/user", "2:cpu,cpuacct:/"])
    group = _Cgroups("autograder-1-2-ef", Limits(memory_mb=64, processes=5))
    assert group.kind == "cgroup v1" and group.memory == tmp_path / "memory" / "user" / "autograder-1-2-ef"
    assert (group.memory / "memory.limit_in_bytes").read_text() == str(64 << 20)
    assert (tmp_path / "pids" / "user" / "autograder-1-2-ef" / "pids.max").read_text() == "5" and group.pids
    assert sorted(_Cgroups.parents()) == sorted([tmp_path / "memory" / "user", tmp_path / "pids" / "user"])


def test_no_cgroups_where_none_can_be_made(tmp_path, monkeypatch):
    monkeypatch.setattr(_Cgroups, "ROOT", tmp_path / "missing")
    monkeypatch.setattr(cgroups, "_own_cgroups", lambda: ["0::/x"])
    (tmp_path / "missing").mkdir()
    (tmp_path / "missing" / "cgroup.controllers").write_text("")
    group = _Cgroups("autograder-1-2-gh", Limits())  # its parent /x does not exist: mkdir fails
    assert group.dirs == [] and group.memory is None and not group.pids and group.oom_kills() == 0
    assert isinstance(group.ROOT, Path)
