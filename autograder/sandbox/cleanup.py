"""What the grader leaves on the host, and its removal: the private folders <tmp>/ag-* (each naming its
owner), `sweep` of what dead graders left, and `remove_tree`, iterative and following no symlink."""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from pathlib import Path

from autograder.sandbox.cgroups import _Cgroups
from autograder.sandbox.procfs import _owner_alive, _owner_tag

WORKDIR_PREFIX = "ag-"  # the grader's working directories: <tmp>/ag-*, each with an "owner" file
PRIVATE_MODE = 0o700
OWNER_TAG_CHARS = 100  # more than a pid and a start time take
MAX_STEPS = 10_000_000  # a bound on `remove_tree`'s loop, not a limit anyone reaches
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
_swept = False
_OURS = re.compile(rf"^{WORKDIR_PREFIX}[a-z0-9_]{{8}}$")  # tempfile.mkdtemp(prefix=WORKDIR_PREFIX)
_LAYOUT = {"owner", "work", "conn", "tmp", "kernel.log",  # what a sandbox folder holds
           "root", "setup.json", "template.log",  # a template's
           "source", "submission"}  # and a batch task's (autograder.task.grade_task)


def _remove_entries(fd: int, stuck: set) -> str | None:
    """Unlink every non-directory in the open directory `fd`; return the name of a subdirectory to descend
    into (None when only directories in `stuck` are left)."""
    with contextlib.suppress(OSError):
        with os.scandir(fd) as entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.inode() in stuck:
                            continue
                        return entry.name
                    os.unlink(entry.name, dir_fd=fd)
                except OSError:
                    continue
    return None


def _rmdir_or_mark(name: str, fd: int, stuck: set) -> None:
    """Remove the empty directory `name` of `fd`, or remember its inode as one that resists."""
    try:
        os.rmdir(name, dir_fd=fd)
    except OSError:
        with contextlib.suppress(OSError):
            stuck.add(os.stat(name, dir_fd=fd, follow_symlinks=False).st_ino)


def _descend(fd: int, child: str, stuck: set) -> int | None:
    """The open subdirectory `child` of `fd` (made readable first), or None when it cannot be opened (then it
    is removed if it is empty, or marked as stuck)."""
    with contextlib.suppress(OSError):
        os.chmod(child, PRIVATE_MODE, dir_fd=fd)
    try:
        return os.open(child, _OPEN_DIR, dir_fd=fd)
    except OSError:
        _rmdir_or_mark(child, fd, stuck)
        return None


def _empty_tree(top: int) -> int:
    """Remove everything below the open directory `top`, one open directory at a time; return the
    descriptor left open (to close)."""
    fd, names, stuck = top, [], set()  # the open directory, the names leading to it, dirs that resist
    with contextlib.suppress(OSError):
        for _ in range(MAX_STEPS):  # each step removes or descends
            child = _remove_entries(fd, stuck)
            if child is not None:
                sub = _descend(fd, child, stuck)
                if sub is not None:
                    os.close(fd)
                    fd = sub
                    names.append(child)
                continue
            if not names:
                break
            parent = os.open("..", _OPEN_DIR, dir_fd=fd)
            os.close(fd)
            fd = parent
            _rmdir_or_mark(names.pop(), fd, stuck)
    return fd


def remove_tree(path: str | os.PathLike) -> None:
    """Remove a directory tree without recursion, following no symlink, whatever its depth or modes.

    Holds one directory open at a time (so a chain deeper than the fd limit or PATH_MAX is fine) and
    never raises: what cannot be removed stays, and the next sweep tries again.
    """
    try:
        top = os.open(path, _OPEN_DIR)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(path)
        return
    fd = top
    try:
        fd = _empty_tree(top)
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
    with contextlib.suppress(OSError):
        os.rmdir(path)


def private_dir() -> Path:
    """A new <tmp>/ag-* folder (mode 0700) naming this process as its owner, so `sweep` removes it once we are gone."""
    path = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
    os.chmod(path, PRIVATE_MODE)
    (path / "owner").write_text(_owner_tag())
    return path


def _abandoned(entry: os.DirEntry, grace_s: float) -> bool:
    """Whether `entry` (in <tmp>) is a grader's folder whose owner is gone (see `sweep`)."""
    if not entry.name.startswith(WORKDIR_PREFIX) or not entry.is_dir(follow_symlinks=False) \
            or entry.stat(follow_symlinks=False).st_uid != os.geteuid():
        return False
    if not _OURS.match(entry.name):  # another program's ag-something: not ours to judge
        return False
    try:
        tag = (Path(entry.path) / "owner").read_text()[:OWNER_TAG_CHARS]
    except OSError:
        if time.time() - entry.stat(follow_symlinks=False).st_mtime < grace_s or \
                not set(os.listdir(entry.path)) <= _LAYOUT:
            return False
        tag = ""
    return not _owner_alive(tag)


def sweep(*, tmp: str | None = None, grace_s: float = 600.0) -> list[str]:
    """Remove what dead graders left: <tmp>/ag-* directories and autograder-* cgroups; return what went.

    A directory belongs to the process named in its ``owner`` file (pid and start time); it is
    removed once that process is gone. One without an owner file (a grader killed while creating it)
    is removed after ``grace_s``. Only this user's directories are touched. Never raises.
    """
    removed = []
    tmp = Path(tmp or tempfile.gettempdir())
    with contextlib.suppress(OSError):
        for entry in os.scandir(tmp):
            try:
                if _abandoned(entry, grace_s):
                    remove_tree(entry.path)
                    removed.append(entry.path)
            except OSError:
                continue
    removed += _Cgroups.sweep()
    return removed


def _sweep_once() -> None:
    global _swept
    if not _swept:
        _swept = True
        sweep()
