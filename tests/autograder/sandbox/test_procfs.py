"""What /proc says about a process, and owner tags."""
import os
import subprocess
import sys
import time

from autograder.sandbox.procfs import (_children, _innermost_pid, _owner_alive, _owner_tag, _parent_pid, _read_proc,
                                       _start_time)


def test_this_process():
    assert _start_time(os.getpid()) and _parent_pid(os.getpid()) == os.getppid()
    assert _innermost_pid(os.getpid()) is not None and _owner_alive(_owner_tag())
    assert _read_proc(f"/proc/{os.getpid()}/status").startswith(b"Name:")
    assert _read_proc("/proc/no-such-file") == b""


def test_a_zombie_and_a_reused_pid_are_not_owners():
    """A child that exited and is not reaped has no start time; a tag with another start time is not alive."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 10
        while _start_time(child.pid) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _start_time(child.pid) is None and not _owner_alive(str(child.pid))
    finally:
        child.wait()
    assert not _owner_alive(f"{os.getpid()} 1") and not _owner_alive("") and not _owner_alive("x y")
    assert _owner_alive(str(os.getpid()))


def test_children():
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert child.pid in _children(os.getpid()) and _parent_pid(child.pid) == os.getpid()
    finally:
        child.kill()
        child.wait()
