"""A handle on a student's kernel: call its functions on inputs the grader chooses, get plain data back.

Hidden tests run in the grading process and see the notebook through a
`RemoteStudent`::

    got = student.sigmoid(z)            # z is sent, sigmoid runs in the kernel, the result comes back
    layer = student.MyDenseLayerTorch(3, 2)
    layer.W.shape, layer(X)             # objects stay in the kernel; attributes and calls go through

Wire format (JSON text both ways; the same for arguments and results)
-----------------------------------------------------------------------
``None``, bools, ints, floats (NaN and infinities included) and strings are
themselves; lists are JSON arrays; every JSON object is one of these markers:

* ``{"__ndarray__": base64, "dtype": name, "shape": [...]}`` plus optional
  ``"framework": "torch" | "tensorflow"`` and ``"scalar": true`` (a numpy
  scalar); dtypes: bool, (u)int8-64, float16-64, complex64/128, little-endian;
* ``{"__tuple__": [...]}``, ``{"__dict__": {str: value}}``, ``{"__complex__": [re, im]}``;
* ``{"__handle__": id, "type": "module.Qualname", "mro": [names]}``: an
  object kept in the kernel (functions, layers, anything that is not plain
  data); `RemoteObject.__type_names__` gives the names of its classes, which
  ``course_utils.checks.type_names`` reports;
* ``{"__callable__": "numpy.tanh"}`` (arguments only): a function resolved
  by name. The grader may send functions of `CALLABLE_MODULES` to the kernel;
  from the kernel, only the short allow-list of pure functions
  `PURE_FUNCTIONS` travels by name (any other function stays in the kernel
  and travels as a handle).

The grader decodes strictly: at most ``max_reply_bytes`` of JSON, nesting
depth 32, one million items, whitelisted dtypes whose byte count matches
the shape (each dimension below 2**31), no pickle, nothing evaluated; any
value it cannot accept raises `RemoteProtocolError` and nothing else, so a
crafted answer costs the student's points, never the grader. Arrays come back as `RemoteArray`
(a numpy array with a ``__framework__`` attribute: "numpy", "torch" or
"tensorflow", which ``course_utils.checks.framework_of`` reports).

Errors: an exception of a common builtin type raised by the student's code
is raised here as a subclass of that type and of `RemoteError` (so
``except ValueError`` works); any other exception is a `RemoteError`; a
name the notebook does not define raises `NameMissing` (an
``AssertionError`` and an ``AttributeError``, so ``hasattr`` works); a call
that does not return in time raises `RemoteTimeout`; a dead kernel raises
`KernelDied`; a call that changes one of its array arguments in place (top
level, or inside lists, tuples and dicts) raises `InPlaceChange` (an
``AssertionError``) after writing the change back, unless the test wrapped
it in ``with student.allow_in_place():``. Messages say what was called
(arrays by shape and dtype only, so hidden inputs are not revealed); text
from the kernel goes through `clean_text` (no escapes, control characters
or lone surrogates, bounded length).

References: ``student.use_reference(name, source)`` makes the kernel's
`name` a stand-in that sends each call to the grader as an
``input_request`` on the stdin channel (prompt ``REFERENCE_PREFIX`` +
``"ref <token>\n"`` + the arguments' JSON). The reference never runs in the
grader, nor in the kernel: it runs in a reference worker
(`autograder._reference_worker`), a process of its own started when the
test first grants a reference (forked in milliseconds from a zygote that
this process starts with its first kernel) and killed when the test cell
ends, confined to the kernel's memory limit and CPU time, and killed when a
call runs past the time left to the call into the kernel that made it. The
grader only
relays text between the kernel and the worker (it never parses the
arguments): the worker decodes them strictly and bounded (integers at most
2**53, every list, tuple and array dimension at most 4x the largest the test
sent + 16, few levels of nesting, a million items), runs the reference, and
answers with the result, an error, or a request to call a kernel function
passed as an argument (the kernel answers ``"return\n"`` or ``"raise\n"`` +
JSON, or makes a nested reference call). Functions from the kernel are its
own (called back there) or one of `PURE_FUNCTIONS`; ``builtins.exit`` and
the like are refused with a message. Grants end with the test cell
(`_ag_restore`): a stand-in kept for later raises.

Trust: expected values are computed in the grader and never sent to the
kernel; reference code never enters it, and never runs in the grader on a
student's arguments. A submission that tampers with the helper can only make
its own answers wrong or missing.
"""
from __future__ import annotations

import base64
import binascii
import builtins
import contextlib
import functools
import hashlib
import importlib
import json
import math
import os
import queue
import re
import secrets
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
import weakref
from pathlib import Path

import numpy as np

from autograder.sandbox import KernelDied, Sandbox

__all__ = [
    "CALLABLE_MODULES",
    "InPlaceChange",
    "KernelDied",
    "NameMissing",
    "PURE_FUNCTIONS",
    "RemoteArray",
    "RemoteError",
    "RemoteObject",
    "RemoteProtocolError",
    "RemoteStudent",
    "RemoteTimeout",
    "as_framework",
    "decode",
    "encode",
    "ref",
]

MIME = "application/x-autograder+json"
DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                    "float16", "float32", "float64", "complex64", "complex128"})
FRAMEWORKS = ("numpy", "torch", "tensorflow")
CALLABLE_MODULES = ("numpy", "math", "builtins", "torch", "torch.nn", "torch.nn.functional",
                    "tensorflow", "tensorflow.math", "tensorflow.nn", "keras.activations", "keras.ops")
# The functions a kernel may pass to a reference by name (pure, elementwise, cheap); any other function
# of the kernel is called back there. Never builtins (exit, open, input) or anything with side effects.
PURE_FUNCTIONS = ("numpy.tanh", "numpy.exp", "numpy.expm1", "numpy.log", "numpy.log1p", "numpy.sqrt",
                  "numpy.square", "numpy.abs", "numpy.absolute", "numpy.sign", "numpy.negative", "numpy.positive",
                  "numpy.reciprocal", "numpy.sin", "numpy.cos", "numpy.arctan", "numpy.sinh", "numpy.cosh",
                  "numpy.maximum", "numpy.minimum", "math.tanh", "math.exp", "math.sqrt", "math.log")
MAX_DEPTH = 32
MAX_ITEMS = 1_000_000
MAX_CONTAINERS = MAX_ITEMS  # lists and dicts in one answer from the kernel (1M empty lists: about 64 MB here)
MAX_NDIM = 32
# Builtin exceptions re-raised as themselves (a subclass that is also a RemoteError).
BUILTIN_EXCEPTIONS = {e.__name__: e for e in (
    ArithmeticError, AssertionError, AttributeError, FloatingPointError, ImportError, IndexError, KeyError,
    LookupError, MemoryError, ModuleNotFoundError, NameError, NotImplementedError, OverflowError,
    RecursionError, RuntimeError, TimeoutError, TypeError, UnboundLocalError, ValueError, ZeroDivisionError)}
_KERNEL_SIDE = Path(__file__).with_name("_kernel_side.py")
_WORKER = Path(__file__).with_name("_reference_worker.py")
MAX_NESTED_REFERENCES = 8
REFERENCE_PREFIX = "\x00autograder-reference:"  # the prompt of a stand-in's input_request
try:
    from autograder.sandbox import _CallEnded as _CALL_ENDED
except ImportError:  # pragma: no cover
    _CALL_ENDED = ()


@functools.lru_cache(maxsize=64)
def _check_reference(name: str, source: str) -> str:
    """The key of a reference source that defines `name` at its top level (checked, never run, here)."""
    import ast

    tree = ast.parse(source, f"<reference {name}>")
    defined = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((a.asname or a.name).partition(".")[0] for a in node.names)
    if name not in defined:
        raise ValueError(f"the reference source does not define a function `{name}`")
    return hashlib.sha256(f"{name}\0{source}".encode()).hexdigest()[:32]


class RemoteError(Exception):
    """The student's code raised an exception (``remote_type`` names it) or sent something unusable."""

    remote_type = "Exception"

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class RemoteProtocolError(RemoteError):
    """The kernel's answer broke the protocol: too large, malformed, a dtype not allowed, a missing helper."""

    remote_type = "ProtocolError"


class RemoteTimeout(TimeoutError):
    """A call into the kernel did not return within its time limit (the kernel was interrupted)."""


class InPlaceChange(RemoteError, AssertionError):
    """A call changed one of its array arguments in place (a test fails on it unless it used `allow_in_place`)."""

    remote_type = "InPlaceChange"


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


class NameMissing(AssertionError, AttributeError):
    """The notebook does not define a name a test needs."""


_remote_builtins: dict[str, type] = {}


def _remote_exception(type_name: str, module: str, message: str) -> Exception:
    builtin = BUILTIN_EXCEPTIONS.get(type_name) if module == "builtins" else None
    if builtin is None:
        exc = RemoteError(message)
        exc.remote_type = f"{module}.{type_name}" if module not in ("builtins", "__main__", "") else type_name
        return exc
    cls = _remote_builtins.get(type_name)
    if cls is None:
        cls = type(f"Remote{type_name}", (builtin, RemoteError), {"remote_type": type_name, "__str__": RemoteError.__str__,
                                                                   "__module__": __name__})
        _remote_builtins[type_name] = cls
    return cls(message)


class RemoteWarning(UserWarning):
    """A warning of a type that is not a builtin one, raised by student code in the kernel."""


def _reemit_warnings(reported, call: str) -> None:
    """Raise here, as warnings of the same builtin category, the warnings a call raised in the kernel.

    A hidden test that turns warnings into errors (``warnings.simplefilter("error")``)
    then fails on a student's overflow exactly as it would in the kernel.
    """
    if not isinstance(reported, list):
        return
    for item in reported[:20]:
        if not isinstance(item, dict):
            continue
        name = _clean(item.get("category"), 100)
        category = getattr(builtins, name, None)
        if not (isinstance(category, type) and issubclass(category, Warning)):
            category = RemoteWarning
        warnings.warn(f"{call}: {_clean(item.get('message'), 300)}", category, stacklevel=3)


# Terminal escape sequences (CSI, OSC, and two-character ones), removed whole before characters are checked.
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -~]?)|\x9b[0-?]*[ -/]*[@-~]?")


def clean_text(text, limit: int = 1000) -> str:
    """Text a submission controls, made safe to store and print.

    Terminal escape sequences are removed; every other character that is not
    printable (control characters, lone surrogates, bidirectional overrides,
    unassigned code points) becomes ``?``, except newlines and tabs; the result
    is at most `limit` characters (cut with ``...``) and always valid UTF-8.
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    text = _ESCAPES.sub("", text[: limit * 4 + 64])
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else "?" for ch in text)
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


def _clean(text, limit: int = 500) -> str:
    return clean_text(text if isinstance(text, str) else "", limit).strip()


# ----------------------------------------------------------------- arrays
class RemoteArray(np.ndarray):
    """A numpy array that came from (or goes to) the kernel; ``__framework__`` says what it was there."""

    __framework__ = "numpy"

    def __array_finalize__(self, obj):
        self.__framework__ = getattr(obj, "__framework__", "numpy")


def as_framework(x, framework: str) -> RemoteArray:
    """`x` as an array that arrives in the kernel as a tensor of `framework` ("numpy", "torch" or "tensorflow")."""
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {FRAMEWORKS}, got {framework!r}")
    out = np.array(x).view(RemoteArray)
    out.__framework__ = framework
    return out


# ------------------------------------------------------- grader -> kernel
_callable_names: dict[int, tuple[object, str]] = {}
_scanned: set[str] = set()


def _callable_name(fn) -> str | None:
    for module in CALLABLE_MODULES:
        if module in _scanned or module not in sys.modules:
            continue
        _scanned.add(module)
        try:
            members = list(vars(sys.modules[module]).items())
        except TypeError:
            continue
        for attr, value in members:
            if not attr.startswith("_") and callable(value) and id(value) not in _callable_names:
                _callable_names[id(value)] = (value, f"{module}.{attr}")
    found = _callable_names.get(id(fn))
    return found[1] if found is not None and found[0] is fn else None


def _resolve_callable(qualname: str):
    """A function of `PURE_FUNCTIONS`, by its qualified name (the only ones a kernel may name)."""
    module, _, attr = qualname.rpartition(".")
    if qualname not in PURE_FUNCTIONS:
        raise RemoteProtocolError(f"function {qualname[:60]!r} is not allowed (only {', '.join(PURE_FUNCTIONS)})")
    try:
        fn = getattr(importlib.import_module(module), attr, None)
    except ImportError:
        raise RemoteProtocolError(f"function {qualname[:60]!r} is not available to the grader") from None
    if not callable(fn):
        raise RemoteProtocolError(f"{qualname[:60]!r} is not a function")
    return fn


def _array_marker(a: np.ndarray, framework: str, scalar: bool = False) -> dict:
    if a.dtype.name not in DTYPES:
        raise TypeError(f"cannot send an array of dtype {a.dtype} to the kernel (allowed: {', '.join(sorted(DTYPES))})")
    a = np.array(a, dtype=a.dtype.newbyteorder("<"), order="C", copy=None)
    out = {"__ndarray__": base64.b64encode(a.tobytes()).decode("ascii"), "dtype": a.dtype.name, "shape": list(a.shape)}
    if framework != "numpy":
        out["framework"] = framework
    if scalar:
        out["scalar"] = True
    return out


def encode(x, *, student: "RemoteStudent | None" = None, depth: int = 0):
    """Encode an argument for the kernel (see the module docstring); raises TypeError for what cannot go."""
    if depth > MAX_DEPTH:
        raise TypeError("argument nested too deeply")
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, RemoteObject):
        if student is not None and x._ag_student is not student:
            raise TypeError("this remote object belongs to another kernel")
        return {"__handle__": x._ag_id}
    if isinstance(x, np.generic):
        return _array_marker(np.asarray(x), "numpy", scalar=True)
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        return float(x)
    if isinstance(x, complex):
        return {"__complex__": [x.real, x.imag]}
    if isinstance(x, np.ndarray):
        return _array_marker(x.view(np.ndarray), getattr(x, "__framework__", "numpy"))
    root = type(x).__module__.partition(".")[0]
    if root in ("torch", "tensorflow", "keras") and hasattr(x, "numpy") and hasattr(x, "shape"):
        from course_utils.checks import as_array, framework_of

        return _array_marker(as_array(x), framework_of(x))
    if isinstance(x, tuple):
        return {"__tuple__": [encode(v, student=student, depth=depth + 1) for v in x]}
    if isinstance(x, list):
        return [encode(v, student=student, depth=depth + 1) for v in x]
    if isinstance(x, dict):
        if not all(isinstance(k, str) for k in x):
            raise TypeError("only dicts with str keys can be sent to the kernel")
        return {"__dict__": {k: encode(v, student=student, depth=depth + 1) for k, v in x.items()}}
    if callable(x):
        name = _callable_name(x)
        if name is None:
            raise TypeError(f"cannot send {x!r} to the kernel: only functions of {', '.join(CALLABLE_MODULES)} "
                            "travel (by name), or the kernel's own objects")
        return {"__callable__": name}
    raise TypeError(f"cannot send a {type(x).__name__} to the kernel")


# ------------------------------------------------------- kernel -> grader
class _Budget:
    def __init__(self):
        self.items = 0

    def spend(self, n: int = 1):
        self.items += n
        if self.items > MAX_ITEMS:
            raise RemoteProtocolError(f"the answer holds more than {MAX_ITEMS} items")


def _decode_array(x: dict) -> np.ndarray:
    keys = set(x)
    if not {"__ndarray__", "dtype", "shape"} <= keys <= {"__ndarray__", "dtype", "shape", "framework", "scalar"}:
        raise RemoteProtocolError(f"malformed array marker (keys {sorted(keys)})")
    dtype, shape, data = x["dtype"], x["shape"], x["__ndarray__"]
    framework = x.get("framework", "numpy")
    if type(dtype) is not str or dtype not in DTYPES:
        raise RemoteProtocolError(f"dtype {str(dtype)[:40]!r} is not allowed")
    if framework not in FRAMEWORKS:
        raise RemoteProtocolError(f"unknown framework {str(framework)[:40]!r}")
    if type(shape) is not list or len(shape) > MAX_NDIM or not all(type(d) is int and 0 <= d < 1 << 31 for d in shape):
        raise RemoteProtocolError("malformed array shape")
    if type(data) is not str:
        raise RemoteProtocolError("array data must be base64 text")
    dt = np.dtype(dtype).newbyteorder("<")
    if math.prod(shape) * dt.itemsize != (len(data) // 4) * 3 - data[-2:].count("="):
        raise RemoteProtocolError(f"array data does not match shape {tuple(shape)} and dtype {dtype}")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise RemoteProtocolError("array data is not valid base64") from None
    try:
        a = np.frombuffer(raw, dtype=dt).reshape(shape).astype(dt.newbyteorder("="))
    except (ValueError, TypeError, OverflowError, MemoryError) as exc:
        raise RemoteProtocolError(f"array of shape {tuple(shape)} cannot be built ({type(exc).__name__})") from None
    if x.get("scalar", False) is True:
        if shape or framework != "numpy":
            raise RemoteProtocolError("malformed scalar marker")
        return a[()]
    out = a.view(RemoteArray)
    out.__framework__ = framework
    return out


def decode(x, *, student: "RemoteStudent | None" = None, origin: str = "value", callables: bool = False):
    """Decode a value the kernel sent, strictly; raises `RemoteProtocolError` for anything unexpected.

    Whatever `x` holds, no other exception comes out: a value the grader cannot
    accept is the submission's protocol error, never the grader's crash.
    """
    try:
        return _decode(x, student=student, origin=origin, _callables=callables)
    except RemoteProtocolError:
        raise
    except RecursionError:
        raise RemoteProtocolError("the answer is nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - anything else in a hostile value is a protocol error too
        raise RemoteProtocolError(f"a malformed value ({type(exc).__name__})") from None


def _decode(x, *, student: "RemoteStudent | None" = None, origin: str = "value", _depth: int = 0, _budget=None,
            _callables: bool = False):
    budget = _budget or _Budget()
    budget.spend()
    if _depth > MAX_DEPTH:
        raise RemoteProtocolError("the answer is nested too deeply")
    t = type(x)
    if x is None or t is bool or t is float or t is str:
        return x
    if t is int:
        if abs(x) >= 1 << 256:
            raise RemoteProtocolError("an integer too large")
        return x
    if t is list:
        budget.spend(len(x))
        return [_decode(v, student=student, origin=origin, _depth=_depth + 1, _budget=budget, _callables=_callables)
                for v in x]
    if t is not dict:
        raise RemoteProtocolError(f"unexpected JSON value of type {t.__name__}")
    if "__ndarray__" in x:
        return _decode_array(x)
    keys = set(x)
    if keys == {"__tuple__"} and type(x["__tuple__"]) is list:
        budget.spend(len(x["__tuple__"]))
        return tuple(_decode(v, student=student, origin=origin, _depth=_depth + 1, _budget=budget,
                             _callables=_callables) for v in x["__tuple__"])
    if keys == {"__dict__"} and type(x["__dict__"]) is dict:
        budget.spend(len(x["__dict__"]))
        return {k: _decode(v, student=student, origin=origin, _depth=_depth + 1, _budget=budget, _callables=_callables)
                for k, v in x["__dict__"].items()}
    if keys == {"__callable__"} and _callables and type(x["__callable__"]) is str:
        return _resolve_callable(x["__callable__"])
    if keys == {"__complex__"}:
        parts = x["__complex__"]
        if type(parts) is list and len(parts) == 2 and all(type(p) in (int, float) for p in parts):
            return complex(*parts)
    if keys in ({"__handle__", "type"}, {"__handle__", "type", "mro"}) and type(x["__handle__"]) is int \
            and type(x["type"]) is str:
        if student is None:
            raise RemoteProtocolError("a remote object where only data was expected")
        mro = x.get("mro", [x["type"]])
        if type(mro) is not list or len(mro) > 64 or not all(type(n) is str for n in mro):
            raise RemoteProtocolError("malformed type names of a remote object")
        return RemoteObject(student, x["__handle__"], _clean(x["type"], 200), origin,
                            tuple(_clean(n, 200) for n in mro))
    raise RemoteProtocolError(f"unexpected marker {sorted(keys)[:5]}")


# ------------------------------------------------------- describing calls
def _describe(x, depth: int = 0) -> str:
    """Short text for an argument that names its kind, not its (possibly hidden) values."""
    if isinstance(x, RemoteObject):
        return x._ag_origin if len(x._ag_origin) <= 60 else f"<{x._ag_type}>"
    if isinstance(x, np.ndarray):
        framework = getattr(x, "__framework__", "numpy")
        kind = {"torch": "tensor", "tensorflow": "tf tensor"}.get(framework, "array")
        return f"<{kind} {tuple(x.shape)} {x.dtype}>"
    if x is None or isinstance(x, (bool, int, np.integer)):
        return repr(x if not isinstance(x, np.integer) else int(x))
    if isinstance(x, (float, np.floating)):
        return "<float>"
    if isinstance(x, str):
        return repr(x) if len(x) <= 20 else repr(x[:17] + "...")
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


def _forbidden(name: str) -> bool:
    # Dunder names are never forwarded: numpy reads __array_interface__ & co. from instances, and a
    # kernel that answered those could make the grader read arbitrary memory.
    return name.startswith("__") or name.startswith("_ag_") or name.startswith("_repr_") or name.startswith("_ipython")


# ------------------------------------------------------ the reference worker
class _WorkerFailed(Exception):
    """The reference worker cannot answer (it ran out of time, died or broke the protocol); the message says why."""

    def __init__(self, message: str, kind: str = "RuntimeError"):
        super().__init__(message)
        self.kind = kind


def _worker_env() -> dict:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}


class _Zygote:
    """A process that has imported numpy and forks reference workers on request (``--zygote`` mode).

    One per grader process, started with its first `RemoteStudent` (while the notebook runs): a worker
    then starts in milliseconds instead of a Python start and a numpy import (about 0.1 s of CPU, far
    more on a busy machine). The zygote runs no reference and reads no student data; it dies with the
    grader (PR_SET_PDEATHSIG), and its workers with it.
    """

    def __init__(self, threads: int):
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        config = {"threads": threads, "pure": list(PURE_FUNCTIONS), "parent": os.getpid()}
        try:
            self.proc = subprocess.Popen([sys.executable, "-I", str(_WORKER), json.dumps(config), "--zygote",
                                          str(child.fileno())], pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/",
                                         env=_worker_env(), start_new_session=True)
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        self.sock = parent
        self.threads = threads
        self.owner = os.getpid()  # a forked copy of the grader starts its own
        self._finalizer = weakref.finalize(self, _kill_process, self.proc, parent)

    def alive(self) -> bool:
        return self.proc.poll() is None and self.owner == os.getpid()

    def kill(self) -> None:
        self._finalizer()

    def fork(self, config: dict, timeout: float) -> tuple[int, int, int, int]:
        """A fresh worker: (pid, its stdin's write end, its stdout's read end, a pidfd). Raises OSError."""
        to_worker, from_worker = os.pipe(), os.pipe()
        try:
            self.sock.settimeout(timeout)
            socket.send_fds(self.sock, [json.dumps(config).encode()], [to_worker[0], from_worker[1]])
            pid = json.loads(self.sock.recv(4096) or b"{}").get("pid")
            if type(pid) is not int or pid <= 0:
                raise OSError("the reference zygote did not fork")
            pidfd = os.pidfd_open(pid)
        except BaseException:
            os.close(to_worker[1])
            os.close(from_worker[0])
            raise
        finally:
            os.close(to_worker[0])
            os.close(from_worker[1])
        return pid, to_worker[1], from_worker[0], pidfd


_ZYGOTE: list = [None]
_ZYGOTE_LOCK = threading.Lock()
_SPAWNER: list = []  # [(thread, its queue)] once started


def _spawn(fn):
    """`fn()` run by one long-lived daemon thread of this process, which returns its result (or raises).

    The zygote dies when the thread that started it ends (PR_SET_PDEATHSIG is per thread): started by
    a grading thread of a pool that retires idle threads, it would take running workers with it.
    """
    if not _SPAWNER or not _SPAWNER[0][0].is_alive():
        requests: queue.SimpleQueue = queue.SimpleQueue()

        def serve():
            while True:
                job, box, done = requests.get()
                try:
                    box.append(job())
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    box.append(exc)
                done.set()

        thread = threading.Thread(target=serve, name="autograder-zygote-spawner", daemon=True)
        thread.start()
        _SPAWNER[:] = [(thread, requests)]
    box, done = [], threading.Event()
    _SPAWNER[0][1].put((fn, box, done))
    done.wait()
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


def _zygote(threads: int) -> _Zygote | None:
    """This process's zygote (started, or restarted after it died), or None where it cannot work."""
    if not (hasattr(os, "pidfd_open") and hasattr(socket, "send_fds") and hasattr(signal, "pidfd_send_signal")):
        return None
    with _ZYGOTE_LOCK:
        zygote = _ZYGOTE[0]
        if zygote is None or not zygote.alive() or zygote.threads != threads:
            if zygote is not None and zygote.owner == os.getpid():
                zygote.kill()
            try:
                zygote = _spawn(lambda: _Zygote(threads))
            except OSError:
                zygote = None
            _ZYGOTE[0] = zygote
        return zygote


class _ReferenceWorker:
    """One reference worker process (`autograder._reference_worker`), seen from the grader.

    Forked by this process's `_Zygote` (a fresh process that never served anyone else), or started
    directly where a zygote cannot work. The grader writes frames to its stdin and reads frames from
    its stdout, never blocking past a deadline; a worker that does not answer in time is killed. What
    it reads is bounded by `max_bytes` per frame, before the bytes are read.
    """

    def __init__(self, limits, max_bytes: int):
        config = {"memory_mb": limits.memory_mb, "cpu_s": limits.cpu_s, "threads": limits.threads,
                  "max_bytes": max_bytes, "pure": list(PURE_FUNCTIONS), "parent": os.getpid()}
        self.max_bytes = max_bytes
        self.defined: set[str] = set()
        self._buffer = bytearray()
        self.proc, self._pidfd = None, None
        zygote = _zygote(limits.threads)
        forked = None
        if zygote is not None:
            try:
                with _ZYGOTE_LOCK:
                    forked = zygote.fork(config, timeout=30)
            except OSError:
                zygote.kill()  # it is broken or too slow: the next worker gets a fresh one
        if forked is not None:
            self.pid, self._in, self._out, self._pidfd = forked
        else:
            self.proc = subprocess.Popen([sys.executable, "-I", str(_WORKER), json.dumps(config)],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                         cwd="/", env=_worker_env(), close_fds=True, start_new_session=True)
            self.pid, self._in, self._out = self.proc.pid, self.proc.stdin.fileno(), self.proc.stdout.fileno()
        os.set_blocking(self._in, False)
        os.set_blocking(self._out, False)
        self._finalizer = weakref.finalize(self, _kill_worker, self.proc, self._pidfd, self._in, self._out)

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return self._finalizer.alive and not select.select([self._pidfd], [], [], 0)[0]

    def kill(self) -> None:
        self._finalizer()

    def send(self, header: dict, payload: str, deadline: float) -> None:
        head = json.dumps(header).encode()
        body = payload.encode("utf-8", "surrogatepass")
        data = memoryview(b"%d %d\n" % (len(head), len(body)) + head + body)
        fd = self._in
        while data:
            if not self.alive():
                raise _WorkerFailed(self._death())
            try:
                data = data[os.write(fd, data):]
                continue
            except BlockingIOError:
                pass
            except OSError:
                raise _WorkerFailed(self._death()) from None
            left = deadline - time.monotonic()
            if left <= 0:
                raise _WorkerFailed("it did not read its input in time", "TimeoutError")
            select.select([], [fd], [], min(left, 0.5))

    def receive(self, deadline: float) -> tuple[str, str]:
        """The next frame: ("R", answer) or ("C", a call of a kernel function), as JSON text."""
        head = self._read(lambda buf: buf.find(b"\n") + 1 if b"\n" in buf[:64] else (-1 if len(buf) >= 64 else 0),
                          deadline)
        kind, _, size = head.decode("ascii", "replace").strip().partition(" ")
        if kind not in ("R", "C") or not size.isdigit():
            raise _WorkerFailed("it broke the protocol")
        n = int(size)
        if n > self.max_bytes * 2 + 4096:
            raise _WorkerFailed(f"its answer is larger than {self.max_bytes >> 20} MB")
        body = self._read(lambda buf: n if len(buf) >= n else 0, deadline)
        return kind, body.decode("utf-8", "replace")

    def _read(self, complete, deadline: float) -> bytes:
        fd = self._out
        while True:
            n = complete(self._buffer)
            if n < 0:
                raise _WorkerFailed("it broke the protocol")
            if n > 0:
                out = bytes(self._buffer[:n])
                del self._buffer[:n]
                return out
            left = deadline - time.monotonic()
            if left <= 0:
                raise _WorkerFailed("it did not finish within the time left to the call", "TimeoutError")
            if select.select([fd], [], [], min(left, 0.5))[0]:
                try:
                    chunk = os.read(fd, 1 << 20)
                except BlockingIOError:
                    continue
                if not chunk:
                    raise _WorkerFailed(self._death())
                self._buffer += chunk

    def _death(self) -> str:
        if self.proc is None:  # the zygote's child: the system reaped it
            return "it ended (its memory or CPU limit, or an error)"
        try:
            rc = self.proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            return "it stopped answering"
        if rc < 0:
            return f"it ended with signal {-rc}" + (" (its CPU time limit)" if -rc == 24 else "")
        return f"it ended with status {rc}"


def _kill_process(proc: subprocess.Popen, *closing) -> None:
    if proc.poll() is None:
        try:
            proc.kill()
        except OSError:
            pass
    for stream in (proc.stdin, proc.stdout, *closing):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _kill_worker(proc, pidfd, *fds) -> None:
    if proc is not None:
        _kill_process(proc)
        return
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except OSError:  # it has ended already
        pass
    for fd in (pidfd, *fds):
        try:
            os.close(fd)
        except OSError:
            pass


def _reference_error(kind: str, message: str) -> str:
    return json.dumps({"kind": "error", "error": {"type": kind, "message": clean_text(message, 500)}})


# ------------------------------------------------------------- the handles
class RemoteStudent:
    """The notebook's names, as attributes: ``student.sigmoid(z)``.

    Parameters
    ----------
    sandbox : Sandbox
        A started sandbox; `install` puts the kernel-side helper into it.
    call_timeout_s : float
        Wall-time limit of one call (default: the sandbox's ``Limits.call_timeout_s``).
    max_reply_bytes : int
        Largest answer accepted (default: ``Limits.reply_mb``).
    """

    def __init__(self, sandbox: Sandbox, *, call_timeout_s: float | None = None, max_reply_bytes: int | None = None):
        d = object.__setattr__
        d(self, "_ag_sandbox", sandbox)
        d(self, "_ag_call_timeout", call_timeout_s or sandbox.limits.call_timeout_s)
        d(self, "_ag_max_bytes", max_reply_bytes or sandbox.limits.reply_mb << 20)
        d(self, "_ag_name", "__autograder_" + secrets.token_hex(8) + "__")
        d(self, "_ag_deadline", None)
        d(self, "_ag_last_call", "")
        d(self, "_ag_changed", None)
        d(self, "_ag_in_place_ok", False)
        d(self, "_ag_grants", {})  # token -> (name, source, key): the reference functions of the running test
        d(self, "_ag_worker", None)  # the reference worker of the running test cell, once one was needed
        d(self, "_ag_sent_shape", (2, 16))  # (ndim, dim) bounds of the arrays and lists this test cell sent
        d(self, "_ag_call_deadline", None)
        d(self, "_ag_reference_calls", 0)  # reference calls served, and the seconds spent serving them
        d(self, "_ag_reference_s", 0.0)

    # --- plumbing
    def _ag_install(self) -> None:
        """Inject the helper (before the submission runs, so it holds unpatched tools)."""
        source = _KERNEL_SIDE.read_text()
        code = ("(lambda src, ns: (exec(compile(src, '<autograder>', 'exec'), ns), "
                f"ns['install'](__import__('IPython').get_ipython(), {self._ag_name!r}, {MIME!r}, {self._ag_max_bytes}, "
                f"{REFERENCE_PREFIX!r}, {PURE_FUNCTIONS!r})))({source!r}, {{'__name__': '_autograder_kernel_side'}})")
        _zygote(self._ag_sandbox.limits.threads)  # started now (if not yet), it is ready when a test needs a reference
        result = self._ag_sandbox.execute(code, timeout=self._ag_sandbox.limits.startup_timeout_s, silent=True,
                                          store_history=False)
        if result.status != "ok":
            raise RemoteProtocolError(f"the grader's helper could not be installed: {result.ename}: {result.evalue}")

    def _ag_ensure(self) -> None:
        """Check the helper answers; reinstall it when the notebook removed or broke it."""
        try:
            if self._ag_request({"op": "ping"}, "ping", timeout=10) == "pong":
                return
        except (RemoteError, RemoteTimeout):
            pass
        self._ag_install()

    def _ag_set_deadline(self, deadline: float | None) -> None:
        """Make every later call fail with RemoteTimeout after `deadline` (time.monotonic())."""
        object.__setattr__(self, "_ag_deadline", deadline)

    def _ag_request(self, request: dict, call: str, *, timeout: float | None = None):
        object.__setattr__(self, "_ag_last_call", call)
        limit = timeout or self._ag_call_timeout
        if self._ag_deadline is not None:
            left = self._ag_deadline - time.monotonic()
            if left <= 0:
                raise RemoteTimeout(f"the test ran out of time before calling {call}")
            limit = min(limit, left)
        nonce = secrets.token_hex(8)
        text = json.dumps(request, allow_nan=True)
        expression = f"{self._ag_name}({nonce!r}, {text!r})"
        object.__setattr__(self, "_ag_call_deadline", time.monotonic() + limit)
        serve = self._ag_serve if self._ag_grants else None  # stdin is open only while references are granted
        result = self._ag_sandbox.execute("", timeout=limit, silent=True, store_history=False,
                                          user_expressions={"r": expression}, on_input=serve)
        if result.status == "timeout":
            raise RemoteTimeout(f"{call} did not return within {limit:.3g} s")
        if result.status != "ok":
            raise RemoteProtocolError(f"the kernel refused the call to {call}: {result.ename}: {_clean(result.evalue, 200)}")
        return self._ag_answer(result.user_expressions or {}, nonce, call)

    def _ag_answer(self, expressions: dict, nonce: str, call: str):
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
        if len(text) > self._ag_max_bytes * 4 // 3 + 4096:
            raise RemoteProtocolError(f"{call} returned more than {self._ag_max_bytes >> 20} MB")
        if text.count("[") + text.count("{") > MAX_CONTAINERS:  # 16 MB of "[]," would be 440 MB of lists here
            raise RemoteProtocolError(f"{call} returned more than {MAX_CONTAINERS} nested lists or dicts; "
                                      f"return arrays (or fewer, larger lists)")
        try:
            answer = json.loads(text)
        except (ValueError, RecursionError):
            raise RemoteProtocolError(f"the answer to {call} is not valid JSON or is nested too deeply") from None
        if type(answer) is not dict or answer.get("nonce") != nonce:
            raise RemoteProtocolError(f"the answer to {call} does not belong to this call")
        if answer.get("ok") is True and "value" in answer:
            _reemit_warnings(answer.get("warnings"), call)
            object.__setattr__(self, "_ag_changed", answer.get("changed"))
            try:
                return decode(answer["value"], student=self, origin=call)
            except RecursionError:
                raise RemoteProtocolError(f"the answer to {call} is nested too deeply") from None
            except RemoteProtocolError as exc:
                raise RemoteProtocolError(f"{call} returned something the grader cannot accept: {exc}") from None
        if answer.get("ok") is False and isinstance(answer.get("missing"), str):
            name = _clean(answer["missing"], 100)
            raise NameMissing(f"`{name}` is not defined: run (or fix) the cell that defines it")
        error = answer.get("error")
        if answer.get("ok") is False and isinstance(error, dict):
            type_name = _clean(error.get("type"), 100) or "Exception"
            module = _clean(error.get("module"), 100)
            message = _clean(error.get("message"), 500)
            if module == "autograder" and type_name == "ReplyTooLarge":
                raise RemoteProtocolError(f"{call}: {message}")
            raise _remote_exception(type_name, module, f"{call} raised {type_name}" + (f": {message}" if message else ""))
        raise RemoteProtocolError(f"malformed answer to {call}")

    def _ag_call(self, target: dict, origin: str, args, kwargs):
        call = _describe_call(origin, args, kwargs)
        self._ag_note_sent(args)
        self._ag_note_sent(kwargs)
        request = {"op": "call", "target": target,
                   "args": [encode(a, student=self) for a in args],
                   "kwargs": {k: encode(v, student=self) for k, v in kwargs.items()}}
        object.__setattr__(self, "_ag_changed", None)
        value = self._ag_request(request, call)
        self._ag_write_back(args, kwargs, call)
        return value

    def _ag_write_back(self, args, kwargs, call: str) -> None:
        """Copy into the caller's arrays what the call did to their kernel-side copies; then, unless the
        test allowed it (`allow_in_place`), fail the call: changing an argument in place is a mistake."""
        changed = self._ag_changed
        if not isinstance(changed, dict) or not changed:
            return
        where = []
        for key, marker in list(changed.items())[:256]:
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
                    new, original, rtol=1e-12, atol=1e-12, equal_nan=True)):
                where.append(_describe_path(key))
            if not original.flags.writeable:
                continue
            if new.shape == original.shape:
                np.copyto(original, new, casting="unsafe")
            else:  # resized in place: make the difference visible all the same
                original[...] = np.nan if original.dtype.kind in "fc" else 0
        if where and not self._ag_in_place_ok:
            raise InPlaceChange(f"{call} modified {', '.join(where[:5])}{' ...' if len(where) > 5 else ''} in place; "
                                "it must leave its inputs unchanged (work on a copy, e.g. x = x.copy() or x = x + ...)")

    @contextlib.contextmanager
    def allow_in_place(self):
        """Within this block, calls may change their array arguments in place (the change still comes back)."""
        before = self._ag_in_place_ok
        object.__setattr__(self, "_ag_in_place_ok", True)
        try:
            yield self
        finally:
            object.__setattr__(self, "_ag_in_place_ok", before)

    def _ag_restore(self) -> None:
        """Undo every `use_reference` (called after each test cell): the stand-ins stop answering."""
        self._ag_grants.clear()
        self._ag_close_reference()
        object.__setattr__(self, "_ag_sent_shape", (2, 16))
        self._ag_request({"op": "restore"}, "restoring the notebook's names", timeout=10)

    def _ag_close_reference(self) -> None:
        """Kill the reference worker, if one runs (a later reference call starts a fresh one)."""
        worker = self._ag_worker
        object.__setattr__(self, "_ag_worker", None)
        if worker is not None:
            worker.kill()

    # --- reference calls: relayed between the kernel and the reference worker while a call into the kernel runs
    def _ag_serve(self, prompt: str) -> str:
        """Answer one input_request of the kernel: a stand-in's reference call (anything else gets EOF)."""
        if not prompt.startswith(REFERENCE_PREFIX):
            return "\x04"
        started = time.perf_counter()
        try:
            return self._ag_relay(prompt[len(REFERENCE_PREFIX):])
        finally:
            object.__setattr__(self, "_ag_reference_s", self._ag_reference_s + time.perf_counter() - started)

    def _ag_relay(self, text: str) -> str:
        """Pass messages between the kernel and the worker until the kernel's reference call is answered.

        `depth` counts the reference calls the worker is serving (a kernel function it called back may
        call a stand-in again); the answer to the outermost one is returned (the sandbox sends it), every
        other message goes to the kernel over `Sandbox.stdin_exchange`. When the worker fails (out of
        time, dead), it is killed and each pending call is answered with the reason.
        """
        deadline = self._ag_call_deadline or time.monotonic() + self._ag_call_timeout
        # The worker's time ends a little before the call's, so that its failure reaches the test as an answer.
        worker_deadline = deadline - min(2.0, 0.2 * self._ag_call_timeout)
        names: list[str] = []  # the reference calls being served, outermost first
        broken = None  # (type, message) once the worker failed during this call
        for _ in range(100_000):
            if text is None:
                reply = "\x04"  # an input() of the notebook's own, inside a function the reference called back
            else:
                reply, broken = self._ag_relay_step(text, names, broken, worker_deadline)
                if not names:
                    return reply
            try:
                prompt = self._ag_sandbox.stdin_exchange(reply, deadline)
            except BaseException:
                self._ag_close_reference()  # it waits for an answer that will not come
                raise
            text = prompt[len(REFERENCE_PREFIX):] if prompt.startswith(REFERENCE_PREFIX) else None
        self._ag_close_reference()
        raise RemoteProtocolError("too many exchanges during a reference call")

    def _ag_relay_step(self, text: str, names: list, broken, deadline: float):
        """One message from the kernel to the worker, and the worker's next message for the kernel."""
        cut = text.find("\n", 0, 80)
        kind, _, token = (text[:cut] if cut >= 0 else "").partition(" ")
        payload = text[cut + 1:]
        if kind == "ref":
            grant = self._ag_grants.get(token)
            if grant is None:
                return _reference_error("RuntimeError", "this reference function is no longer available: it answers "
                                                        "only during the test that provided it"), broken
            name, source, key = grant
            if len(names) >= MAX_NESTED_REFERENCES:
                return _reference_error("RecursionError", f"reference {name}: calls nested too deeply"), broken
            if broken is not None:
                return _reference_error(*broken), broken
            if len(payload) > self._ag_max_bytes:
                return _reference_error("ValueError", f"reference {name}: the arguments are larger than "
                                                      f"{self._ag_max_bytes >> 20} MB"), broken
            object.__setattr__(self, "_ag_reference_calls", self._ag_reference_calls + 1)
            names.append(name)
            headers = [({"op": "call", "key": key, "name": name, "limits": list(self._ag_sent_shape)}, payload)]
        elif kind in ("return", "raise") and names:
            if broken is not None:
                names.pop()
                return _reference_error(*broken), broken
            if len(payload) > self._ag_max_bytes:
                payload, kind = json.dumps({"type": "ValueError", "module": "builtins", "message":
                                            f"its result is larger than {self._ag_max_bytes >> 20} MB"}), "raise"
            headers = [({"op": kind}, payload)]
        elif not names:
            return _reference_error("RuntimeError", "malformed reference call"), broken
        else:
            headers = []
        try:
            if not headers:
                raise _WorkerFailed("the kernel broke the protocol during a reference call")
            worker = self._ag_worker
            if worker is None or not worker.alive():
                if kind != "ref" or len(names) > 1:  # it was serving this call: a fresh one would not know it
                    raise _WorkerFailed(worker._death() if worker is not None else "it is gone")
                worker = self._ag_start_worker()
            if kind == "ref" and key not in worker.defined:
                headers.insert(0, ({"op": "define", "key": key, "name": name, "source": source}, ""))
                worker.defined.add(key)
            for header, body in headers:
                worker.send(header, body, deadline)
            frame, answer = worker.receive(deadline)
        except _WorkerFailed as exc:
            self._ag_close_reference()
            limit = f" ({self._ag_call_timeout:g} s per call)" if exc.kind == "TimeoutError" else ""
            broken = (exc.kind, f"reference {names[-1]}: the grader stopped its reference worker: {exc}{limit}")
            names.pop()
            return _reference_error(*broken), broken
        if frame == "R":
            names.pop()
        return answer, broken

    def _ag_start_worker(self) -> _ReferenceWorker:
        try:
            worker = _ReferenceWorker(self._ag_sandbox.limits, self._ag_max_bytes)
        except OSError as exc:
            raise _WorkerFailed(f"the grader could not start a reference worker ({exc})") from None
        object.__setattr__(self, "_ag_worker", worker)
        return worker

    def _ag_note_sent(self, x, depth: int = 0) -> None:
        """Remember the largest arrays and lists sent in this test cell (they bound what reference calls receive)."""
        if depth > 4:
            return
        ndim, dim = self._ag_sent_shape
        if isinstance(x, np.ndarray):
            object.__setattr__(self, "_ag_sent_shape", (max(ndim, x.ndim), max([dim, *x.shape])))
        elif isinstance(x, (list, tuple)):
            object.__setattr__(self, "_ag_sent_shape", (ndim, max(dim, min(len(x), 1 << 20))))
            for v in x[:1000]:
                self._ag_note_sent(v, depth + 1)
        elif isinstance(x, dict):
            for v in list(x.values())[:1000]:
                self._ag_note_sent(v, depth + 1)

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
        self._ag_grants[token] = (name, source, key)
        if self._ag_worker is None or not self._ag_worker.alive():
            try:  # started now, so that it is ready when the first call comes
                self._ag_start_worker()
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


class RemoteObject:
    """An object that lives in the kernel (a function, a layer …): call it, read its attributes."""

    __slots__ = ("_ag_student", "_ag_id", "_ag_type", "_ag_origin", "_ag_mro")

    def __init__(self, student: RemoteStudent, handle: int, type_name: str, origin: str, mro: tuple = ()):
        s = object.__setattr__
        s(self, "_ag_student", student)
        s(self, "_ag_id", handle)
        s(self, "_ag_type", type_name)
        s(self, "_ag_origin", origin)
        s(self, "_ag_mro", mro or (type_name,))

    @property
    def __type_names__(self) -> list[str]:
        """Qualified names of the remote object's classes, most specific first (``course_utils.checks.type_names``)."""
        return list(self._ag_mro)

    def __getattr__(self, name: str):
        if _forbidden(name):
            raise AttributeError(name)
        return self._ag_student._ag_request({"op": "getattr", "handle": self._ag_id, "name": name},
                                            f"{self._ag_origin}.{name}")

    def __call__(self, *args, **kwargs):
        return self._ag_student._ag_call({"handle": self._ag_id}, self._ag_origin, args, kwargs)

    def __setattr__(self, name, value):
        raise AttributeError("remote objects are read-only")

    def __repr__(self):
        return f"<{self._ag_type} in the student's kernel, from {self._ag_origin}>"

    __str__ = __repr__


def ref(owner: RemoteStudent | RemoteObject, name: str) -> RemoteObject:
    """``owner.name`` as a `RemoteObject` even when it is plain data (e.g. a parameter to pass back later)."""
    if _forbidden(name):
        raise AttributeError(name)
    if isinstance(owner, RemoteStudent):
        return owner._ag_request({"op": "get", "name": name, "keep": True}, name)
    return owner._ag_student._ag_request({"op": "getattr", "handle": owner._ag_id, "name": name, "keep": True},
                                         f"{owner._ag_origin}.{name}")
