"""The handle on a student's kernel: answers checked before they are parsed, and calls into a live kernel."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from autograder.remote import (KernelDied, NameMissing, RemoteArray, RemoteError, RemoteObject, RemoteProtocolError,
                               RemoteStudent, RemoteTimeout, as_framework)
from autograder.sandbox import Limits
from tests.autograder.remote.conftest import FakeSandbox, answer, installed_student
from tests.conftest import ROOT


def test_oversized_and_unmatched_answers_are_refused():
    """Is an answer over the size limit, with the wrong nonce, or not JSON refused as a protocol error?"""
    big = RemoteStudent(FakeSandbox(answer("x" * (2 << 20))))
    with pytest.raises(RemoteProtocolError, match="more than 1 MB"):
        big.anything
    stranger = RemoteStudent(FakeSandbox(answer(json.dumps({"nonce": "not-yours", "ok": True, "value": 1}))))
    with pytest.raises(RemoteProtocolError, match="does not belong"):
        stranger.anything
    garbage = RemoteStudent(FakeSandbox(answer("[" * 100_000)))
    with pytest.raises(RemoteProtocolError):
        garbage.anything
    broken = RemoteStudent(FakeSandbox({"status": "error", "ename": "NameError", "evalue": "helper"}))
    with pytest.raises(RemoteProtocolError, match="replace it"):
        broken.anything


def test_dunder_names_are_never_forwarded():
    """Does the handle refuse __array_interface__ & co. locally, so numpy never asks the kernel for a memory pointer?"""
    student = RemoteStudent(FakeSandbox(answer("{}")))
    handle = RemoteObject(student, 1, "x.Y", "y")
    for name in ("__array_interface__", "__array__", "__float__", "_repr_html_"):
        assert not hasattr(handle, name) and not hasattr(student, name)
    assert np.asarray(handle).dtype == object


# ------------------------------------------------------------ live kernel
KERNEL_CODE = (ROOT / "tests" / "files" / "remote_student_kernel.py").read_text()  # run in the kernel


@pytest.fixture(scope="module")
def student():
    """A live sandboxed kernel running KERNEL_CODE, with the helper installed first."""
    with installed_student(Limits(call_timeout_s=5, interrupt_grace_s=2)) as (handle, sandbox):
        assert sandbox.execute(KERNEL_CODE, timeout=30).status == "ok"
        yield handle


def test_calls_return_arrays_despite_prints_and_background_output(student):
    """Does sigmoid(z) come back exact while the function prints and a thread floods stdout?"""
    z = np.random.default_rng(1).normal(size=(3, 4))
    got = student.sigmoid(z)
    assert isinstance(got, RemoteArray) and np.allclose(got, 1 / (1 + np.exp(-z)))


def test_objects_stay_in_the_kernel(student):
    """Can a test build a layer, read its attribute and call it, with the object kept kernel-side?"""
    from course_utils.checks import type_names

    layer = student.Layer(3, 2)
    assert isinstance(layer, RemoteObject) and layer._ag.type == "__main__.Layer"
    assert type_names(layer) == ["__main__.Layer", "builtins.object"]
    assert layer.W.shape == (3, 2) and layer.W.dtype == np.float32
    out = layer(np.ones((4, 3), dtype=np.float32))
    assert np.array_equal(out, np.ones((4, 3)) @ np.arange(6).reshape(3, 2))
    assert student.identity(layer)._ag.id == layer._ag.id  # handles go back as themselves


def test_builtin_exceptions_are_reraised_as_their_type(student):
    """Is a student's ValueError a ValueError here (and a RemoteError), a KeyError a KeyError, a custom one RemoteError?"""
    with pytest.raises(ValueError, match=r"fails\('value'\) raised ValueError: bad input") as info:
        student.fails("value")
    assert isinstance(info.value, RemoteError)
    with pytest.raises(KeyError):
        student.fails("key")
    with pytest.raises(RemoteError, match="MyError") as info:
        student.fails("mine")
    assert not isinstance(info.value, ValueError)


def test_missing_names_raise_name_missing(student):
    """Does an undefined name raise NameMissing (so hasattr works) with a message naming it?"""
    with pytest.raises(NameMissing, match="`relu` is not defined"):
        student.relu
    assert not hasattr(student, "relu") and hasattr(student, "sigmoid")


def test_callables_and_frameworks(student):
    """Does np.tanh arrive as np.tanh, and does a torch result come back tagged 'torch'?"""
    x = np.linspace(-1, 1, 5)
    assert np.allclose(student.apply(np.tanh, x), np.tanh(x))
    # A notebook imports torch in a cell before any test calls into it; here the first call would import it
    # (about 2 s of CPU, far more on a busy machine) inside its 5 s limit.
    assert student._ag.sandbox.execute("import torch", timeout=120).status == "ok"
    got = student.as_torch(as_framework(x, "torch"))
    assert got.__framework__ == "torch" and np.allclose(got, 2 * x)


def test_a_call_that_never_returns_times_out_and_the_kernel_survives(student):
    """Does an infinite loop raise RemoteTimeout within the limit, leaving the kernel usable?"""
    start = time.monotonic()
    with pytest.raises(RemoteTimeout, match=r"spin\(\) did not return"):
        student.spin()
    assert time.monotonic() - start < 10
    assert student.identity(3) == 3


def test_rigged_results_arrive_as_handles_not_as_data(student):
    """Does an object with rigged __eq__/__array__/__float__ come back as an opaque handle that cannot compare equal?"""
    student._ag.sandbox.execute(
        "class Liar:\n"
        "    __eq__ = lambda self, other: True\n"
        "    __array__ = lambda self, *a, **k: __import__('numpy').ones(3)\n"
        "    __float__ = lambda self: 1.0\n"
        "def liar():\n    return Liar()\n", timeout=10)
    got = student.liar()
    assert isinstance(got, RemoteObject)
    assert got != np.ones(3).tolist() and np.asarray(got).dtype == object
    with pytest.raises(TypeError):
        float(got)


def test_tampering_with_its_tools_does_not_break_the_helper(student):
    """Does the helper keep answering after the notebook replaces print, base64, numpy's functions and its names?"""
    result = student._ag.sandbox.execute(
        "import base64, builtins, numpy\nbase64.b64encode = base64.b64decode = None\nbuiltins.print = None\n"
        "numpy.frombuffer = numpy.asarray = None\njson = base64 = np = None", timeout=10)
    assert result.status == "ok"
    assert np.allclose(student.identity(np.arange(3.0)), np.arange(3.0))


def test_a_dead_kernel_raises_kernel_died():
    """Does a call that kills the kernel (os._exit) raise KernelDied with the exit status?"""
    with installed_student(Limits(call_timeout_s=5)) as (student, sandbox):
        sandbox.execute("import os\ndef die():\n    os._exit(3)", timeout=10)
        with pytest.raises(KernelDied, match="status 3"):
            student.die()
        with pytest.raises(KernelDied):
            student.die()


def test_use_reference_replaces_a_name_until_restored(student):
    """Does use_reference swap in the reference function for the test, and _ag_restore put the student's back?"""
    student._ag.sandbox.execute("def double(x):\n    return 3 * x\ndef twice(x):\n    return double(x) + double(x)",
                                timeout=10)
    student.use_reference("double", "def double(x):\n    return 2 * x\n")
    assert student.twice(1) == 4
    student._ag_restore()
    assert student.twice(1) == 6
    with pytest.raises(ValueError, match="does not define"):
        student.use_reference("double", "x = 1")


def test_warnings_raised_in_the_kernel_are_raised_in_the_grader(student):
    """Does an overflow inside the student's function fail a test that forbids warnings, despite np.seterr(all='ignore')?"""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeWarning, match="overflow"):
            student.naive_sigmoid(np.array([-1000.0, 0.0]))
        with pytest.raises(FutureWarning, match="custom"):
            student.warns()
        assert np.allclose(student.naive_sigmoid(np.array([0.0])), 0.5)


def test_in_place_changes_to_arguments_are_visible_to_the_test(student):
    """Does a function that clips its input array in place change the test's array too, as it would in the kernel,
    when the test allows it (allow_in_place)?"""
    p = np.array([0.0, 0.5, 1.0])
    untouched = np.array([0.2, 0.5])
    with student.allow_in_place():
        student.clip_in_place(p)
        student.clip_in_place(untouched, lo=0.1)
        assert np.array_equal(p, [0.1, 0.5, 1.0])
        assert np.array_equal(untouched, [0.2, 0.5])
        q = np.array([0.0, 0.3])
        student.clip_in_place(p=q, lo=0.25)  # passed by keyword
        assert np.array_equal(q, [0.25, 0.3])


def test_in_place_changes_fail_the_call_unless_allowed(student):
    """Does a call that changes an array argument in place, at the top or nested in a dict or list, fail
    (InPlaceChange, an AssertionError) with the argument named, while the test's arrays still show the change?"""
    from autograder.remote import InPlaceChange

    p = np.array([0.0, 0.5, 1.0])
    with pytest.raises(InPlaceChange, match=r"modified argument 1 in place"):
        student.clip_in_place(p)
    assert np.array_equal(p, [0.1, 0.5, 1.0])
    student._ag.sandbox.execute("def scale_params(params, layers):\n    params['W'] *= 2\n    layers[1][0][:] += 1\n"
                                "    params['new'] = 1\n    return 0\n", timeout=10)
    params, layers = {"W": np.ones(2), "b": np.zeros(2)}, [(np.ones(1),), (np.zeros(3), np.zeros(1))]
    with pytest.raises(AssertionError, match=r"argument 1\['W'\], argument 2\[1\]\[0\] in place"):
        student.scale_params(params, layers)
    assert np.array_equal(params["W"], [2.0, 2.0]) and np.array_equal(layers[1][0], [1.0, 1.0, 1.0])
    assert np.array_equal(params["b"], [0.0, 0.0]) and "new" not in params  # dict keys are the kernel's own copy
    assert student.identity(np.ones(2)).shape == (2,)  # an untouched argument is no failure
    student._ag.sandbox.execute("def nudge_and_restore(w):\n    for i in range(w.size):\n        w[i] += 0.1\n"
                                "        w[i] -= 0.1\n    return 0\n", timeout=10)
    w = np.random.default_rng(0).normal(size=50)
    assert student.nudge_and_restore(w) == 0  # round-off of a restore is not a change

def test_an_answer_of_millions_of_empty_lists_is_refused_before_it_is_parsed():
    """Is 12 MB of '[],' (4 million lists, about 300 MB once parsed) refused without being parsed, so the grader's
    memory stays bounded, while an answer of a million numbers in one list gets past that check (it is parsed,
    and refused only for its nonce)?"""
    import resource

    flood = '{"nonce": "x", "ok": true, "value": [' + ",".join(["[]"] * 4_000_000) + "]}"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    student = RemoteStudent(FakeSandbox(answer(flood)), max_reply_bytes=16 << 20)
    with pytest.raises(RemoteProtocolError, match="nested lists or dicts"):
        student.anything
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 << 10  # KB: far less than 300 MB
    numbers = '{"nonce": "x", "ok": true, "value": [' + ",".join(["1"] * 1_000_000) + "]}"
    student = RemoteStudent(FakeSandbox(answer(numbers)), max_reply_bytes=16 << 20)
    with pytest.raises(RemoteProtocolError, match="does not belong"):
        student.anything
