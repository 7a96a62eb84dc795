"""The programs that run inside the sandbox's namespaces: standard library only (they run with ``python -I -S``
or after ``pivot_root``, where the repository is not), and the mount helpers that need no privileges."""
import ast
import sys
from pathlib import Path

import pytest

from autograder.sandbox import template

CHILD = template.CHILD
MODULES = sorted(CHILD.glob("*.py"))
SIBLINGS = {path.stem for path in MODULES}


def imported(path: Path) -> set[str]:
    """The top-level names of every module `path` imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import"
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_child_programs_import_the_standard_library_only(path):
    """Does each program import nothing but the standard library (no autograder, no NumPy, no sibling either:
    mounts.py is loaded by path, not imported)?"""
    outside = imported(path) - set(sys.stdlib_module_names)
    assert not outside, f"{path.name} imports {sorted(outside)}"
    assert not imported(path) & SIBLINGS


def test_the_template_needs_no_file_of_its_own():
    """The template runs as ``python -c <its text>`` after pivot_root: it must not use ``__file__``; the setup,
    run by path, finds mounts.py beside itself."""
    names = {n.id for n in ast.walk(ast.parse((CHILD / "template_main.py").read_text())) if isinstance(n, ast.Name)}
    assert "__file__" not in names
    assert {"mounts.py", "setup.py", "template_main.py"} <= {p.name for p in MODULES}


@pytest.fixture(scope="module")
def mounts():
    import importlib.util

    spec = importlib.util.spec_from_file_location("_test_mounts", CHILD / "mounts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_private_paths_are_under_the_kernels_own_tmpfs(mounts):
    assert mounts.private("/tmp") and mounts.private("/tmp/course/data") and mounts.private("/dev/shm/x")
    assert not mounts.private("/tmpfoo") and not mounts.private("/usr/tmp") and not mounts.private("/dev")


def test_kept_flags_and_targets(mounts, tmp_path):
    """The flags a remount must keep are a subset of the locked ones; a file target is made with its folders."""
    assert mounts.kept(str(tmp_path)) & ~(mounts.LOCKED | mounts.RELATIME) == 0
    mounts.make_target(str(tmp_path / "a" / "b" / "file"), False)
    mounts.make_target(str(tmp_path / "c" / "d"), True)
    assert (tmp_path / "a" / "b" / "file").is_file() and (tmp_path / "c" / "d").is_dir()
    assert "/" in mounts.mounts_under("/") and "/proc" in mounts.mounts_under("/proc")
    assert all(p == "/proc" or p.startswith("/proc/") for p in mounts.mounts_under("/proc"))
