"""Reference calls relayed between the kernel and the reference worker (`relay`), with stand-ins for both."""
from __future__ import annotations

import json
import time
import types

import numpy as np

from autograder.remote import REFERENCE_PREFIX, relay
from autograder.remote.student import NO_SHAPE


class _Worker:
    """A reference worker that answers every call with `frames` in turn, recording what it was sent."""

    def __init__(self, *frames):
        self.frames, self.sent, self.defined, self.killed = list(frames), [], set(), False

    def alive(self):
        return not self.killed

    def kill(self):
        self.killed = True

    def _death(self):
        return "it ended"

    def send(self, header, payload, deadline):
        self.sent.append((header, payload))

    def receive(self, deadline):
        return self.frames.pop(0)


def _state(worker=None, grants=None):
    sandbox = types.SimpleNamespace(stdin_exchange=lambda reply, deadline: REFERENCE_PREFIX + "return\n7")
    return types.SimpleNamespace(sandbox=sandbox, call_timeout=5.0, call_deadline=time.monotonic() + 5, max_bytes=1000,
                                 grants=grants or {}, worker=worker, sent_shape=NO_SHAPE, reference_calls=0,
                                 reference_s=0.0)


def test_a_call_is_defined_once_sent_and_answered():
    """Is a granted call sent to the worker after its definition, a callback relayed to the kernel and its answer
    back to the worker, and the final answer returned, with the call counted?"""
    worker = _Worker(("C", '{"kind": "call"}'), ("R", '{"kind": "result", "value": 1}'))
    state = _state(worker, {"tok": ("f", "def f(x): ...", "key1")})
    answer = relay.serve(state, REFERENCE_PREFIX + 'ref tok\n{"args": [1], "kwargs": {}}')
    assert answer == '{"kind": "result", "value": 1}' and state.reference_calls == 1 and state.reference_s > 0
    assert [h["op"] for h, _ in worker.sent] == ["define", "call", "return"] and worker.sent[2][1] == "7"
    assert worker.sent[1][0]["limits"] == list(NO_SHAPE) and worker.defined == {"key1"}


def test_unknown_grants_other_prompts_and_dead_workers_are_answered_with_errors():
    """Does a prompt that is no reference call get EOF, a token of an ended test an error, and a call nested in a
    worker that died an error that says the worker was stopped (and the worker closed)?"""
    state = _state()
    assert relay.serve(state, "Name? ") == relay.EOF_REPLY
    assert "no longer available" in json.loads(relay.serve(state, REFERENCE_PREFIX + "ref old\n{}"))["error"]["message"]
    worker = _Worker(("C", '{"kind": "call"}'))
    state = _state(worker, {"tok": ("f", "", "k")})
    # The kernel's function called back makes a nested call (the worker dies meanwhile), then raises.
    kernel = iter([REFERENCE_PREFIX + "ref tok\n{}", REFERENCE_PREFIX + 'raise\n{"type": "RuntimeError"}'])
    state.sandbox.stdin_exchange = lambda reply, deadline: (worker.kill(), next(kernel))[1]
    worker.defined.add("k")
    answer = json.loads(relay.serve(state, REFERENCE_PREFIX + "ref tok\n{}"))
    assert "stopped its reference worker" in answer["error"]["message"] and state.worker is None


def test_note_sent_keeps_the_largest_shapes():
    """Does what a test sends (arrays, lists, dicts, nested) raise the bounds of reference arguments, never lower?"""
    state = _state()
    relay.note_sent(state, [np.zeros((3, 40, 2)), {"w": list(range(100))}])
    assert state.sent_shape == (3, 100)
    relay.note_sent(state, np.zeros(5))
    assert state.sent_shape == (3, 100)
