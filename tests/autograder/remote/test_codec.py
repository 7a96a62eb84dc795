"""The wire format: `encode` and `decode` (strict, bounded, nothing but `RemoteProtocolError` out)."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from autograder.remote import RemoteArray, RemoteProtocolError, as_framework, decode, encode
from autograder.remote.codec import MAX_DEPTH


def _array(a):
    return {"__ndarray__": base64.b64encode(np.ascontiguousarray(a).tobytes()).decode(), "dtype": a.dtype.name,
            "shape": list(a.shape)}


# ------------------------------------------------------------ wire format
@pytest.mark.parametrize("dtype", ["bool", "int8", "int64", "uint16", "float16", "float32", "float64", "complex128"])
def test_array_round_trip_keeps_dtype_shape_and_values(dtype):
    """Does every whitelisted dtype survive encode -> JSON -> decode bit for bit, 0-d and empty arrays included?"""
    rng = np.random.default_rng(0)
    for shape in [(), (0,), (3,), (2, 3, 4)]:
        a = np.asarray(rng.normal(size=shape) * 10).astype(dtype)
        back = decode(json.loads(json.dumps(encode(a))))
        assert isinstance(back, RemoteArray) and back.__framework__ == "numpy"
        assert back.dtype == a.dtype and back.shape == a.shape
        assert np.array_equal(back, a, equal_nan=True)


def test_nested_plain_data_round_trips():
    """Do tuples, lists, str-keyed dicts, None, bools, complex, NaN and numpy scalars come back as themselves?"""
    value = {"t": (1, 2.5, None, True), "l": [1, "x", [np.float32(2.0)]], "c": 1 + 2j, "nan": float("nan"),
             "i": np.int64(7)}
    back = decode(json.loads(json.dumps(encode(value))))
    assert back["t"] == (1, 2.5, None, True) and isinstance(back["t"], tuple)
    assert back["l"][:2] == [1, "x"] and type(back["l"][2][0]) is np.float32
    assert back["c"] == 1 + 2j and np.isnan(back["nan"]) and type(back["i"]) is np.int64


def test_framework_tag_travels_with_arrays():
    """Does an array marked as a torch tensor decode with __framework__ 'torch' (what framework_of reads)?"""
    from course_utils.checks import framework_of

    back = decode(encode(as_framework(np.ones(3), "torch")))
    assert framework_of(back) == "torch" and framework_of(back * 2) == "torch"


def test_allowed_callables_travel_by_name():
    """Is np.tanh sent as a named reference, and a lambda or a grader function refused?"""
    assert encode(np.tanh) == {"__callable__": "numpy.tanh"}
    with pytest.raises(TypeError, match="only functions of"):
        encode(lambda z: z)
    with pytest.raises(TypeError, match="only functions of"):
        encode(test_allowed_callables_travel_by_name)


@pytest.mark.parametrize("bad", [np.array([object()]), np.array(["a", "b"]), {1: 2}, object()])
def test_encode_refuses_what_is_not_plain_data(bad):
    """Are object and string arrays, non-str dict keys and arbitrary objects refused before anything is sent?"""
    with pytest.raises(TypeError):
        encode(bad)


@pytest.mark.parametrize("marker, match", [
    ({"__ndarray__": "", "dtype": "object", "shape": [0]}, "not allowed"),
    ({"__ndarray__": base64.b64encode(b"x" * 8).decode(), "dtype": "float64", "shape": [2]}, "does not match"),
    ({"__ndarray__": "!!!!", "dtype": "uint8", "shape": [3]}, "base64"),
    ({"__ndarray__": "", "dtype": "float64", "shape": [-1]}, "shape"),
    ({"__ndarray__": "", "dtype": "float64", "shape": [0], "framework": "jax"}, "framework"),
    ({"__reduce__": "os.system"}, "unexpected marker"),
    ({"__handle__": 1, "type": "x"}, "only data"),
    ({"__complex__": ["1", 2]}, "unexpected marker"),
])
def test_decode_rejects_malformed_markers(marker, match):
    """Does the grader refuse object dtypes, size mismatches, bad base64, unknown markers and stray handles?"""
    with pytest.raises(RemoteProtocolError, match=match):
        decode(marker)


def test_decode_rejects_deep_nesting_and_huge_integers():
    """Are answers nested deeper than the limit, or holding absurd integers, refused?"""
    deep = []
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(RemoteProtocolError, match="deeply"):
        decode(deep)
    with pytest.raises(RemoteProtocolError, match="too large"):
        decode(10**100)


# ------------------------------------------------------------------ malformed values
@pytest.mark.parametrize("value", [
    {"__ndarray__": "", "dtype": "float64", "shape": [2**63, 0]},
    {"__ndarray__": "", "dtype": "float64", "shape": [2**40, 0, 2**40]},
    {"__ndarray__": "", "dtype": "float64", "shape": [-1]},
    {"__ndarray__": "AAAA", "dtype": "object", "shape": [1]},
    {"__ndarray__": "AAAA", "dtype": ["float64"], "shape": [1]},
    {"__ndarray__": 5, "dtype": "float64", "shape": [1]},
    {"__ndarray__": "!!!!", "dtype": "uint8", "shape": [3]},
    {"__ndarray__": "AAAA", "dtype": "uint8", "shape": [3], "scalar": True},
    {"__tuple__": 5}, {"__dict__": [1]}, {"__complex__": ["a", 1]}, {"__handle__": "x", "type": 1},
    {"__handle__": 1, "type": "t", "mro": "abc"}, 2**300,
])
def test_malformed_values_are_protocol_errors(value):
    """Does every malformed value raise RemoteProtocolError (never ValueError, TypeError, OverflowError ...)?"""
    with pytest.raises(RemoteProtocolError):
        decode(value)
    if value != 2**300:  # JSON itself has no such integer limit to test after a round trip
        with pytest.raises(RemoteProtocolError):
            decode(json.loads(json.dumps(value)))


def test_nested_empty_lists_are_fine_data():
    assert decode([[[[]]]] * 10) == [[[[]]]] * 10
