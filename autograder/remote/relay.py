"""Reference calls, seen from the grader: relayed between the kernel's stand-ins and the reference worker.

While a call into the kernel runs, a stand-in (``student.use_reference``) asks
the grader over the kernel's stdin channel (prompt `REFERENCE_PREFIX` +
``"ref <token>\\n"`` + the arguments' JSON). The grader never parses the
arguments: it passes the text to the reference worker and the worker's answer
(a result, an error, or a call of a kernel function) back to the kernel.
Every function here works on the `RemoteStudent`'s state (``student._ag``).
"""
from __future__ import annotations

import json
import time

import numpy as np

from autograder.remote.errors import RemoteProtocolError
from autograder.remote._wire_codec import MAX_NESTED_REFERENCES
from autograder.remote.reference import REFERENCE_PREFIX, _reference_error
from autograder.remote.worker import _ReferenceWorker, _WorkerFailed

EOF_REPLY = "\x04"  # the answer to an input_request that is not a reference call
MAX_EXCHANGES = 100_000  # messages relayed during one reference call
TOKEN_LINE = 80  # the first line of a stand-in's message ("ref <token>", "return", "raise") is shorter
WORKER_MARGIN_S, WORKER_MARGIN_SHARE = 2.0, 0.2  # the worker's time ends this much before the call's
NOTED_DEPTH, NOTED_ITEMS, NOTED_LEN = 4, 1000, 1 << 20  # how far `note_sent` looks into what a test sent
MB = 20  # bits of a megabyte


def serve(state, prompt: str) -> str:
    """Answer one input_request of the kernel: a stand-in's reference call (anything else gets EOF)."""
    if not prompt.startswith(REFERENCE_PREFIX):
        return EOF_REPLY
    started = time.perf_counter()
    try:
        return _Relay(state).run(prompt[len(REFERENCE_PREFIX):])
    finally:
        state.reference_s += time.perf_counter() - started


def start_worker(state) -> _ReferenceWorker:
    """A fresh reference worker for the running test cell; `_WorkerFailed` when none can start."""
    try:
        worker = _ReferenceWorker(state.sandbox.limits, state.max_bytes)
    except OSError as exc:
        raise _WorkerFailed(f"the grader could not start a reference worker ({exc})") from None
    state.worker = worker
    return worker


def close_reference(state) -> None:
    """Kill the reference worker, if one runs (a later reference call starts a fresh one)."""
    worker, state.worker = state.worker, None
    if worker is not None:
        worker.kill()


def note_sent(state, x, depth: int = 0) -> None:
    """Remember the largest arrays and lists sent in this test cell (they bound what reference calls receive)."""
    if depth > NOTED_DEPTH:
        return
    ndim, dim = state.sent_shape
    if isinstance(x, np.ndarray):
        state.sent_shape = (max(ndim, x.ndim), max([dim, *x.shape]))
    elif isinstance(x, (list, tuple)):
        state.sent_shape = (ndim, max(dim, min(len(x), NOTED_LEN)))
        for v in x[:NOTED_ITEMS]:
            note_sent(state, v, depth + 1)
    elif isinstance(x, dict):
        for v in list(x.values())[:NOTED_ITEMS]:
            note_sent(state, v, depth + 1)


class _Relay:
    """One reference call of the kernel, served until it is answered (with the calls nested in it).

    `names` are the reference calls the worker is serving, outermost first (a kernel function it
    called back may call a stand-in again); the answer to the outermost one is returned (the sandbox
    sends it), every other message goes to the kernel over `Sandbox.stdin_exchange`. When the worker
    fails (out of time, dead), it is killed and each pending call is answered with the reason
    (`broken`: (type, message)).
    """

    def __init__(self, state):
        self.state = state
        self.deadline = state.call_deadline or time.monotonic() + state.call_timeout
        # The worker's time ends a little before the call's, so that its failure reaches the test as an answer.
        self.worker_deadline = self.deadline - min(WORKER_MARGIN_S, WORKER_MARGIN_SHARE * state.call_timeout)
        self.names: list[str] = []
        self.broken = None

    def run(self, text: str) -> str:
        """Pass messages between the kernel and the worker until the kernel's reference call is answered."""
        for _ in range(MAX_EXCHANGES):
            if text is None:
                reply = EOF_REPLY  # an input() of the notebook's own, inside a function the reference called back
            else:
                reply = self.step(text)
                if not self.names:
                    return reply
            try:
                prompt = self.state.sandbox.stdin_exchange(reply, self.deadline)
            except BaseException:
                close_reference(self.state)  # it waits for an answer that will not come
                raise
            text = prompt[len(REFERENCE_PREFIX):] if prompt.startswith(REFERENCE_PREFIX) else None
        close_reference(self.state)
        raise RemoteProtocolError("too many exchanges during a reference call")

    def step(self, text: str) -> str:
        """One message from the kernel to the worker, and the worker's next message for the kernel."""
        cut = text.find("\n", 0, TOKEN_LINE)
        kind, _, token = (text[:cut] if cut >= 0 else "").partition(" ")
        payload = text[cut + 1:]
        if kind == "ref":
            return self.call(token, payload)
        if kind in ("return", "raise") and self.names:
            if self.broken is not None:
                self.names.pop()
                return _reference_error(*self.broken)
            if len(payload) > self.state.max_bytes:
                payload, kind = json.dumps({"type": "ValueError", "module": "builtins", "message":
                                            f"its result is larger than {self.state.max_bytes >> MB} MB"}), "raise"
            return self.exchange([({"op": kind}, payload)])
        if not self.names:
            return _reference_error("RuntimeError", "malformed reference call")
        return self.exchange([])

    def call(self, token: str, payload: str) -> str:
        """A stand-in's call: checked against the test's grants, then sent to the worker."""
        grant = self.state.grants.get(token)
        if grant is None:
            return _reference_error("RuntimeError", "this reference function is no longer available: it answers "
                                                    "only during the test that provided it")
        name, source, key = grant
        if len(self.names) >= MAX_NESTED_REFERENCES:
            return _reference_error("RecursionError", f"reference {name}: calls nested too deeply")
        if self.broken is not None:
            return _reference_error(*self.broken)
        if len(payload) > self.state.max_bytes:
            return _reference_error("ValueError", f"reference {name}: the arguments are larger than "
                                                  f"{self.state.max_bytes >> MB} MB")
        self.state.reference_calls += 1
        self.names.append(name)
        header = {"op": "call", "key": key, "name": name, "limits": list(self.state.sent_shape)}
        return self.exchange([(header, payload)], (key, name, source))

    def exchange(self, frames: list, reference: tuple | None = None) -> str:
        """Send `frames` to the worker (defining `reference` first if it needs it); its next message."""
        try:
            if not frames:
                raise _WorkerFailed("the kernel broke the protocol during a reference call")
            worker = self.worker(fresh_ok=reference is not None and len(self.names) == 1)
            if reference is not None and reference[0] not in worker.defined:
                key, name, source = reference
                frames.insert(0, ({"op": "define", "key": key, "name": name, "source": source}, ""))
                worker.defined.add(key)
            for header, body in frames:
                worker.send(header, body, self.worker_deadline)
            frame, answer = worker.receive(self.worker_deadline)
        except _WorkerFailed as exc:
            close_reference(self.state)
            limit = f" ({self.state.call_timeout:g} s per call)" if exc.kind == "TimeoutError" else ""
            reason = f"reference {self.names[-1]}: the grader stopped its reference worker: {exc}{limit}"
            self.broken = (exc.kind, reason)
            self.names.pop()
            return _reference_error(*self.broken)
        if frame == "R":
            self.names.pop()
        return answer

    def worker(self, fresh_ok: bool) -> _ReferenceWorker:
        """The running worker; a fresh one only for an outermost call (a fresh one would not know a nested one)."""
        worker = self.state.worker
        if worker is None or not worker.alive():
            if not fresh_ok:
                raise _WorkerFailed(worker._death() if worker is not None else "it is gone")
            worker = start_worker(self.state)
        return worker
