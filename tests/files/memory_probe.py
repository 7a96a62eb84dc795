"""Hold memory in several processes of confined kernels, as whoever runs this script; print one JSON list.

Run by tests/autograder/sandbox/test_memory.py as root and as an unprivileged uid. For each case, a fresh kernel
forks `children` processes, each of which writes `each_mb` MB in 16 MB pieces as fast as it can and then
waits `hold_s` seconds; the kernel waits for them. Meanwhile this process samples, every 10 ms, the memory
the kernel's processes hold beyond what the fresh kernel held: for each process, its resident anonymous
and shared memory minus the fresh kernel's (what a process forked from the kernel shares with it is not
counted again). It prints, per case, the peak, how the cell ended and the kernel's death reason.

    python tests/files/memory_probe.py [no-cgroup] LIMIT_MB:CHILDREN:EACH_MB:HOLD_S ...

``no-cgroup``: as root, behave as where the cgroup file system is not writable (the memory watch bounds
the kernel, as for an unprivileged grader).
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from autograder.sandbox import KernelDied, Limits, Sandbox, confinement_mode  # noqa: E402
from autograder.sandbox import client as sandbox_module  # noqa: E402

HOG = '''
import os, time
pids = []
for _ in range({children}):
    pid = os.fork()
    if pid == 0:
        held = []
        try:
            for _ in range({each_mb} // 16):
                held.append(b"\\x01" * (16 << 20))
            time.sleep({hold_s})
        finally:
            os._exit(0)
    pids.append(pid)
ended = [os.waitpid(pid, 0)[1] for pid in pids]
'''


def resident_kb(pid: int) -> int:
    """RssAnon + RssShmem of `pid`, in kB (0 when it is gone)."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssShmem"):
                total += int(value.split()[0])
    except (OSError, ValueError):
        return 0
    return total


def tree(pid: int) -> list[int]:
    """`pid` and its descendants (the children of every thread)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                todo += [int(c) for c in Path(f"/proc/{p}/task/{tid}/children").read_text().split()]
            except (OSError, ValueError):
                pass
    return found


def run(limit_mb: int, children: int, each_mb: int, hold_s: float) -> dict:
    out = {"uid": os.getuid(), "mode": confinement_mode()[0], "limit_mb": limit_mb,
           "wanted_mb": children * each_mb}
    with Sandbox({}, limits=Limits(memory_mb=limit_mb), confine=True) as box:
        out["memory"] = box.protections["memory"]
        kernel = box._kernel_pid
        base = resident_kb(kernel)
        peak = [0]
        stop = threading.Event()

        def observe():
            while not stop.wait(0.01):
                held = sum(max(0, resident_kb(p) - base) for p in tree(kernel))
                peak[0] = max(peak[0], held)

        observer = threading.Thread(target=observe, daemon=True)
        observer.start()
        started = time.monotonic()
        try:
            result = box.execute(HOG.format(children=children, each_mb=each_mb, hold_s=hold_s), timeout=90)
            out["cell"] = result.status
            out["reason"] = box.death_reason() if not box.alive() else ""
            out["alive"] = box.alive()
        except KernelDied as exc:
            out["cell"], out["reason"], out["alive"] = "died", exc.reason, False
        out["seconds"] = round(time.monotonic() - started, 2)
        stop.set()
        observer.join()
        out["peak_mb"] = peak[0] >> 10
    return out


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["no-cgroup"]:
        class NoCgroups(sandbox_module._Cgroups):
            def __init__(self, name, limits):  # as where the cgroup file system is read-only
                self.dirs, self.memory, self.kind = [], None, ""

        sandbox_module._Cgroups = NoCgroups
        args = args[1:]
    os.chdir(ROOT)
    cases = [case.split(":") for case in args]
    print(json.dumps([run(int(limit), int(children), int(each), float(hold)) for limit, children, each, hold in cases]))


if __name__ == "__main__":
    main()
