"""A private memory + pids cgroup (v1 or v2) for one sandbox, when the cgroup file system is writable (root)."""
from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from autograder.sandbox.procfs import _owner_alive

MB_SHIFT = 20  # memory_mb << MB_SHIFT: bytes
OOM_MARGIN = 1 << 20  # v1 without an oom_kill count: a peak this close to the limit means the limit was hit
SWEEP_TRIES, SWEEP_WAIT_S = 40, 0.05  # a dead grader's cgroup empties once its processes are reaped
REMOVE_TRIES, REMOVE_WAIT_S = 50, 0.05


def _v2_relative(own: list[str]) -> str | None:
    """This process's cgroup v2 path, from the lines of /proc/self/cgroup."""
    return next((line.split(":", 2)[2] for line in own if line.startswith("0::")), None)


def _v1_relative(own: list[str]) -> dict[str, str]:
    """Controller -> this process's cgroup v1 path, from the lines of /proc/self/cgroup."""
    paths = {}
    for line in own:
        _, controllers, rel = line.split(":", 2)
        for c in controllers.split(","):
            paths[c] = rel
    return paths


def _own_cgroups() -> list[str] | None:
    try:
        return Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None


def _kill_and_remove(group: Path) -> bool:
    """Kill what is left in a dead grader's `group` and remove it; whether it went."""
    with contextlib.suppress(OSError, ValueError):
        for pid in (group / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGKILL)
    for _ in range(SWEEP_TRIES):
        try:
            group.rmdir()
            return True
        except FileNotFoundError:
            return False
        except OSError:
            time.sleep(SWEEP_WAIT_S)
    return False


class _Cgroups:
    """A private memory + pids cgroup (v1 or v2) for one sandbox, when the cgroup fs is writable."""

    ROOT = Path("/sys/fs/cgroup")

    @classmethod
    def parents(cls) -> list[Path]:
        """The cgroups this process's sandboxes are created under (memory and pids, v1 or v2)."""
        own = _own_cgroups()
        if own is None:
            return []
        if (cls.ROOT / "cgroup.controllers").exists():
            return [cls.ROOT / line.split(":", 2)[2].lstrip("/") for line in own if line.startswith("0::")]
        out = []
        for line in own:
            _, controllers, rel = line.split(":", 2)
            out += [cls.ROOT / c / rel.lstrip("/") for c in controllers.split(",") if c in ("memory", "pids")]
        return out

    @classmethod
    def sweep(cls) -> list[str]:
        """Remove the autograder-<pid>-<start>-* cgroups of graders that are gone (killing what is left in them)."""
        removed = []
        for parent in cls.parents():
            with contextlib.suppress(OSError):
                for group in parent.glob("autograder-*"):
                    parts = group.name.split("-")
                    if len(parts) < 4 or _owner_alive(f"{parts[1]} {parts[2]}"):
                        continue
                    if _kill_and_remove(group):
                        removed.append(str(group))
        return removed

    def __init__(self, name: str, limits):
        self.dirs: list[Path] = []
        self.memory: Path | None = None
        self.kind = ""
        own = _own_cgroups()
        if own is None:
            return
        memory = limits.memory_mb << MB_SHIFT
        if (self.ROOT / "cgroup.controllers").exists():  # v2, unified
            rel = _v2_relative(own)
            if rel is not None:
                group = self.ROOT / rel.lstrip("/") / name
                if self._make(group, {"memory.max": memory, "pids.max": limits.processes, "memory.swap.max": 0}):
                    self.memory, self.kind = group, "cgroup v2"
            return
        paths = _v1_relative(own)
        if "memory" in paths:
            group = self.ROOT / "memory" / paths["memory"].lstrip("/") / name
            if self._make(group, {"memory.limit_in_bytes": memory, "memory.memsw.limit_in_bytes": memory}):
                self.memory, self.kind = group, "cgroup v1"
        if "pids" in paths:
            self._make(self.ROOT / "pids" / paths["pids"].lstrip("/") / name, {"pids.max": limits.processes})

    def _make(self, group: Path, settings: dict) -> bool:
        try:
            group.mkdir()
        except OSError:
            return False
        self.dirs.append(group)
        first = True
        for key, value in settings.items():
            try:
                (group / key).write_text(str(value))
            except OSError:
                if first:  # the essential setting failed: do not pretend
                    self.dirs.remove(group)
                    with contextlib.suppress(OSError):
                        group.rmdir()
                    return False
            first = False
        return True

    @property
    def pids(self) -> bool:
        return any((d / "pids.max").exists() for d in self.dirs)

    def _oom_kill_count(self) -> int | None:
        """The oom_kill count of memory.events (v2) or memory.oom_control (v1); None where neither has one."""
        for name in ("memory.events", "memory.oom_control"):
            with contextlib.suppress(OSError, ValueError):
                for line in (self.memory / name).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        return None

    def oom_killed(self) -> bool:
        if self.memory is None:
            return False
        if self._oom_kill_count():
            return True
        with contextlib.suppress(OSError, ValueError):
            return int((self.memory / "memory.failcnt").read_text()) > 0 and \
                int((self.memory / "memory.max_usage_in_bytes").read_text()) >= int(
                    (self.memory / "memory.limit_in_bytes").read_text()) - OOM_MARGIN
        return False

    def oom_kills(self) -> int:
        """How many processes the cgroup's out-of-memory killer has killed (0 where the count is not kept)."""
        if self.memory is None:
            return 0
        return self._oom_kill_count() or 0

    def remove(self) -> None:
        for d in self.dirs:
            for _ in range(REMOVE_TRIES):
                try:
                    d.rmdir()
                    break
                except OSError:
                    time.sleep(REMOVE_WAIT_S)
