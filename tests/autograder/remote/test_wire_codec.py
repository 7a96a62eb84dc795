"""The array rules the grader and the reference worker share (`_wire_codec.py`, loaded by path in the worker)."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from autograder.remote import _wire_codec as wire


def test_arrays_travel_little_endian_and_come_back_native_and_tagged():
    """Does a big-endian, non-contiguous array go as little-endian C-order bytes that decode to the same values,
    tagged with their framework; does a dtype outside the allow-list give None?"""
    a = np.arange(6, dtype=">f4").reshape(2, 3).T
    marker = wire.array_marker(a, "torch")
    assert marker["dtype"] == "float32" and marker["shape"] == [3, 2] and marker["framework"] == "torch"
    dt = wire.wire_dtype(marker["dtype"])
    assert wire.data_matches(marker["shape"], dt, marker["__ndarray__"])
    assert not wire.data_matches([4, 2], dt, marker["__ndarray__"])
    back = wire.finish_array(wire.array_from_data(marker["__ndarray__"], dt, marker["shape"]), "torch", False)
    assert isinstance(back, wire.RemoteArray) and back.__framework__ == "torch" and np.array_equal(back, a)
    assert wire.array_marker(np.array(["x"])) is None
    assert wire.array_marker(np.float64(2.5), scalar=True)["scalar"] is True


def test_markers_and_data_are_checked():
    """Are extra or missing keys refused, and text that is not base64 a BadBase64 (a ValueError)?"""
    assert wire.array_keys_ok({"__ndarray__", "dtype", "shape", "scalar"})
    assert not wire.array_keys_ok({"__ndarray__", "dtype"}) and not wire.array_keys_ok({*wire.ARRAY_KEYS, "x"})
    with pytest.raises(ValueError):
        wire.array_from_data("!!!!", wire.wire_dtype("uint8"), [3])
    assert issubclass(wire.BadBase64, ValueError)


def test_it_imports_nothing_of_the_grader():
    """Does the file import only the standard library and numpy (the worker loads it by path, without the grader)?"""
    tree = ast.parse(Path(wire.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"__future__", "base64", "binascii", "math", "numpy"}, imported
