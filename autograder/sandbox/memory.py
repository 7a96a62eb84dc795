"""How much memory a submission's processes hold, read from /proc (the grader's memory watch, where no memory
cgroup bounds them; see "Memory" in the notes of `autograder.sandbox`)."""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

from autograder.sandbox.procfs import _children, _parent_pid, _read_proc

MEMORY_WATCH_S = 0.05  # how often the grader measures a submission's memory where no memory cgroup bounds it
NEAR_WATCH_S = 0.01  # how often while the submission's processes may hold more than half the limit
MOST_PROCESSES = 4096  # a tree is walked to at most this many processes
_RESIDENT_FIELDS = (b"RssAnon:", b"RssShmem:", b"VmSwap:")
_HAS_CHILDREN_FILE = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def _tree(pid: int, most: int = MOST_PROCESSES) -> list[int]:
    """`pid` and its descendants (the children of each of their threads), at most `most` of them.

    A process whose parent exits is reparented to the kernel (PID 1 of its namespace) or to a subreaper
    below it, so every process of a confined submission is in the kernel's tree.
    """
    found, todo, seen = [], [pid], {pid}
    if not _HAS_CHILDREN_FILE:  # a kernel built without CONFIG_PROC_CHILDREN: one scan of every parent pid
        while todo and len(found) < most:
            p = todo.pop()
            found.append(p)
            todo += [c for c in _children(p) if c not in seen and not seen.add(c)]
        return found
    while todo and len(found) < most:
        p = todo.pop()
        found.append(p)
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tasks:
            for child in _read_proc(f"/proc/{p}/task/{tid}/children").split():
                if int(child) not in seen:
                    seen.add(int(child))
                    todo.append(int(child))
    return found


def _resident_kb(pid: int) -> int:
    """What `pid` holds that may be its own, in kB: resident anonymous and shared memory and swap (RssAnon +
    RssShmem + VmSwap of /proc/<pid>/status; kernel counters, cheap to read). Counts in full the pages it
    shares with other processes (the template, its parent or children), so it is never less than its
    `_proportional_kb`; 0 when the process is gone."""
    total = 0
    for line in _read_proc(f"/proc/{pid}/status").splitlines():
        if line.startswith(_RESIDENT_FIELDS):
            with contextlib.suppress(ValueError, IndexError):
                total += int(line.split()[1])
    return total


def _proportional_kb(pid: int) -> int:
    """The memory `pid` holds, in kB, each page shared with n processes counted as 1/n: Pss_Anon + Pss_Shmem +
    SwapPss of /proc/<pid>/smaps_rollup (the kernel walks the page tables: milliseconds for a kernel with the
    libraries loaded). Files mapped from disk (the libraries' code: page cache, shared with the machine) are
    not counted. Falls back to `_resident_kb` where smaps_rollup cannot be read."""
    fields = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            key, _, value = line.partition(":")
            with contextlib.suppress(ValueError, IndexError):
                fields[key] = int(value.split()[0])
    except OSError:
        return _resident_kb(pid)
    if "Pss" not in fields:
        return _resident_kb(pid)
    # Before Linux 5.8 there is no split: all of it, files included.
    held = fields["Pss_Anon"] + fields.get("Pss_Shmem", 0) if "Pss_Anon" in fields else fields["Pss"]
    return held + fields.get("SwapPss", 0)


def held_kb(pids: list[int], baseline_kb: int, limit_kb: int) -> int:
    """What the processes `pids` hold beyond `baseline_kb`, counted proportionally, stopping as soon as the sum
    is past `limit_kb` (each process costs a walk of its page tables)."""
    total = -baseline_kb
    for pid in pids:
        total += _proportional_kb(pid)
        if total > limit_kb:
            break
    return total


def _stop(pids: list[int], kernel_pid: int) -> list[int]:
    """Stop (SIGSTOP) those of `pids` that are still the kernel or a child of one of `pids` (a pid reused by a
    process outside the submission has another parent); the pids stopped."""
    inside, stopped = set(pids), []
    for pid in pids:
        if pid == kernel_pid or _parent_pid(pid) in inside:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
    return stopped


def _resume(pids: list[int]) -> None:
    """Let the processes `_stop` stopped go on (SIGCONT); those gone are skipped."""
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGCONT)


class _MemoryWatch:
    """The memory watch of `autograder.sandbox.Sandbox` (a thread of the grader): kills the kernel, and with
    it every process of the submission, once they hold more than ``Limits.memory_mb`` together, or once the
    cgroup's out-of-memory killer has struck."""

    def _start_watch(self, memory_cgroup: bool) -> None:
        """Start the thread that kills the kernel, and with it every process of the submission, once they hold
        more than ``Limits.memory_mb`` together (see "Memory" in the module's notes)."""
        self._watch_stop = threading.Event()  # a fresh one: a retried start has set the first
        if memory_cgroup:
            target, args = self._watch_cgroup, ()
        else:  # the fresh kernel, before any code of the submission: its share of the template's libraries
            baseline = sum(_proportional_kb(p) for p in _tree(self._kernel_pid))
            self.protections["memory_baseline_mb"] = baseline >> 10
            target, args = self._watch_processes, (baseline,)
        self._watch = threading.Thread(target=target, args=args, name="sandbox-memory", daemon=True)
        self._watch.start()

    def _kernel_is_ours(self) -> bool:
        """Whether `_kernel_pid` is still this sandbox's kernel (safe to call from the watch thread)."""
        if self.confined:  # still the child of its parent: not a reused pid (the parent reaps it)
            return self._kernel_pid is not None and _parent_pid(self._kernel_pid) == self._proc.pid
        return self._proc.poll() is None

    def _watch_processes(self, baseline_kb: int) -> None:
        limit_kb = self.limits.memory_mb << 10
        wait = MEMORY_WATCH_S
        last = None  # (proportional count, full count) at the last walk, while the full count is past the limit
        next_walk = 0.0  # no walk of running processes before this (the watch takes at most half a core)
        while not self._watch_stop.wait(wait):
            if not self._kernel_is_ours():
                return
            pids = _tree(self._kernel_pid)
            sizes = {p: _resident_kb(p) for p in pids}
            resident_kb = sum(sizes.values()) - baseline_kb
            if resident_kb <= limit_kb:  # the full count is never below the proportional one: no walk
                last = None
                # Under half the limit, the next sample in twice the time (half the limit in 100 ms is beyond
                # what a kernel can write).
                wait = MEMORY_WATCH_S if 2 * resident_kb > limit_kb else 2 * MEMORY_WATCH_S
                continue
            # What they hold now, about: the last proportional count and what the full count grew since (a copy
            # on write is not in the full count: the next walk counts it). Near half the limit, or at the first
            # walk, the processes are stopped while they are counted: what they would write meanwhile (a walk
            # takes longest on a busy machine) cannot come on top of the count.
            near = last is None or 2 * (last[0] + max(0, resident_kb - last[1])) > limit_kb
            wait = NEAR_WATCH_S if near else MEMORY_WATCH_S
            if not near and time.monotonic() < next_walk:
                continue
            started = time.monotonic()
            held = self._count(pids, sizes, baseline_kb, limit_kb, stop=near)
            if held is None:
                return
            last = (held, resident_kb)
            # Walking page tables takes milliseconds per process (tens on a busy machine): walks of running
            # processes take at most half a core; near the limit, the processes run at least a third of the time.
            took = time.monotonic() - started
            next_walk = time.monotonic() + took
            wait = max(wait, took / 2) if near else wait

    def _count(self, pids: list[int], sizes: dict[int, int], baseline_kb: int, limit_kb: int, *, stop: bool):
        """The proportional count of `pids` (the processes stopped meanwhile when `stop`); None once the
        submission is killed for holding more than `limit_kb`."""
        pids = sorted(pids, key=sizes.get, reverse=True)  # the largest first: past the limit in fewest walks
        stopped = _stop(pids, self._kernel_pid) if stop else []
        try:
            held = held_kb(pids, baseline_kb, limit_kb)  # stops as soon as the sum is past the limit
            if held > limit_kb:
                self._end_for_memory(f"it ran out of memory (its processes held at least {held >> 10} MB; "
                                     f"limit {self.limits.memory_mb} MB)", pids)
                return None
            return held
        finally:
            _resume(stopped)

    def _watch_cgroup(self) -> None:
        # The cgroup's out-of-memory killer may end one child only: the whole submission ends, as without one.
        while not self._watch_stop.wait(2 * MEMORY_WATCH_S):
            if not self._kernel_is_ours():
                return
            if self._cgroups.oom_kills():
                self._end_for_memory(f"it ran out of memory (limit {self.limits.memory_mb} MB)", [])
                return

    def _end_for_memory(self, reason: str, pids: list[int]) -> None:
        if self._watch_stop.is_set() or not self._kernel_is_ours():
            return
        self._memory_reason = reason
        with contextlib.suppress(OSError):
            os.kill(self._kernel_pid, signal.SIGKILL)  # confined: PID 1 of its namespace, so every process goes
        if not self.confined:  # its process group, and the processes that left it
            with contextlib.suppress(OSError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
