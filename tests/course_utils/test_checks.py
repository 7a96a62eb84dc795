import sys
import types

import numpy as np
import pytest

from course_utils.checks import (
    CheckFailed,
    check_close,
    check_dtype,
    check_raises,
    check_shape,
    check_true,
    check_unchanged,
    passed,
    broadcast_message,
    call_checked,
    ready,
)


def message_of(fn, *args, **kwargs) -> str:
    with pytest.raises(CheckFailed) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_check_failed_is_assertion_error():
    """Do failed checks count as assertion failures (as nbgrader and pytest expect)?"""
    assert issubclass(CheckFailed, AssertionError)


def test_close_values_pass():
    """Do values within tolerance pass, whatever container they come in?"""
    check_close(np.array([0.5, 0.6]), [0.5, 0.6 + 1e-12], call="sigmoid(z)")
    check_close([[1, 2]], np.array([[1.0, 2.0]]), call="f(x)")
    check_close(0.25, 0.25, call="loss(y, y_hat)")
    check_close(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]), call="f(x)")


def test_value_mismatch_message():
    """Does a wrong value say what was called, returned, expected, where it differs most, and the hint?"""
    message = message_of(
        check_close, np.array([0.1, 0.2]), np.array([0.5, 0.6]), call="sigmoid(z)", hint="exp(z) instead of exp(-z)"
    )
    assert message == (
        "sigmoid(z) returned [0.1 0.2] but expected [0.5 0.6] "
        "(largest difference 0.4 at index (0,), relative error 0.8, allowed 1e-07: float64 precision). "
        "Likely mistake: exp(z) instead of exp(-z)"
    )


def test_near_miss_shows_the_digits_that_differ():
    """When got and expected print alike at 6 digits, does the message show enough digits and the relative error?"""
    message = message_of(check_close, np.array([0.17675931]), np.array([0.17675912]), call="grads_tf(...)['b2']")
    assert "[0.176759] but expected [0.176759]" not in message
    assert "whose element (0,) is 0.1767593, but expected 0.1767591" in message
    assert "relative error 1.1e-06, allowed 1e-07: float64 precision" in message
    scalar = message_of(check_close, 1.00000004, 1.0, call="loss()", rtol=1e-10, atol=0.0)
    assert "returned 1.00000004 but expected 1.0 " in scalar and "allowed 1e-10: float64 rounding" in scalar
    assert "float32 precision" in message_of(check_close, 1.1, 1.0, call="f()", rtol=1e-5)


def test_known_mistake_replaces_the_hint():
    """Does a value equal to a known wrong answer get that mistake's message instead of the generic hint?"""
    y, z2 = np.array([1.0, 0.0, 1.0]), np.array([[0.5], [-1.0], [2.0]])
    broadcast = np.mean(y * z2)  # (3,) * (3, 1) -> (3, 3)
    message = message_of(check_close, broadcast, np.mean(y * z2[:, 0]), call="loss(y, z2)", hint="the formula",
                         mistakes={broadcast_message(y=y.shape, z2=z2.shape): broadcast})
    assert message.endswith("Likely mistake: y is (3,), z2 is (3, 1): they broadcast to (3, 3)")
    other = message_of(check_close, 7.0, 1.0, call="loss(y, z2)", hint="the formula", mistakes={"broadcast": broadcast})
    assert other.endswith("Likely mistake: the formula")


def test_broadcast_message():
    """Does broadcast_message name both shapes and the shape they broadcast to?"""
    assert broadcast_message(y=(5,), z2=(5, 1)) == "y is (5,), z2 is (5, 1): they broadcast to (5, 5)"
    with pytest.raises(TypeError):
        broadcast_message(y=(5,))


def test_call_checked_explains_errors():
    """Does call_checked turn a raw error into a CheckFailed with the matching hint, and leave unfinished stubs alone?"""
    def shape_error(y):
        raise ValueError("logits and labels must have the same shape ((2, 1) vs (2,))")

    message = message_of(call_checked, shape_error, 1, call="grads_tf(params, X, y)", hints={"same shape": "reshape y"})
    assert message == ("grads_tf(params, X, y) raised ValueError: logits and labels must have the same shape ((2, 1) vs (2,)). "
                       "Likely mistake: reshape y")
    assert call_checked(lambda a, b=0: a + b, 1, b=2, call="f") == 3

    def stub():
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        call_checked(stub, call="stub()")


def test_ready_guards_demos(monkeypatch, capsys):
    """Does ready() pass finished functions and print one line for stubs, undefined names and unfinished classes?"""
    main = types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.delitem(sys.modules, "IPython", raising=False)

    def done(x):
        return x

    def stub(x):
        raise NotImplementedError()

    class Layer:
        def __init__(self):
            raise NotImplementedError()

    main.done, main.stub, main.Layer = done, stub, Layer
    assert ready("Exercise 1", "done") is True
    assert capsys.readouterr().out == ""
    assert ready("Exercise 2", "done", "stub", "Layer", "never_defined") is False
    assert capsys.readouterr().out == "(complete Exercise 2 (`stub`, `Layer`, `never_defined`) to see this)\n"


def test_largest_difference_index():
    """Is the index of the largest difference the right one in 2-D?"""
    expected = np.zeros((2, 3))
    got = expected.copy()
    got[1, 2] = 0.7
    got[0, 0] = 0.1
    assert "largest difference 0.7 at index (1, 2)" in message_of(check_close, got, expected, call="f(X)")


def test_shape_is_checked_before_values():
    """Is a wrong shape reported as a shape problem (not a value problem), with both shapes?"""
    message = message_of(check_close, np.zeros((3, 1)), np.zeros(3), call="perceptron_forward(X, w0, w)")
    assert message == "perceptron_forward(X, w0, w) returned shape (3, 1) but expected shape (3,)."


def test_none_is_reported():
    """Does a function that forgot `return` get told so?"""
    message = message_of(check_close, None, [1.0], call="relu(z)")
    assert "relu(z) returned None" in message and "`return`" in message


def test_non_numeric_is_reported():
    """Is a string or a ragged list reported as not an array of numbers?"""
    assert "not an array of numbers" in message_of(check_close, "0.5", 0.5, call="f(x)")
    assert "relu(z)" in message_of(check_close, [[1.0], [1.0, 2.0]], [1.0, 2.0], call="relu(z)")


def test_nan_is_reported_before_values():
    """Does a NaN (e.g. from overflow) say where it is, not just that values differ?"""
    got = np.array([0.5, np.nan, 0.7])
    message = message_of(check_close, got, [0.5, 0.6, 0.7], call="sigmoid(z)", hint="overflow in exp")
    assert "contains nan at index (1,)" in message
    assert message.endswith("Likely mistake: overflow in exp")
    assert "contains inf" in message_of(check_close, np.array([np.inf]), [1.0], call="f(x)")


def test_long_arrays_are_truncated():
    """Does a message about a large array stay short?"""
    message = message_of(check_close, np.ones(10_000), np.zeros(10_000), call="f(x)")
    assert "..." in message and len(message) < 300


def test_tolerances():
    """Are rtol and atol applied as in np.allclose?"""
    check_close(1.001, 1.0, call="f(x)", rtol=1e-2)
    with pytest.raises(CheckFailed):
        check_close(1.001, 1.0, call="f(x)")
    check_close(1e-9, 0.0, call="f(x)", atol=1e-8)


def test_check_shape():
    """Does check_shape accept None as "any size" and name both shapes when wrong?"""
    check_shape(np.zeros((5, 3)), (None, 3), call="dense_forward(X, W, b, g)")
    message = message_of(check_shape, np.zeros((5, 4)), (None, 3), call="dense_forward(X, W, b, g)", hint="X @ W.T")
    assert message == "dense_forward(X, W, b, g) returned shape (5, 4) but expected shape (any, 3). Likely mistake: X @ W.T"


def test_check_dtype():
    """Do floats of any precision pass as "float", and ints fail with the dtype named?"""
    check_dtype(np.zeros(2, dtype=np.float32), "float", call="f(x)")
    check_dtype(np.array([0, 1]), "int", call="classify(x, w0, w)")
    check_dtype(np.array([True]), "bool", call="f(x)")
    message = message_of(check_dtype, np.array([0.0, 1.0]), "int", call="classify(x, w0, w)", hint="use .astype(int)")
    assert "dtype float64 but expected int values" in message and "use .astype(int)" in message
    with pytest.raises(ValueError):
        check_dtype(np.zeros(1), "complex", call="f(x)")


def test_check_true():
    """Does check_true pass silently when true and raise the message and hint when false?"""
    check_true(True, message="never shown")
    assert message_of(check_true, np.all([1, 0]), message="rows must sum to 1", hint="sum over axis=1") == (
        "rows must sum to 1. Likely mistake: sum over axis=1"
    )


def test_check_raises():
    """Does check_raises return the expected exception and explain a missing or different one?"""

    def boundary(w2):
        if w2 == 0:
            raise ValueError("w[1] is 0")
        return 1.0 / w2

    exc = check_raises(lambda: boundary(0), ValueError, call="boundary_x2(1.0, 1.0, [3.0, 0.0])")
    assert str(exc) == "w[1] is 0"
    message = message_of(check_raises, lambda: boundary(2), ValueError, call="boundary_x2(1.0, 1.0, [3.0, 2.0])")
    assert message == "boundary_x2(1.0, 1.0, [3.0, 2.0]) returned 0.5 but should raise ValueError."
    message = message_of(check_raises, lambda: 1 / 0, ValueError, call="f()")
    assert "f() raised ZeroDivisionError(division by zero) but should raise ValueError" in message


def test_check_unchanged():
    """Is an input modified in place caught, and an untouched one accepted?"""
    z = np.array([-1.0, 2.0])
    before = z.copy()
    check_unchanged(before, z, name="z")
    z[z < 0] = 0.0
    message = message_of(check_unchanged, before, z, name="z")
    assert "changed its input `z` in place" in message and "z.copy()" in message


def test_passed_prints_tick(capsys):
    """Does passed() print a tick and the message to stdout?"""
    passed("sigmoid works on 5 inputs")
    assert capsys.readouterr() == ("✔ sigmoid works on 5 inputs\n", "")


def test_checks_re_exports_the_frameworks_and_hidden_test_names():
    """Do notebooks, hidden tests and the autograder still find these names in checks (the same objects)?"""
    from course_utils import checks, frameworks, hidden

    assert checks.as_array is frameworks.as_array and checks.framework_of is frameworks.framework_of
    assert checks.type_names is frameworks.type_names
    assert checks.run_hidden_test is hidden.run_hidden_test and checks.CheckFailed is hidden.CheckFailed
    assert checks.NameMissing is hidden.NameMissing and checks.Student is hidden.Student
