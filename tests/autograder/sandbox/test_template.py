"""The grader's side of the kernel template that runs without privileges: a forked kernel's status pipe,
log tails, waiting; and the programs the template runs, found as files."""
import os
import signal
import subprocess
import time

import pytest

from autograder.sandbox import template
from autograder.sandbox.template import PRELOAD, _Forked, _wait_for, log_tail


def test_a_forked_kernel_reports_its_status_on_a_pipe():
    """Is the wait status written by the kernel's parent its return code, and a pipe closed without one a kill?"""
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        r, w = os.pipe()
        forked = _Forked(sleeper.pid, r)
        assert forked.poll() is None
        with pytest.raises(subprocess.TimeoutExpired):
            forked.wait(timeout=0.05)
        os.write(w, str(3 << 8).encode())  # exit status 3
        os.close(w)
        assert forked.wait(timeout=5) == 3 and forked.poll() == 3
        r, w = os.pipe()
        forked = _Forked(sleeper.pid, r)
        os.close(w)
        assert forked.wait(timeout=5) == -signal.SIGKILL
    finally:
        sleeper.kill()
        sleeper.wait()


def test_log_tail_and_wait_for(tmp_path):
    log = tmp_path / "kernel.log"
    log.write_bytes(b"first\n\n" + b"x" * 3000 + b"\nlast line\n")
    tail = log_tail(log)
    assert tail.endswith(" | last line") and len(tail) <= template.LOG_TAIL_CHARS and "first" not in tail
    assert log_tail(tmp_path / "missing") == ""
    found = iter([None, None, 7])
    assert _wait_for(lambda: next(found), time.monotonic() + 5, lambda: True) == 7
    assert _wait_for(lambda: None, time.monotonic() + 5, lambda: False) is None


def test_the_template_programs_are_files():
    """Are the setup and the template's main program files of the package, and does the template import
    torch._dynamo before TensorFlow (loaded after TensorFlow 2.21 it aborts the process)?"""
    assert template.SETUP.is_file() and template.TEMPLATE_MAIN.is_file()
    assert template.SETUP.parent == template.TEMPLATE_MAIN.parent == template.CHILD
    assert PRELOAD.index("torch._dynamo") < PRELOAD.index("tensorflow")


def test_a_lab_preloads_torch_dynamo_only_when_its_notebook_asks_for_it():
    """Does a template preload torch._dynamo (about 1.6 s of its start) only for code that imports it or
    torch.optim (whose first step imports it), while the frameworks and ipykernel are always preloaded, in
    `PRELOAD`'s order?"""
    plain = template.preload_for(["numpy", "torch", "tensorflow", "matplotlib.pyplot"])
    assert "torch._dynamo" not in plain and plain == tuple(n for n in PRELOAD if n != "torch._dynamo")
    for asks in (["torch.optim"], ["torch._dynamo"], ["torch.optim.lr_scheduler"], ["torch._dynamo.config"]):
        assert template.preload_for(asks) == PRELOAD, asks
    for near in (["torch"], ["torch.optimizers"], ["torch_optim"], []):  # names that only look alike
        assert "torch._dynamo" not in template.preload_for(near), near
    assert {"numpy", "torch", "tensorflow", "ipykernel_launcher"} <= set(template.preload_for([]))
