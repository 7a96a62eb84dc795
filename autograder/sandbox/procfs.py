"""What /proc says about a process: its start time, parent, children, pid in its own namespace; and the
owner tags (pid and start time) that name the grader owning a folder or a cgroup."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

PROC_READ_BYTES = 1 << 16  # more than any /proc file the sandbox reads with `_read_proc` holds
_STAT_STATE, _STAT_PPID, _STAT_STARTTIME = 0, 1, 19  # fields 3, 4 and 22 of /proc/<pid>/stat, after the ")"
_GONE = ("Z", "X")  # zombie, dead


def _stat_fields(pid) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _start_time(pid: int) -> str | None:
    """The start time of process `pid` (field 22 of /proc/<pid>/stat), None when there is none or it has
    exited (a zombie, killed and not yet reaped by its parent, is gone for every purpose here)."""
    try:
        fields = _stat_fields(pid)
        return None if fields[_STAT_STATE] in _GONE else fields[_STAT_STARTTIME]
    except (OSError, IndexError):
        return None


def _parent_pid(pid) -> int | None:
    try:
        return int(_stat_fields(pid)[_STAT_PPID])
    except (OSError, ValueError, IndexError):
        return None


def _owner_tag() -> str:
    """This process as an owner: its pid and start time (a later process with the same pid is another owner)."""
    return f"{os.getpid()} {_start_time(os.getpid()) or ''}".strip()


def _owner_alive(tag: str) -> bool:
    parts = tag.split()
    if not parts or not parts[0].isdigit():
        return False
    started = _start_time(int(parts[0]))
    return started is not None and (len(parts) < 2 or parts[1] == started)


def _children(pid: int) -> list[int]:
    """The child processes of `pid` (from /proc/<pid>/task/<pid>/children, or, where the kernel was built
    without that file, by scanning /proc for processes whose parent is `pid`)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    with contextlib.suppress(OSError, ValueError):
        if path.exists():
            return [int(p) for p in path.read_text().split()]
        return [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit() and _parent_pid(e.name) == pid]
    return []


def _innermost_pid(pid: int) -> int | None:
    """The pid of process `pid` in its own PID namespace (the last NSpid entry)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    return None


def _read_proc(path: str) -> bytes:
    """The contents of a small /proc file (b"" when it cannot be read): os-level calls, the watch reads many."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return b""
    try:
        return os.read(fd, PROC_READ_BYTES)
    except OSError:
        return b""
    finally:
        os.close(fd)
