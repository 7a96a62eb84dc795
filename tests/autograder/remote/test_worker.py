"""The reference worker on its own (no kernel): what it accepts, what it refuses, and how it is stopped.

The grader's end (`autograder.remote.worker._ReferenceWorker`) talks to a real worker
process here, as `RemoteStudent` does during a reference call: a define, a
call with the kernel's JSON arguments, and the frames that come back.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.remote.worker import _ReferenceWorker, _WorkerFailed
from autograder.sandbox import Limits
from tests.conftest import ROOT

LIMITS = Limits(memory_mb=512, cpu_s=60)
TEST_SHAPE = [2, 16]  # what RemoteStudent sends by default: arrays of 2 dimensions of 16 (80 per dimension allowed)


@pytest.fixture
def worker():
    w = _ReferenceWorker(LIMITS, 1 << 20)
    yield w
    w.kill()


def call(worker, name, source, args, kwargs=None, timeout=20.0, limits=TEST_SHAPE):
    """Define `name` and call it with these (JSON) arguments; the answer as a dict."""
    deadline = time.monotonic() + timeout
    worker.send({"op": "define", "key": name, "name": name, "source": source}, "", deadline)
    worker.send({"op": "call", "key": name, "name": name, "limits": limits},
                json.dumps({"args": args, "kwargs": kwargs or {}}), deadline)
    frame, text = worker.receive(deadline)
    return frame, json.loads(text)


def error_of(answer):
    assert answer["kind"] == "error", answer
    return answer["error"]["type"], answer["error"]["message"]


IDENTITY = "def f(*args, **kwargs):\n    return len(args)\n"


@pytest.mark.parametrize("args, match", [
    ([2**255], r"argument 1 is an integer of 77 digits; integers passed to a reference must be at most 2\*\*53"),
    ([{"__dict__": {"t": 2**53 + 1}}], r"argument 1\['t'\] is an integer of 16 digits"),
    ([[[0.0]] * 200000], "argument 1 holds 200000 items; this test's inputs allow at most 80"),
    ([{"__tuple__": [1.0] * 81}], "argument 1 holds 81 items"),
    ([[[[[[[[[[1.0]]]]]]]]]], "nested more than 6 levels deep"),
    ([{"__dict__": {"k" * 101: 1}}], "a key of 101 characters"),
    (["x" * 10_001], "a string of 10001 characters"),
    ([{"__callable__": "builtins.exit"}], "argument 1 is the function 'builtins.exit', which may not be passed to a "
                                          "reference: pass a function of your own"),
    ([{"__callable__": "builtins.open"}], "'builtins.open', which may not be passed"),
    ([{"__callable__": "os.system"}], "'os.system', which may not be passed"),
    ([{"__ndarray__": "", "dtype": "float64", "shape": [1000, 0]}], r"shape \(1000, 0\) is larger than this test"),
    ([{"__ndarray__": "", "dtype": "object", "shape": [0]}], "not allowed"),
    ([{"__reduce__": "os.system"}], "unexpected marker"),
])
def test_arguments_are_refused_by_type_size_and_magnitude(worker, args, match):
    """Is each argument a student could choose to hurt a reference (a huge int, huge nested lists, deep nesting,
    long keys or strings, builtins by name, arrays past the test's own sizes) refused with a ValueError that
    names the argument, before the reference runs?"""
    frame, answer = call(worker, "f", IDENTITY, args)
    kind, message = error_of(answer)
    assert frame == "R" and kind == "ValueError"
    assert message.startswith("reference f: ")
    assert re.search(match, message), message
    # The worker still answers: a refusal is the test's failure, not the worker's.
    assert call(worker, "f", IDENTITY, [1, 2.5, None])[1] == {"kind": "result", "value": 3}


def test_pure_functions_pass_and_kernel_functions_are_called_back(worker):
    """Does numpy.tanh arrive as itself, and does a handle become a callback (a C frame) whose answer the reference
    uses, with a config dict it fills reported as changed?"""
    frame, answer = call(worker, "f", "def f(g, x):\n    return g(x)\n", [{"__callable__": "numpy.tanh"}, 0.5])
    assert frame == "R" and answer["value"]["dtype"] == "float64"
    source = "def h(g, config):\n    config['n'] = g(2)\n    return config['n'] + 1\n"
    deadline = time.monotonic() + 20
    worker.send({"op": "define", "key": "h", "name": "h", "source": source}, "", deadline)
    worker.send({"op": "call", "key": "h", "name": "h", "limits": TEST_SHAPE},
                json.dumps({"args": [{"__handle__": 7, "type": "builtins.function"}, {"__dict__": {}}]}), deadline)
    frame, text = worker.receive(deadline)
    assert frame == "C" and json.loads(text) == {"kind": "call", "handle": 7, "args": [2], "kwargs": {}}
    worker.send({"op": "return"}, "40", deadline)
    frame, text = worker.receive(deadline)
    assert frame == "R" and json.loads(text) == {"kind": "result", "value": 41,
                                                 "changed": {"1": {"__dict__": {"n": 40}}}}


def test_a_reference_that_never_ends_is_stopped_at_the_deadline(worker):
    """Does a reference stuck in a pure-Python integer power (no signal would stop it) cost only the time the
    grader gives it: receive fails at the deadline, the worker is killed and gone?"""
    started = time.monotonic()
    with pytest.raises(_WorkerFailed, match="did not finish within the time left") as info:
        call(worker, "f", "def f(b, t):\n    return b ** t\n", [3, 2**53], timeout=2.0)
    assert info.value.kind == "TimeoutError"
    assert time.monotonic() - started < 5
    worker.kill()
    assert not worker.alive()


def test_memory_past_the_limit_is_a_memory_error_and_output_goes_nowhere(worker):
    """Does a reference that asks for more than memory_mb get a MemoryError (the worker lives on), and does a
    reference that prints not disturb the protocol?"""
    frame, answer = call(worker, "f", "import numpy as np\ndef f(n):\n    return np.ones((n, n)).sum()\n", [40_000])
    assert error_of(answer)[0] == "MemoryError"
    frame, answer = call(worker, "p", "def p(x):\n    print('R 3\\nabc' * 1000)\n    return x\n", [5])
    assert answer == {"kind": "result", "value": 5}


def test_a_worker_that_dies_is_reported(worker):
    """Does a worker that exits mid-call (os._exit in a reference) raise _WorkerFailed saying it ended?"""
    with pytest.raises(_WorkerFailed, match="ended"):
        call(worker, "f", "import os\ndef f():\n    os._exit(7)\n", [])


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
