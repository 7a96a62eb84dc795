"""Helpers for the public checks in lab notebooks, with messages that teach.

Every failed check raises `CheckFailed` (an ``AssertionError``) whose message
says what was called, what came back, what was expected and, when the test
author gave one, the likely mistake. Nothing here imports torch or
TensorFlow: their tensors are recognised by the frameworks' own classes
(`course_utils.frameworks`). The machinery of hidden tests is in
`course_utils.hidden`; both are re-exported here, where notebooks and
hidden tests import them from.

Example
-------
>>> import numpy as np
>>> from course_utils.checks import check_close, passed
>>> check_close(np.array([0.5, 0.7]), [0.5, 0.7], call="sigmoid(z)")
>>> passed("sigmoid(z) matches on 2 values")
✔ sigmoid(z) matches on 2 values
"""
from __future__ import annotations

import inspect
import math

import numpy as np

# type_names, NameMissing and run_hidden_test are re-exported: hidden tests and notebooks import them from here
from course_utils.frameworks import as_array, framework_of, type_names  # noqa: F401
from course_utils.hidden import CheckFailed, NameMissing, Student, notebook_namespace, run_hidden_test  # noqa: F401

__all__ = [
    "CheckFailed",
    "as_array",
    "framework_of",
    "check_close",
    "check_shape",
    "check_dtype",
    "check_true",
    "check_raises",
    "check_unchanged",
    "passed",
    "run_hidden_test",
    "broadcast_message",
    "call_checked",
    "ready",
]



def _fmt(a: np.ndarray) -> str:
    """Short, one-line text for an array (long ones are elided with ...)."""
    if a.dtype == object:
        return repr(a.tolist())[:200]
    if a.ndim == 0:
        return repr(a.item())
    with np.printoptions(threshold=8, edgeitems=3, precision=6, linewidth=10_000):
        text = np.array2string(a, separator=" ")
    return " ".join(text.split()).replace("[ ", "[")


def _describe(x) -> str:
    if x is None:
        return "None"
    a = np.asarray(x) if not isinstance(x, np.ndarray) else x
    return _fmt(a)


def _digits_to_differ(a: float, b: float) -> int:
    """The fewest significant digits (at least 7) at which a and b print differently."""
    for digits in range(7, 18):
        if f"{a:.{digits}g}" != f"{b:.{digits}g}":
            return digits
    return 17


def _precision_of(rtol: float) -> str:
    """Which floating-point precision a relative tolerance expects."""
    if rtol < 1e-9:
        return "float64 rounding"
    if rtol < 1e-6:
        return "float64 precision"
    if rtol <= 1e-3:
        return "float32 precision"
    return "rough agreement"


def _known_mistake(got, mistakes) -> str:
    """The message of the first known wrong answer that `got` equals, or ""."""
    if not mistakes:
        return ""
    try:
        a = as_array(got).astype(np.float64)
    except Exception:
        return ""
    for message, value in mistakes.items():
        v = as_array(value).astype(np.float64)
        if a.shape == v.shape and np.allclose(a, v, rtol=1e-9, atol=1e-12):
            return message
    return ""


def broadcast_message(**shapes) -> str:
    """Say how two arrays of different shapes broadcast, e.g. ``broadcast_message(y=(5,), z2=(5, 1))``.

    Returns
    -------
    str
        ``"y is (5,), z2 is (5, 1): they broadcast to (5, 5)"``.
    """
    if len(shapes) != 2:
        raise TypeError(f"give exactly two name=shape pairs, got {len(shapes)}")
    (name_a, a), (name_b, b) = ((n, tuple(s)) for n, s in shapes.items())
    both = np.broadcast_shapes(a, b)
    return f"{name_a} is {_shape_text(a)}, {name_b} is {_shape_text(b)}: they broadcast to {_shape_text(both)}"


def call_checked(fn, *args, call: str, hints=None, **kwargs):
    """Call ``fn(*args, **kwargs)``; turn an exception it raises into a `CheckFailed` that teaches.

    Parameters
    ----------
    fn : callable
        The student's function.
    *args, **kwargs
        Its arguments.
    call : str
        The call as the student should read it.
    hints : dict of str to str, optional
        Text that may appear in the error message (lower case) -> the likely
        mistake, e.g. ``{"shape": broadcast_message(y=(2,), z2=(2, 1))}``.

    Returns
    -------
    object
        What `fn` returned.

    Raises
    ------
    CheckFailed
        When `fn` raised anything but `NotImplementedError` (an unfinished
        exercise keeps its own, plain error).
    """
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as exc:
        text = str(exc).strip().splitlines()[0][:300].rstrip(".") if str(exc).strip() else ""
        hint = next((h for key, h in (hints or {}).items() if key.lower() in text.lower()), "")
        raise CheckFailed(_with_hint(f"{call} raised {type(exc).__name__}: {text}", hint)) from None


def _unfinished(value) -> bool:
    """True for a function (or a class with a method) that still raises NotImplementedError."""
    codes = []
    if inspect.isclass(value):
        codes = [f.__code__ for f in vars(value).values() if inspect.isfunction(f)]
    elif inspect.isfunction(value):
        codes = [value.__code__]
    return any("NotImplementedError" in code.co_names for code in codes)


def ready(exercise: str, *names: str) -> bool:
    """Guard for a demo cell: True when the exercises it needs are done, else print one line and return False.

    A name counts as unfinished when the notebook has not defined it (its
    cell has not been run) or when it still contains the
    ``raise NotImplementedError()`` line of the exercise's stub. Check it
    before drawing anything, so an unfinished exercise leaves no empty axes
    or progress bar behind::

        if checks.ready("Exercise 2", "perceptron_forward"):
            ...  # the demo

    Parameters
    ----------
    exercise : str
        How the note names the exercise, e.g. ``"Exercise 2"``.
    *names : str
        The notebook names the demo uses (functions or classes).

    Returns
    -------
    bool
    """
    namespace = notebook_namespace()
    missing = [name for name in names if name not in namespace or _unfinished(namespace[name])]
    if missing:
        print(f"(complete {exercise} ({', '.join(f'`{n}`' for n in missing)}) to see this)")
        return False
    return True


def _with_hint(message: str, hint: str) -> str:
    return f"{message}. Likely mistake: {hint}" if hint else message + "."


def _shape_text(shape) -> str:
    return "(" + ", ".join("any" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _convert(got, *, call: str, hint: str) -> np.ndarray:
    if got is None:
        raise CheckFailed(_with_hint(f"{call} returned None (is the `return` statement missing?)", hint))
    try:
        a = as_array(got)
    except Exception as exc:
        raise CheckFailed(
            _with_hint(f"{call} returned a {type(got).__name__} that cannot be read as an array ({exc})", hint)
        ) from None
    if a.dtype.kind not in "biufc":
        raise CheckFailed(
            _with_hint(f"{call} returned {_describe(got)[:200]} ({type(got).__name__}), which is not an array of numbers", hint)
        )
    return a


def check_shape(got, shape, *, call: str, hint: str = "") -> None:
    """Check that `got` has `shape`.

    Parameters
    ----------
    got : array_like or tensor
        What the student's code returned.
    shape : tuple of int or None
        The expected shape; None matches any size along that axis.
    call : str
        The call that produced `got`, e.g. ``"perceptron_forward(X, w0, w)"``.
    hint : str
        The likely mistake, shown when the check fails.

    Raises
    ------
    CheckFailed
    """
    a = _convert(got, call=call, hint=hint)
    shape = tuple(shape)
    ok = a.ndim == len(shape) and all(e is None or e == g for g, e in zip(a.shape, shape))
    if not ok:
        raise CheckFailed(
            _with_hint(f"{call} returned shape {_shape_text(a.shape)} but expected shape {_shape_text(shape)}", hint)
        )


_KINDS = {"float": np.floating, "int": np.integer, "bool": np.bool_}


def check_dtype(got, kind: str, *, call: str, hint: str = "") -> None:
    """Check that `got` holds floats, integers or booleans.

    Parameters
    ----------
    got : array_like or tensor
    kind : {"float", "int", "bool"}
        Any precision of that kind passes (float32 and float64 are "float").
    call : str
        The call that produced `got`.
    hint : str
        The likely mistake, shown when the check fails.

    Raises
    ------
    CheckFailed
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {sorted(_KINDS)}, got {kind!r}")
    a = _convert(got, call=call, hint=hint)
    if not np.issubdtype(a.dtype, _KINDS[kind]):
        raise CheckFailed(_with_hint(f"{call} returned values of dtype {a.dtype} but expected {kind} values", hint))


def check_close(got, expected, *, call: str, rtol: float = 1e-7, atol: float = 1e-10, hint: str = "",
                mistakes=None) -> None:
    """Check that `got` equals `expected` within tolerance, with a helpful message.

    Checks, in order: that `got` is an array of numbers, its shape, that it
    has no NaN or infinity where `expected` has none, and the values
    (``np.allclose(got, expected, rtol, atol)``).

    Parameters
    ----------
    got : array_like or tensor
        What the student's code returned (numpy, torch, TensorFlow, scalars).
    expected : array_like or tensor
        The reference value.
    call : str
        The call that produced `got`, e.g. ``"sigmoid(z)"``.
    rtol, atol : float
        Relative and absolute tolerance, as in ``np.allclose``.
    hint : str
        The likely mistake, shown when the check fails.
    mistakes : dict of str to array_like, optional
        Known wrong answers: message -> the value that mistake produces (for
        example ``{broadcast_message(y=(2,), z2=(2, 1)): value}``). When
        `got` matches one of them, its message replaces `hint`.

    When the printed numbers of `got` and `expected` look the same (a near
    miss), the message shows as many digits as it takes to see the
    difference; every value mismatch reports the relative error next to the
    tolerance the check allows.

    Raises
    ------
    CheckFailed
    """
    expected = as_array(expected)
    hint = _known_mistake(got, mistakes) or hint
    check_shape(got, expected.shape, call=call, hint=hint)
    a = _convert(got, call=call, hint=hint)
    a = a.astype(np.result_type(a.dtype, np.float64), copy=False)
    e = expected.astype(np.result_type(expected.dtype, np.float64), copy=False)
    _check_finite(a, e, call=call, hint=hint)
    if not np.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True):
        raise CheckFailed(_with_hint(_mismatch(a, e, rtol=rtol, atol=atol, call=call), hint))


def _check_finite(a: np.ndarray, e: np.ndarray, *, call: str, hint: str) -> None:
    """`CheckFailed` at the first NaN or infinity of `a` where `e` is finite."""
    bad = ~np.isfinite(a) & np.isfinite(e)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f" at index {index}" if a.ndim else ""
        raise CheckFailed(
            _with_hint(f"{call} returned {_fmt(a)}, which contains {a[index]}{where}, but expected {_fmt(e)}", hint)
        )


def _mismatch(a: np.ndarray, e: np.ndarray, *, rtol: float, atol: float, call: str) -> str:
    """What differs between `a` and `e`: the element that exceeds its tolerance the most, with its relative error."""
    diff = np.where(np.isnan(a) & np.isnan(e), 0.0, np.abs(a - e))
    diff = np.where(np.isfinite(diff), diff, np.inf)
    # the element that exceeds its tolerance the most, not merely the largest difference
    excess = diff - (atol + rtol * np.abs(e))
    index = np.unravel_index(int(np.argmax(np.where(np.isnan(excess), -np.inf, excess))), diff.shape) if a.ndim else ()
    where = f" at index {tuple(int(i) for i in index)}" if a.ndim else ""
    got_text, want_text = _fmt(a), _fmt(e)
    if got_text == want_text:  # a near miss: the printed digits hide the difference
        digits = _digits_to_differ(float(a[index]), float(e[index]))
        got_text, want_text = f"{a[index]:.{digits}g}", f"{e[index]:.{digits}g}"
        if a.ndim:
            got_text = f"{_fmt(a)}, whose element {tuple(int(i) for i in index)} is {got_text},"
    scale = abs(float(e[index]))
    relative = diff[index] / scale if scale > 0 else math.inf
    return (f"{call} returned {got_text} but expected {want_text} (largest difference {diff[index]:.3g}{where}, "
            f"relative error {relative:.2g}, allowed {rtol:.0e}: {_precision_of(rtol)})")


def check_true(condition, *, message: str, hint: str = "") -> None:
    """Raise `CheckFailed` with `message` (and `hint`) unless `condition` is true."""
    if not bool(condition):
        raise CheckFailed(_with_hint(message.rstrip("."), hint))


def check_raises(fn, exc_type, *, call: str, hint: str = ""):
    """Check that calling ``fn()`` raises `exc_type`.

    Parameters
    ----------
    fn : callable
        Takes no arguments, e.g. ``lambda: boundary_x2(1.0, 1.0, [3.0, 0.0])``.
    exc_type : type or tuple of types
        The exception expected.
    call : str
        The call as the student should read it.
    hint : str
        The likely mistake, shown when the check fails.

    Returns
    -------
    BaseException
        The exception raised, for further checks on its message.

    Raises
    ------
    CheckFailed
    """
    names = " or ".join(t.__name__ for t in (exc_type if isinstance(exc_type, tuple) else (exc_type,)))
    try:
        result = fn()
    except exc_type as exc:
        return exc
    except Exception as exc:
        raise CheckFailed(
            _with_hint(f"{call} raised {type(exc).__name__}({exc}) but should raise {names}", hint)
        ) from exc
    raise CheckFailed(_with_hint(f"{call} returned {_describe(result)[:200]} but should raise {names}", hint))


def check_unchanged(before, after, *, name: str) -> None:
    """Check that an input was not modified in place.

    Parameters
    ----------
    before : array_like
        A copy taken before the call (``x.copy()``).
    after : array_like
        The same input after the call.
    name : str
        The argument's name as the student knows it, e.g. ``"z"``.

    Raises
    ------
    CheckFailed
    """
    b, a = as_array(before), as_array(after)
    if b.shape != a.shape or not np.array_equal(b, a, equal_nan=b.dtype.kind in "fc"):
        raise CheckFailed(
            f"your function changed its input `{name}` in place (it was {_fmt(b)}, now {_fmt(a)}). "
            f"Build a new array instead (e.g. `{name} = {name}.copy()` first, or avoid `{name}[...] = ` and `{name} += `)."
        )


def passed(message: str) -> None:
    """Print ``"✔ " + message`` (to stdout)."""
    print("✔ " + message)
