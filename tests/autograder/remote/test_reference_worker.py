"""The reference worker process (autograder/remote/_reference_worker.py) on its own, no kernel: what it accepts,
what it refuses, and how it is stopped.

The grader's end (`autograder.remote.worker._ReferenceWorker`) talks to a real worker
process here, as `RemoteStudent` does during a reference call: a define, a
call with the kernel's JSON arguments, and the frames that come back.
"""
from __future__ import annotations

import json
import re
import time

import pytest

from autograder.remote.worker import _ReferenceWorker, _WorkerFailed
from autograder.sandbox import Limits

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
