"""The array rules the grader and the reference worker share (`_wire_codec.py`, loaded by path in the worker)."""
from __future__ import annotations

import subprocess
import sys

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
    """Does the file load by its path in an isolated interpreter (as the worker loads it) without the grader?"""
    code = ("import importlib.util, sys\nspec = importlib.util.spec_from_file_location('_wire_codec', sys.argv[1])\n"
            "m = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(m)\n"
            "print(sorted(n for n in sys.modules if n.startswith(('autograder', 'course_utils'))))")
    out = subprocess.run([sys.executable, "-I", "-c", code, wire.__file__], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr
