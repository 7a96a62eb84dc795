"""`RemoteStudent`: the notebook's names, seen from the grader; every call goes into the student's kernel."""
from __future__ import annotations

import contextlib
import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autograder.remote import relay
from autograder.remote._wire_codec import DTYPES
from autograder.remote.codec import MAX_CONTAINERS, MIME, decode, encode
from autograder.remote.errors import (InPlaceChange, RemoteError, RemoteProtocolError, RemoteTimeout, _clean,
                                      _reemit_warnings, raise_failure)
from autograder.remote.handle import RemoteObject, _forbidden
from autograder.remote.reference import CALLABLE_MODULES, PURE_FUNCTIONS, REFERENCE_PREFIX, _check_reference
from autograder.remote.worker import _WorkerFailed, _zygote

_KERNEL_SIDE = Path(__file__).with_name("_kernel_side.py")
_KERNEL_SIDE_SOURCE = _KERNEL_SIDE.read_text()  # sent to every kernel started: read once
NO_SHAPE = (2, 16)  # (ndim, dim) bounds of reference arguments before a test sent anything
PING_TIMEOUT_S = RESTORE_TIMEOUT_S = 10
MB = 20  # bits of a megabyte
REPLY_SLACK = 4096  # characters of an answer beyond its base64 payload
CHANGES_SHOWN, CHANGES_READ = 5, 256  # arguments changed in place: named in a message, read back
ROUND_OFF = 1e-12  # relative and absolute change of an argument that is not a change (a restore's round-off)
SHORT_ORIGIN, SHORT_TEXT = 60, 20  # longest origin and string shown as themselves in a call's description


@dataclass
class _State:
    """Everything a `RemoteStudent` knows (held in its one attribute, ``_ag``)."""

    sandbox: object
    call_timeout: float
    max_bytes: int
    name: str  # the helper's name in the kernel
    deadline: float | None = None  # every call fails after this (time.monotonic())
    last_call: str = ""
    changed: dict | None = None  # the arguments the last call changed in place, as the kernel reported them
    in_place_ok: bool = False
    grants: dict = field(default_factory=dict)  # token -> (name, source, key): the running test's references
    worker: object = None  # the reference worker of the running test cell, once one was needed
    sent_shape: tuple = NO_SHAPE  # (ndim, dim) bounds of the arrays and lists this test cell sent
    call_deadline: float | None = None
    reference_calls: int = 0  # reference calls served, and the seconds spent serving them
    reference_s: float = 0.0


class RemoteStudent:
    """The notebook's names, as attributes: ``student.sigmoid(z)``.

    Parameters
    ----------
    sandbox : Sandbox
        A started sandbox; `_ag_install` puts the kernel-side helper into it.
    call_timeout_s : float
        Wall-time limit of one call (default: the sandbox's ``Limits.call_timeout_s``).
    max_reply_bytes : int
        Largest answer accepted (default: ``Limits.reply_mb``).
    """

    def __init__(self, sandbox, *, call_timeout_s: float | None = None, max_reply_bytes: int | None = None):
        object.__setattr__(self, "_ag", _State(sandbox, call_timeout_s or sandbox.limits.call_timeout_s,
                                                max_reply_bytes or sandbox.limits.reply_mb << MB,
                                                "__autograder_" + secrets.token_hex(8) + "__"))

    # --- plumbing
    def _ag_install(self) -> None:
        """Inject the helper (before the submission runs, so it holds unpatched tools)."""
        s = self._ag
        source = _KERNEL_SIDE_SOURCE
        code = ("(lambda src, ns: (exec(compile(src, '<autograder>', 'exec'), ns), "
                f"ns['install'](__import__('IPython').get_ipython(), {s.name!r}, {MIME!r}, {s.max_bytes}, "
                f"{REFERENCE_PREFIX!r}, {PURE_FUNCTIONS!r}, {tuple(sorted(DTYPES))!r}, {CALLABLE_MODULES!r})))"
                f"({source!r}, {{'__name__': '_autograder_kernel_side'}})")
        _zygote(s.sandbox.limits.threads)  # started now (if not yet), it is ready when a test needs a reference
        result = s.sandbox.execute(code, timeout=s.sandbox.limits.startup_timeout_s, silent=True, store_history=False)
        if result.status != "ok":
            raise RemoteProtocolError(f"the grader's helper could not be installed: {result.ename}: {result.evalue}")

    def _ag_ensure(self) -> None:
        """Check the helper answers; reinstall it when the notebook removed or broke it."""
        try:
            if self._ag_request({"op": "ping"}, "ping", timeout=PING_TIMEOUT_S) == "pong":
                return
        except (RemoteError, RemoteTimeout):
            pass
        self._ag_install()

    def _ag_set_deadline(self, deadline: float | None) -> None:
        """Make every later call fail with RemoteTimeout after `deadline` (time.monotonic())."""
        self._ag.deadline = deadline

    def _ag_request(self, request: dict, call: str, *, timeout: float | None = None):
        s = self._ag
        s.last_call = call
        limit = timeout or s.call_timeout
        if s.deadline is not None:
            left = s.deadline - time.monotonic()
            if left <= 0:
                raise RemoteTimeout(f"the test ran out of time before calling {call}")
            limit = min(limit, left)
        nonce = secrets.token_hex(8)
        expression = f"{s.name}({nonce!r}, {json.dumps(request, allow_nan=True)!r})"
        s.call_deadline = time.monotonic() + limit
        serve = (lambda prompt: relay.serve(s, prompt)) if s.grants else None  # stdin is open only while granted
        result = s.sandbox.execute("", timeout=limit, silent=True, store_history=False,
                                   user_expressions={"r": expression}, on_input=serve)
        if result.status == "timeout":
            raise RemoteTimeout(f"{call} did not return within {limit:.3g} s")
        if result.status != "ok":
            raise RemoteProtocolError(f"the kernel refused the call to {call}: {result.ename}: {_clean(result.evalue, 200)}")
        return self._ag_answer(result.user_expressions or {}, nonce, call)

    def _ag_answer(self, expressions: dict, nonce: str, call: str):
        answer = _read_answer(expressions, nonce, call, self._ag.max_bytes)
        if answer.get("ok") is True and "value" in answer:
            _reemit_warnings(answer.get("warnings"), call)
            self._ag.changed = answer.get("changed")
            try:
                return decode(answer["value"], student=self, origin=call)
            except RecursionError:
                raise RemoteProtocolError(f"the answer to {call} is nested too deeply") from None
            except RemoteProtocolError as exc:
                raise RemoteProtocolError(f"{call} returned something the grader cannot accept: {exc}") from None
        raise_failure(answer, call)

    def _ag_call(self, target: dict, origin: str, args, kwargs):
        call = _describe_call(origin, args, kwargs)
        relay.note_sent(self._ag, args)
        relay.note_sent(self._ag, kwargs)
        request = {"op": "call", "target": target,
                   "args": [encode(a, student=self) for a in args],
                   "kwargs": {k: encode(v, student=self) for k, v in kwargs.items()}}
        self._ag.changed = None
        value = self._ag_request(request, call)
        _write_back(self._ag.changed, args, kwargs, call, self._ag.in_place_ok)
        return value

    @contextlib.contextmanager
    def allow_in_place(self):
        """Within this block, calls may change their array arguments in place (the change still comes back)."""
        before = self._ag.in_place_ok
        self._ag.in_place_ok = True
        try:
            yield self
        finally:
            self._ag.in_place_ok = before

    def _ag_restore(self) -> None:
        """Undo every `use_reference` (called after each test cell): the stand-ins stop answering."""
        self._ag.grants.clear()
        self._ag_close_reference()
        self._ag.sent_shape = NO_SHAPE
        self._ag_request({"op": "restore"}, "restoring the notebook's names", timeout=RESTORE_TIMEOUT_S)

    def _ag_close_reference(self) -> None:
        """Kill the reference worker, if one runs (a later reference call starts a fresh one)."""
        relay.close_reference(self._ag)

    # --- what hidden tests use
    def use_reference(self, name: str, source: str) -> None:
        """Replace the notebook's `name` by the function `source` defines, until the test cell ends.

        Same contract as ``course_utils.checks`` in-kernel: an exercise that builds on an earlier one
        is graded on its own. `source` runs in a reference worker, never in the kernel nor in this
        process: the notebook's `name` becomes a stand-in whose calls the grader relays (over the
        kernel's stdin channel) to the worker, only until this test cell ends; afterwards it raises.
        Arguments travel as plain data, bounded by what the test itself sent; a function passed to the
        reference (a ``g``) is called back in the kernel. The reference must return plain data
        (arrays, numbers, tuples ...).
        """
        if not isinstance(name, str) or not isinstance(source, str) or not name.isidentifier():
            raise TypeError("use_reference(name, source) takes a name and the source that defines it")
        key = _check_reference(name, source)
        token = secrets.token_hex(16)
        self._ag.grants[token] = (name, source, key)
        if self._ag.worker is None or not self._ag.worker.alive():
            try:  # started now, so that it is ready when the first call comes
                relay.start_worker(self._ag)
            except _WorkerFailed:
                pass  # the first call starts it again, and says why it cannot
        self._ag_request({"op": "use_reference", "name": name, "token": token}, f"use_reference({name!r})")

    def __getattr__(self, name: str):
        if _forbidden(name):
            raise AttributeError(name)
        return self._ag_request({"op": "get", "name": name}, name)

    def __setattr__(self, name, value):
        raise AttributeError("hidden tests read the notebook's names; they must not change them")

    def __dir__(self):
        return []

    def __repr__(self):
        return "<the student's notebook>"


def ref(owner: RemoteStudent | RemoteObject, name: str) -> RemoteObject:
    """``owner.name`` as a `RemoteObject` even when it is plain data (e.g. a parameter to pass back later)."""
    if _forbidden(name):
        raise AttributeError(name)
    if isinstance(owner, RemoteStudent):
        return owner._ag_request({"op": "get", "name": name, "keep": True}, name)
    handle = owner._ag
    return handle.student._ag_request({"op": "getattr", "handle": handle.id, "name": name, "keep": True},
                                      f"{handle.origin}.{name}")


# ------------------------------------------------------------ answers
def _read_answer(expressions: dict, nonce: str, call: str, max_bytes: int) -> dict:
    """The helper's answer to the call `nonce`, checked for size and shape before and after parsing."""
    entry = expressions.get("r")
    if not isinstance(entry, dict):
        raise RemoteProtocolError(f"no answer from the kernel for {call} (did the notebook replace the grader's helper?)")
    if entry.get("status") != "ok":
        ename = _clean(entry.get("ename"), 100)
        raise RemoteProtocolError(f"the grader's helper in the kernel failed while calling {call} ({ename}: "
                                  f"{_clean(entry.get('evalue'), 200)}); did the notebook replace it?")
    data = entry.get("data")
    text = data.get(MIME) if isinstance(data, dict) else None
    if not isinstance(text, str):
        raise RemoteProtocolError(f"no answer from the kernel for {call} (did the notebook replace the grader's helper?)")
    if len(text) > max_bytes * 4 // 3 + REPLY_SLACK:
        raise RemoteProtocolError(f"{call} returned more than {max_bytes >> MB} MB")
    if text.count("[") + text.count("{") > MAX_CONTAINERS:  # 16 MB of "[]," would be 440 MB of lists here
        raise RemoteProtocolError(f"{call} returned more than {MAX_CONTAINERS} nested lists or dicts; "
                                  f"return arrays (or fewer, larger lists)")
    try:
        answer = json.loads(text)
    except (ValueError, RecursionError):
        raise RemoteProtocolError(f"the answer to {call} is not valid JSON or is nested too deeply") from None
    if type(answer) is not dict or answer.get("nonce") != nonce:
        raise RemoteProtocolError(f"the answer to {call} does not belong to this call")
    return answer


# ------------------------------------------------------------ arguments changed in place
def _resolve_path(key, args, kwargs):
    """The grader-side array an in-place report's key names ("0", "1/W1/0", "kw:params/b"), or None."""
    if not isinstance(key, str):
        return None
    head, *rest = key.split("/")
    if head.startswith("kw:"):
        value = kwargs.get(head[3:])
    elif head.isdigit() and int(head) < len(args):
        value = args[int(head)]
    else:
        return None
    for part in rest[:5]:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, (list, tuple)) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value if isinstance(value, np.ndarray) else None


def _describe_path(key: str) -> str:
    head, *rest = key.split("/")
    name = f"argument {head[3:]!r}" if head.startswith("kw:") else f"argument {int(head) + 1}"
    return name + "".join(f"[{p}]" if p.isdigit() else f"[{p!r}]" for p in rest)


def _write_back(changed, args, kwargs, call: str, allowed: bool) -> None:
    """Copy into the caller's arrays what the call did to their kernel-side copies; then, unless the
    test allowed it (`allow_in_place`), fail the call: changing an argument in place is a mistake."""
    if not isinstance(changed, dict) or not changed:
        return
    where = []
    for key, marker in list(changed.items())[:CHANGES_READ]:
        original = _resolve_path(key, args, kwargs)
        if original is None:
            continue
        try:
            new = np.asarray(decode(marker, origin=call))
        except RemoteProtocolError:
            where.append(_describe_path(key))
            continue
        # Round-off of a restore (w[i] += h; ...; w[i] -= h) is not a change; anything larger is.
        if not (new.shape == original.shape and np.issubdtype(new.dtype, np.number) and np.allclose(
                new, original, rtol=ROUND_OFF, atol=ROUND_OFF, equal_nan=True)):
            where.append(_describe_path(key))
        if not original.flags.writeable:
            continue
        if new.shape == original.shape:
            np.copyto(original, new, casting="unsafe")
        else:  # resized in place: make the difference visible all the same
            original[...] = np.nan if original.dtype.kind in "fc" else 0
    if where and not allowed:
        shown = ", ".join(where[:CHANGES_SHOWN]) + (" ..." if len(where) > CHANGES_SHOWN else "")
        raise InPlaceChange(f"{call} modified {shown} in place; "
                            "it must leave its inputs unchanged (work on a copy, e.g. x = x.copy() or x = x + ...)")


# ------------------------------------------------------------ describing calls
def _describe(x, depth: int = 0) -> str:
    """Short text for an argument that names its kind, not its (possibly hidden) values."""
    if isinstance(x, RemoteObject):
        return x._ag.origin if len(x._ag.origin) <= SHORT_ORIGIN else f"<{x._ag.type}>"
    if isinstance(x, np.ndarray):
        framework = getattr(x, "__framework__", "numpy")
        kind = {"torch": "tensor", "tensorflow": "tf tensor"}.get(framework, "array")
        return f"<{kind} {tuple(x.shape)} {x.dtype}>"
    if x is None or isinstance(x, (bool, int, np.integer)):
        return repr(x if not isinstance(x, np.integer) else int(x))
    if isinstance(x, (float, np.floating)):
        return "<float>"
    if isinstance(x, str):
        return repr(x) if len(x) <= SHORT_TEXT else repr(x[:SHORT_TEXT - 3] + "...")
    if isinstance(x, (tuple, list)):
        if depth or len(x) > 4:
            return f"<{type(x).__name__} of {len(x)}>"
        inner = ", ".join(_describe(v, depth + 1) for v in x)
        return f"({inner}{',' if len(x) == 1 else ''})" if isinstance(x, tuple) else f"[{inner}]"
    if callable(x):
        return getattr(x, "__name__", "<function>")
    return f"<{type(x).__name__}>"


def _describe_call(origin: str, args, kwargs) -> str:
    parts = [_describe(a) for a in args] + [f"{k}={_describe(v)}" for k, v in kwargs.items()]
    return f"{origin}({', '.join(parts)})"
