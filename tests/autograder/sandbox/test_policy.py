"""The allow-list (the mount plan), what the kernel's environment holds, and failing closed."""
import io
import os
import sys
from pathlib import Path

import pytest

import autograder.sandbox as package
from autograder.sandbox import policy
from autograder.sandbox.errors import SandboxError
from autograder.sandbox.policy import (ETC, EXPOSED, KERNEL_DIRS, ROOT, SYSTEM, covered, kernel_environment,
                                       mount_plan, require_confinement)


def allowed(dst: str) -> bool:
    prefixes = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix}
    return (dst in SYSTEM or dst in {f"/etc/{n}" for n in ETC} or dst in prefixes
            or dst in {str(policy.ROOT / d) for d in EXPOSED})


def test_the_mount_plan_holds_the_allow_list_only():
    """Is every bind of the plan a system directory, an /etc file of ETC, the interpreter or an EXPOSED folder
    of the repository, shown at its own path, parents first; and none of the repository's other folders?"""
    binds, symlinks = mount_plan()
    assert binds and all(src == dst for src, dst in binds)
    assert all(allowed(dst) for _, dst in binds), [d for _, d in binds if not allowed(d)]
    depths = [len(Path(dst).parts) for _, dst in binds]
    assert depths == sorted(depths)
    for name in ("autograder", "tests", "solutions", ".git"):
        assert not any(policy._is_under(Path(dst), ROOT / name) for _, dst in binds), name
    assert all(link in SYSTEM and os.path.islink(link) for link, _ in symlinks)
    assert not any(dst in {link for link, _ in symlinks} for _, dst in binds)


def test_the_plan_follows_the_course_root(tmp_path, monkeypatch):
    """A course elsewhere (ROOT replaced): are its course_utils and data in the plan, and a missing one skipped?"""
    (tmp_path / "course_utils").mkdir()
    monkeypatch.setattr(policy, "ROOT", tmp_path)
    dsts = [dst for _, dst in mount_plan()[0]]
    assert str(tmp_path / "course_utils") in dsts and str(tmp_path / "data") not in dsts


def test_a_course_under_the_kernels_own_folders_is_refused_with_the_fix():
    """A course at /tmp/work (the kernel's work folder inside the sandbox) cannot be shown: is the error clear,
    while a course elsewhere in /tmp passes?"""
    policy._refuse_overlaps([("/tmp/fresh/course_utils", "/tmp/fresh/course_utils"), ("/usr", "/usr")])
    inside = "/tmp/work/course/course_utils"
    with pytest.raises(SandboxError, match=r"/tmp/work/course/course_utils .*overlaps /tmp/work.*move it"):
        policy._refuse_overlaps([("/usr", "/usr"), (inside, inside)])


def test_a_bind_holding_the_kernels_folders_is_refused_too():
    """/tmp itself, or the connection folder: refused as well?"""
    assert KERNEL_DIRS == ("/tmp/work", "/tmp/.kernel")
    for dst in ("/tmp", "/tmp/.kernel"):
        with pytest.raises(SandboxError, match="overlaps /tmp/work or /tmp/.kernel.*move it"):
            policy._refuse_overlaps([("/usr", "/usr"), (dst, dst)])


def test_covered_paths_are_those_the_plan_would_show(tmp_path):
    """Of the paths to hide, are those inside a bind covered (directories and files apart, in order), and those
    outside every bind or missing skipped?"""
    shown = tmp_path / "shown"
    (shown / "dir").mkdir(parents=True)
    (shown / "file").write_text("x")
    binds = [(str(shown), str(shown))]
    hide = [shown / "file", tmp_path / "elsewhere", shown / "dir", shown / "missing"]
    assert covered(hide, binds) == [(str(shown / "file"), False), (str(shown / "dir"), True)]


def test_the_kernel_environment_is_rebuilt_from_scratch(monkeypatch):
    """Does no variable of the grader reach the kernel, and are its paths, ROOT and thread counts set?"""
    monkeypatch.setenv("GRADER_SECRET", "x")
    env = kernel_environment(home="/tmp/work", tmp="/tmp", threads=3)
    assert "GRADER_SECRET" not in env and env["HOME"] == "/tmp/work" and env["TMPDIR"] == "/tmp"
    assert env["PYTHONPATH"] == str(policy.ROOT) and env["PATH"].startswith(str(Path(sys.executable).parent))
    assert all(env[v] == "3" for v in policy.THREAD_VARIABLES)
    assert all(value.startswith("/tmp") for key, value in env.items() if key.startswith(("JUPYTER", "IPYTHON")))


def test_failing_closed_follows_the_package_s_confinement_mode(monkeypatch):
    """With confinement_mode replaced on the package (as tests of other modules do), do confinement_available and
    require_confinement see it: a refusal, or with unconfined, a warning listing what is not enforced?"""
    monkeypatch.setattr(package, "confinement_mode", lambda: ("", "no namespaces here"))
    assert package.confinement_available() == (False, "no namespaces here")
    err = io.StringIO()
    assert require_confinement(False, err=err) is False
    assert "no namespaces here" in err.getvalue() and "--unconfined" in err.getvalue()
    err = io.StringIO()
    assert require_confinement(True, err=err) is True
    assert all(line in err.getvalue() for line in policy.not_enforced())
    monkeypatch.setattr(package, "confinement_mode", lambda: ("user", "ok"))
    assert require_confinement(False, err=io.StringIO()) is True
