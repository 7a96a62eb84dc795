"""Values on the wire between the grader and the kernel: `encode` what goes, `decode` (strictly) what comes back.

The format is described in the package's docstring (`autograder.remote`). The
grader decodes strictly: at most ``max_reply_bytes`` of JSON, nesting depth
`MAX_DEPTH`, `MAX_ITEMS` items, whitelisted dtypes whose byte count matches
the shape (each dimension below 2**31), no pickle, nothing evaluated; any
value it cannot accept raises `RemoteProtocolError` and nothing else.
"""
from __future__ import annotations

import importlib
import sys

import numpy as np

from autograder.remote._wire_codec import (DTYPES, FRAMEWORKS, MAX_ITEMS, NOT_PLAIN, BadBase64, RemoteArray,
                                           array_from_data, array_keys_ok, array_marker, data_matches, encode_plain,
                                           finish_array, wire_dtype)
from autograder.remote.errors import RemoteProtocolError, _clean
from autograder.remote.handle import RemoteObject
from autograder.remote.reference import CALLABLE_MODULES, PURE_FUNCTIONS

MIME = "application/x-autograder+json"
MAX_DEPTH = 32
MAX_CONTAINERS = MAX_ITEMS  # lists and dicts in one answer from the kernel (1M empty lists: about 64 MB here)
MAX_NDIM = 32
MAX_DIM = 1 << 31  # every array dimension is below this
MAX_INT = 1 << 256  # integers from the kernel are below this in magnitude
MAX_TYPE_NAMES = 64  # classes in the MRO of a remote object
TYPE_NAME_CHARS = 200
SHOWN = 40  # characters of a hostile value quoted in an error message

__all__ = ["DTYPES", "FRAMEWORKS", "MIME", "RemoteArray", "as_framework", "decode", "encode"]


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
    """The qualified name of `fn` when it is a public function of one of `CALLABLE_MODULES` (loaded now)."""
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


def _array_marker(a: np.ndarray, framework: str, scalar: bool = False) -> dict:
    marker = array_marker(a, framework, scalar)
    if marker is None:
        raise TypeError(f"cannot send an array of dtype {a.dtype} to the kernel (allowed: {', '.join(sorted(DTYPES))})")
    return marker


def _encode_other(x, student, depth: int):
    """`encode` of a container or a function (anything but plain scalars, arrays and handles)."""
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


def encode(x, *, student=None, depth: int = 0):
    """Encode an argument for the kernel (see the package docstring); raises TypeError for what cannot go."""
    if depth > MAX_DEPTH:
        raise TypeError("argument nested too deeply")
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, RemoteObject):
        if student is not None and x._ag.student is not student:
            raise TypeError("this remote object belongs to another kernel")
        return {"__handle__": x._ag.id}
    plain = encode_plain(x, _array_marker)
    if plain is not NOT_PLAIN:
        return plain
    root = type(x).__module__.partition(".")[0]
    if root in ("torch", "tensorflow", "keras") and hasattr(x, "numpy") and hasattr(x, "shape"):
        from course_utils.frameworks import as_array, framework_of

        return _array_marker(as_array(x), framework_of(x))
    return _encode_other(x, student, depth)


# ------------------------------------------------------- kernel -> grader
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


def _check_array_marker(x: dict) -> None:
    """Raise `RemoteProtocolError` unless `x` is a well-formed array marker (its data not decoded yet)."""
    keys = set(x)
    if not array_keys_ok(keys):
        raise RemoteProtocolError(f"malformed array marker (keys {sorted(keys)})")
    dtype, shape, data = x["dtype"], x["shape"], x["__ndarray__"]
    framework = x.get("framework", "numpy")
    if type(dtype) is not str or dtype not in DTYPES:
        raise RemoteProtocolError(f"dtype {str(dtype)[:SHOWN]!r} is not allowed")
    if framework not in FRAMEWORKS:
        raise RemoteProtocolError(f"unknown framework {str(framework)[:SHOWN]!r}")
    if type(shape) is not list or len(shape) > MAX_NDIM or not all(type(d) is int and 0 <= d < MAX_DIM for d in shape):
        raise RemoteProtocolError("malformed array shape")
    if type(data) is not str:
        raise RemoteProtocolError("array data must be base64 text")
    if not data_matches(shape, wire_dtype(dtype), data):
        raise RemoteProtocolError(f"array data does not match shape {tuple(shape)} and dtype {dtype}")


def _decode_array(x: dict) -> np.ndarray:
    _check_array_marker(x)
    shape, framework = x["shape"], x.get("framework", "numpy")
    try:
        a = array_from_data(x["__ndarray__"], wire_dtype(x["dtype"]), shape)
    except BadBase64:
        raise RemoteProtocolError("array data is not valid base64") from None
    except (ValueError, TypeError, OverflowError, MemoryError) as exc:
        raise RemoteProtocolError(f"array of shape {tuple(shape)} cannot be built ({type(exc).__name__})") from None
    scalar = x.get("scalar", False) is True
    if scalar and (shape or framework != "numpy"):
        raise RemoteProtocolError("malformed scalar marker")
    return finish_array(a, framework, scalar)


def decode(x, *, student=None, origin: str = "value", callables: bool = False):
    """Decode a value the kernel sent, strictly; raises `RemoteProtocolError` for anything unexpected.

    Whatever `x` holds, no other exception comes out: a value the grader cannot
    accept is the submission's protocol error, never the grader's crash.
    """
    try:
        return _Decoder(student, origin, callables).decode(x, 0)
    except RemoteProtocolError:
        raise
    except RecursionError:
        raise RemoteProtocolError("the answer is nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - anything else in a hostile value is a protocol error too
        raise RemoteProtocolError(f"a malformed value ({type(exc).__name__})") from None


class _Decoder:
    """One value's decoding: the kernel that sent it, where it came from, and the items spent so far."""

    def __init__(self, student, origin: str, callables: bool):
        self.student, self.origin, self.callables = student, origin, callables
        self.items = 0

    def spend(self, n: int = 1) -> None:
        self.items += n
        if self.items > MAX_ITEMS:
            raise RemoteProtocolError(f"the answer holds more than {MAX_ITEMS} items")

    def decode(self, x, depth: int):
        self.spend()
        if depth > MAX_DEPTH:
            raise RemoteProtocolError("the answer is nested too deeply")
        t = type(x)
        if x is None or t is bool or t is float or t is str:
            return x
        if t is int:
            if abs(x) >= MAX_INT:
                raise RemoteProtocolError("an integer too large")
            return x
        if t is list:
            self.spend(len(x))
            return [self.decode(v, depth + 1) for v in x]
        if t is not dict:
            raise RemoteProtocolError(f"unexpected JSON value of type {t.__name__}")
        if "__ndarray__" in x:
            return _decode_array(x)
        return self.marker(x, depth)

    def marker(self, x: dict, depth: int):
        """A JSON object: a tuple, dict, function, complex number or handle marker."""
        keys = set(x)
        if keys == {"__tuple__"} and type(x["__tuple__"]) is list:
            self.spend(len(x["__tuple__"]))
            return tuple(self.decode(v, depth + 1) for v in x["__tuple__"])
        if keys == {"__dict__"} and type(x["__dict__"]) is dict:
            self.spend(len(x["__dict__"]))
            return {k: self.decode(v, depth + 1) for k, v in x["__dict__"].items()}
        if keys == {"__callable__"} and self.callables and type(x["__callable__"]) is str:
            return _resolve_callable(x["__callable__"])
        if keys == {"__complex__"}:
            parts = x["__complex__"]
            if type(parts) is list and len(parts) == 2 and all(type(p) in (int, float) for p in parts):
                return complex(*parts)
        if keys in ({"__handle__", "type"}, {"__handle__", "type", "mro"}) and type(x["__handle__"]) is int \
                and type(x["type"]) is str:
            return self.handle(x)
        raise RemoteProtocolError(f"unexpected marker {sorted(keys)[:5]}")

    def handle(self, x: dict) -> RemoteObject:
        if self.student is None:
            raise RemoteProtocolError("a remote object where only data was expected")
        mro = x.get("mro", [x["type"]])
        if type(mro) is not list or len(mro) > MAX_TYPE_NAMES or not all(type(n) is str for n in mro):
            raise RemoteProtocolError("malformed type names of a remote object")
        return RemoteObject(self.student, x["__handle__"], _clean(x["type"], TYPE_NAME_CHARS), self.origin,
                            tuple(_clean(n, TYPE_NAME_CHARS) for n in mro))
