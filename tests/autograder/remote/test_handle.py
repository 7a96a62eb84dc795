"""`RemoteObject`: a kernel object's stand-in, with its state in one attribute and nothing private forwarded."""
from __future__ import annotations

import pytest

from autograder.remote import RemoteObject
from autograder.remote.handle import _forbidden


class _Student:
    """Records what a handle asks of its kernel."""

    def __init__(self):
        self.asked = []

    def _ag_request(self, request, call):
        self.asked.append((request, call))
        return "answer"

    def _ag_call(self, target, origin, args, kwargs):
        self.asked.append((target, origin, args, kwargs))
        return "called"


def test_attributes_and_calls_go_to_the_kernel_and_private_names_do_not():
    """Does a handle forward attribute reads and calls (named by where it came from), refuse dunder and grader
    names locally, refuse writes, and report its classes?"""
    student = _Student()
    handle = RemoteObject(student, 7, "m.Layer", "Layer(3)", ("m.Layer", "builtins.object"))
    assert handle.W == "answer" and student.asked[-1] == ({"op": "getattr", "handle": 7, "name": "W"}, "Layer(3).W")
    assert handle(1, k=2) == "called" and student.asked[-1] == ({"handle": 7}, "Layer(3)", (1,), {"k": 2})
    for name in ("__array_interface__", "_ag_id", "_repr_html_", "_ipython_display_"):
        assert _forbidden(name) and not hasattr(handle, name)
    assert _forbidden("_ag") and handle._ag.id == 7 and not _forbidden("weights")
    asked = len(student.asked)
    assert not hasattr(handle, "__array__") and len(student.asked) == asked  # never asked the kernel
    with pytest.raises(AttributeError, match="read-only"):
        handle.W = 1
    assert handle.__type_names__ == ["m.Layer", "builtins.object"]
    assert repr(handle) == "<m.Layer in the student's kernel, from Layer(3)>"
    assert RemoteObject(student, 1, "t", "o").__type_names__ == ["t"]
