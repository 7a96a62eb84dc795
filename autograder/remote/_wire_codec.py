"""The rules of the wire format that the grader and the reference worker share (arrays, limits, exceptions).

Imports only the standard library and numpy, and nothing of the grader: the
reference worker (``_reference_worker.py``, run by path with ``python -I``)
loads this file by its path, the grader imports it as
``autograder.remote._wire_codec``. Each side keeps its own error messages;
what is allowed (dtypes, frameworks, the keys of an array marker, how many
bytes the data must hold) and how an array is built and sent is decided here.
"""
from __future__ import annotations

import base64
import binascii
import math

import numpy as np

DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                    "float16", "float32", "float64", "complex64", "complex128"})
FRAMEWORKS = ("numpy", "torch", "tensorflow")
ARRAY_KEYS = frozenset({"__ndarray__", "dtype", "shape"})  # an array marker holds these ...
ARRAY_OPTIONAL_KEYS = frozenset({"framework", "scalar"})  # ... and may hold these
MAX_ITEMS = 1_000_000  # items in one decoded value
MAX_NESTED_REFERENCES = 8  # reference calls nested through callbacks
# Builtin exceptions that travel as themselves (re-raised as the same type on the other side).
BUILTIN_EXCEPTIONS = {e.__name__: e for e in (
    ArithmeticError, AssertionError, AttributeError, FloatingPointError, ImportError, IndexError, KeyError,
    LookupError, MemoryError, ModuleNotFoundError, NameError, NotImplementedError, OverflowError,
    RecursionError, RuntimeError, TimeoutError, TypeError, UnboundLocalError, ValueError, ZeroDivisionError)}


class BadBase64(ValueError):
    """The data of an array marker is not valid base64 text."""


class RemoteArray(np.ndarray):
    """A numpy array that came from (or goes to) the kernel; ``__framework__`` says what it was there."""

    __framework__ = "numpy"

    def __array_finalize__(self, obj):
        self.__framework__ = getattr(obj, "__framework__", "numpy")


def array_keys_ok(keys) -> bool:
    """Does a marker with these keys have the keys of an array marker (and no others)?"""
    return ARRAY_KEYS <= keys <= ARRAY_KEYS | ARRAY_OPTIONAL_KEYS


def wire_dtype(name: str) -> np.dtype:
    """The little-endian dtype an array of dtype `name` travels as."""
    return np.dtype(name).newbyteorder("<")


def data_matches(shape, dtype: np.dtype, data: str) -> bool:
    """Does base64 text `data` hold exactly the bytes of an array of `shape` and `dtype` (checked before decoding)?"""
    return math.prod(shape) * dtype.itemsize == (len(data) // 4) * 3 - data[-2:].count("=")


def array_from_data(data: str, dtype: np.dtype, shape) -> np.ndarray:
    """The array base64 text `data` holds, in native byte order; `BadBase64` for text that is not valid base64."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BadBase64("not valid base64") from None
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def finish_array(a: np.ndarray, framework: str, scalar: bool):
    """A decoded array as it is handed on: a numpy scalar, or a `RemoteArray` tagged with its framework."""
    if scalar:
        return a[()]
    out = a.view(RemoteArray)
    out.__framework__ = framework
    return out


def array_marker(a: np.ndarray, framework: str = "numpy", scalar: bool = False) -> dict | None:
    """The wire marker of array `a` (sent little-endian, C order), or None when its dtype may not travel."""
    if a.dtype.name not in DTYPES:
        return None
    a = np.array(a, dtype=a.dtype.newbyteorder("<"), order="C", copy=None)
    out = {"__ndarray__": base64.b64encode(a.tobytes()).decode("ascii"), "dtype": a.dtype.name, "shape": list(a.shape)}
    if framework != "numpy":
        out["framework"] = framework
    if scalar:
        out["scalar"] = True
    return out


NOT_PLAIN = object()  # what `encode_plain` returns for a value that is no number or array


def encode_plain(x, send_array):
    """The wire form of a number or an array (`send_array(a, framework, scalar)` makes the array markers), or
    `NOT_PLAIN`. Call it after the checks for None, bools, strings and the objects that travel by handle."""
    if isinstance(x, np.generic):
        return send_array(np.asarray(x), "numpy", True)
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        return float(x)
    if isinstance(x, complex):
        return {"__complex__": [x.real, x.imag]}
    if isinstance(x, np.ndarray):
        return send_array(x.view(np.ndarray), getattr(x, "__framework__", "numpy"), False)
    return NOT_PLAIN
