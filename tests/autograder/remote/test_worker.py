"""The grader's end of the reference worker (autograder.remote.worker): the worker dies with the grader, and
workers are forked from a zygote that outlives the thread that started it. What the worker process itself
accepts and refuses is tested in test_reference_worker.py."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.remote.worker import _ReferenceWorker, _WorkerFailed
from tests.autograder.remote.test_reference_worker import LIMITS, call
from tests.conftest import ROOT


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_worker_dies_with_the_grader():
    """When the grader process is killed (SIGKILL: no finalizer runs), does its reference worker end too?"""
    script = ("import sys, time\nfrom autograder.remote import _ReferenceWorker\nfrom autograder.sandbox import Limits\n"
              "w = _ReferenceWorker(Limits(), 1 << 20)\n"
              "w.send({'op': 'define', 'key': 'f', 'name': 'f', 'source': 'def f():\\n    return 1\\n'}, '', "
              "time.monotonic() + 30)\n"
              "w.send({'op': 'call', 'key': 'f', 'name': 'f', 'limits': [2, 16]}, '{}', time.monotonic() + 30)\n"
              "w.receive(time.monotonic() + 30)\n"  # armed: it answered
              "print(w.pid, flush=True)\ntime.sleep(60)\n")
    grader = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        pid = int(grader.stdout.readline())
        assert Path(f"/proc/{pid}").exists()
    finally:
        grader.kill()
        grader.wait()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists(), "the reference worker outlived the grader"


def test_workers_fork_from_a_zygote_and_start_directly_without_one(monkeypatch):
    """Are workers forked from this process's zygote (a fresh process each, in milliseconds), is a dead zygote
    replaced, and does a worker started directly (where no zygote can work) answer the same?"""
    from autograder.remote import worker as grader_end

    source = "def f(x):\n    return x + 1\n"
    first = _ReferenceWorker(LIMITS, 1 << 20)
    second = _ReferenceWorker(LIMITS, 1 << 20)
    try:
        if grader_end._zygote(LIMITS.threads) is None:
            pytest.skip("no zygote on this platform (pidfd and SCM_RIGHTS are Linux's)")
        assert first.proc is None and second.proc is None and first.pid != second.pid
        assert call(first, "f", source, [1])[1]["value"] == 2
        assert call(second, "f", source, [2])[1]["value"] == 3
    finally:
        first.kill()
        second.kill()
    grader_end._zygote(LIMITS.threads).kill()
    started = time.monotonic()
    again = _ReferenceWorker(LIMITS, 1 << 20)  # a fresh zygote
    try:
        assert again.proc is None and call(again, "f", source, [3])[1]["value"] == 4
        assert time.monotonic() - started < 20
    finally:
        again.kill()
    monkeypatch.setattr(grader_end, "_zygote", lambda threads: None)
    direct = _ReferenceWorker(LIMITS, 1 << 20)
    try:
        assert direct.proc is not None and call(direct, "f", source, [4])[1]["value"] == 5
        with pytest.raises(_WorkerFailed, match="ended with status 7"):
            call(direct, "g", "import os\ndef g():\n    os._exit(7)\n", [])
    finally:
        direct.kill()


def test_the_zygote_outlives_the_thread_that_first_needed_it():
    """A grading thread that starts the zygote and then ends (a pool retiring an idle thread): do the zygote and a
    worker it forked live on (PR_SET_PDEATHSIG fires when the thread that started a process ends)?"""
    import threading

    from autograder.remote import worker as grader_end

    if grader_end._zygote(LIMITS.threads) is None:
        pytest.skip("no zygote on this platform")
    grader_end._zygote(LIMITS.threads).kill()
    made = []
    thread = threading.Thread(target=lambda: made.append(_ReferenceWorker(LIMITS, 1 << 20)))
    thread.start()
    thread.join()
    worker = made[0]
    try:
        time.sleep(0.5)
        assert worker.proc is None and worker.alive() and grader_end._ZYGOTE[0].alive()
        assert call(worker, "f", "def f(x):\n    return x * 2\n", [21])[1]["value"] == 42
    finally:
        worker.kill()
