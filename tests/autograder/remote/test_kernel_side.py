"""The helper that runs in the student's kernel (`_kernel_side.py`), run here on a stand-in shell."""
from __future__ import annotations

import json
import types

import numpy as np
import pytest

from autograder.remote import CALLABLE_MODULES, PURE_FUNCTIONS, REFERENCE_PREFIX
from autograder.remote._wire_codec import DTYPES
from autograder.remote.codec import MIME, decode
from autograder.remote.student import _KERNEL_SIDE


@pytest.fixture
def helper():
    """(the helper, the notebook's namespace), installed from the file's source as the grader installs it."""
    namespace = {"__name__": "_autograder_kernel_side"}
    exec(compile(_KERNEL_SIDE.read_text(), "<autograder>", "exec"), namespace)
    shell = types.SimpleNamespace(user_ns={}, user_ns_hidden={}, kernel=None)
    namespace["install"](shell, "h", MIME, 1 << 20, REFERENCE_PREFIX, PURE_FUNCTIONS, tuple(sorted(DTYPES)),
                         CALLABLE_MODULES)
    assert shell.user_ns_hidden["h"] is shell.user_ns["h"]
    return shell.user_ns["h"], shell.user_ns


def ask(helper, request, nonce="n1"):
    bundle, _ = helper(nonce, json.dumps(request))._repr_mimebundle_()
    answer = json.loads(bundle[MIME])
    assert answer.pop("nonce") == nonce
    return answer


def test_names_calls_and_handles(helper):
    """Does the helper answer a ping, report a missing name, call a function on decoded arrays, and keep what is not
    plain data as a handle that a later call can use?"""
    h, ns = helper
    ns["double"] = lambda x: 2 * x
    ns["Box"] = type("Box", (), {"size": 3})
    assert ask(h, {"op": "ping"}) == {"value": "pong", "ok": True}
    assert ask(h, {"op": "get", "name": "nothing"}) == {"ok": False, "missing": "nothing"}
    out = ask(h, {"op": "call", "target": {"name": "double"}, "args": [{"__ndarray__": "", "dtype": "float64",
                                                                         "shape": [0]}], "kwargs": {}})
    assert out["ok"] and decode(out["value"]).shape == (0,)
    box = ask(h, {"op": "call", "target": {"name": "Box"}, "args": [], "kwargs": {}})["value"]
    assert box["type"].endswith("Box") and box["mro"][-1] == "builtins.object"
    assert ask(h, {"op": "getattr", "handle": box["__handle__"], "name": "size"})["value"] == 3
    ns["apply"] = lambda g, v: g(v)
    zero = {"__ndarray__": "AAAAAAAAAAA=", "dtype": "float64", "shape": [1]}
    out = ask(h, {"op": "call", "target": {"name": "apply"}, "args": [{"__callable__": "numpy.tanh"}, zero],
                  "kwargs": {}})
    assert decode(out["value"]).tolist() == [0.0]
    out = ask(h, {"op": "call", "target": {"name": "apply"}, "args": [{"__callable__": "os.system"}, 0], "kwargs": {}})
    assert out["ok"] is False and "not allowed" in out["error"]["message"]


def test_errors_warnings_and_in_place_changes_come_back(helper):
    """Is an exception described by type and module, a warning reported, and an argument changed in place sent
    back under its key?"""
    h, ns = helper
    ns["fail"] = lambda: int("x")
    ns["warn"] = lambda: np.float64(1e308) * 10
    ns["clip"] = lambda p: p.__setitem__(0, 0.5)
    out = ask(h, {"op": "call", "target": {"name": "fail"}, "args": [], "kwargs": {}})
    assert out["ok"] is False and out["error"]["type"] == "ValueError" and out["error"]["module"] == "builtins"
    out = ask(h, {"op": "call", "target": {"name": "warn"}, "args": [], "kwargs": {}})
    assert out["warnings"][0]["category"] == "RuntimeWarning"
    arg = {"__ndarray__": "AAAAAAAAAAA=", "dtype": "float64", "shape": [1]}
    out = ask(h, {"op": "call", "target": {"name": "clip"}, "args": [arg], "kwargs": {}})
    assert decode(out["changed"]["0"]).tolist() == [0.5]


def test_a_stand_in_needs_the_kernels_stdin_and_restore_puts_names_back(helper):
    """Does use_reference put a stand-in under the name (raising where there is no stdin channel), and restore
    put the notebook's own value back (or remove a name it did not have)?"""
    h, ns = helper
    ns["f"] = "mine"
    ask(h, {"op": "use_reference", "name": "f", "token": "t"})
    ask(h, {"op": "use_reference", "name": "g", "token": "t"})
    assert ns["f"].__name__ == "f" and "only during the test" in ns["f"].__doc__
    with pytest.raises(RuntimeError, match="need an IPython kernel"):
        ns["f"](1)
    ask(h, {"op": "restore"})
    assert ns["f"] == "mine" and "g" not in ns
