"""`_confine.py`: the limits a reference worker sets on itself before it reads anything."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import autograder.remote

WORKER = Path(autograder.remote.__file__).with_name("_reference_worker.py")


def _limits(pid: int) -> dict:
    """{name: soft limit} of a process, from /proc/<pid>/limits."""
    out = {}
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines()[1:]:
        name, soft = line[:26].strip(), line[26:47].strip()
        out[name] = soft
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_worker_confines_itself_as_its_config_says():
    """Started by path as the grader starts it (then waiting for its first request), does a worker run with the
    address space, CPU time, file size and descriptors of its config limited?"""
    config = {"memory_mb": 700, "cpu_s": 30, "threads": 1}
    proc = subprocess.Popen([sys.executable, "-I", str(WORKER), json.dumps(config)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, cwd="/")
    try:
        deadline = time.monotonic() + 30
        while _limits(proc.pid).get("Max file size") != "0" and time.monotonic() < deadline:
            time.sleep(0.05)
        limits = _limits(proc.pid)
    finally:
        proc.kill()
        proc.communicate()
    assert limits["Max address space"] == str(700 << 20) and limits["Max cpu time"] == "30"
    assert limits["Max file size"] == "0" and limits["Max core file size"] == "0" and limits["Max open files"] == "32"
