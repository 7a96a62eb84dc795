"""Helpers for the public checks in lab notebooks, with messages that teach.

Every failed check raises `CheckFailed` (an ``AssertionError``) whose message
says what was called, what came back, what was expected and, when the test
author gave one, the likely mistake. Nothing here imports torch or
TensorFlow: their tensors are recognised by the module of their type.

Example
-------
>>> import numpy as np
>>> from course_utils.checks import check_close, passed
>>> check_close(np.array([0.5, 0.7]), [0.5, 0.7], call="sigmoid(z)")
>>> passed("sigmoid(z) matches on 2 values")
✔ sigmoid(z) matches on 2 values
"""
from __future__ import annotations

import sys

import numpy as np

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
]


class CheckFailed(AssertionError):
    """A public or hidden check failed; the message explains why."""


class NameMissing(CheckFailed, AttributeError):
    """A name the test needs is not defined in the notebook.

    Also an ``AttributeError``, so ``hasattr(student, name)`` and
    ``getattr(student, name, default)`` work inside hidden tests.
    """


def type_names(x) -> list[str]:
    """Qualified names of the classes `x` is an instance of, most specific first.

    Hidden tests check "is this a Keras layer / an nn.Module" with it, because
    the autograder hands them stand-ins for the student's objects, not the
    objects: ``"torch.nn.modules.module.Module" in type_names(layer)``. A
    stand-in reports its own list through the attribute ``__type_names__``.
    """
    declared = getattr(x, "__type_names__", None)
    if isinstance(declared, (list, tuple)) and all(isinstance(n, str) for n in declared):
        return list(declared)
    return [f"{cls.__module__}.{cls.__qualname__}" for cls in type(x).__mro__]


def framework_of(x) -> str:
    """Return which framework `x` comes from.

    Parameters
    ----------
    x : object
        Any value. An object with a string attribute ``__framework__`` (the
        autograder's stand-ins for remote values) reports that string.

    Returns
    -------
    str
        ``"tensorflow"``, ``"torch"``, ``"numpy"`` or ``"python"``.
    """
    declared = getattr(x, "__framework__", None)
    if isinstance(declared, str):
        return declared
    root = type(x).__module__.partition(".")[0]
    if root == "torch":
        return "torch"
    if root in ("tensorflow", "tf_keras"):
        return "tensorflow"
    if root == "keras":  # Keras 3 variables: the backend decides
        config = getattr(sys.modules.get("keras"), "config", None)
        name = config.backend() if config is not None else "tensorflow"
        return "torch" if name == "torch" else "tensorflow"
    if root == "numpy":
        return "numpy"
    return "python"


def as_array(x) -> np.ndarray:
    """Convert `x` to a numpy array without importing any framework.

    Parameters
    ----------
    x : array_like, torch.Tensor, tf.Tensor, tf.Variable or keras.Variable
        Tensors are copied to host memory (``.detach().cpu().numpy()`` for
        torch, ``.numpy()`` for TensorFlow and Keras).

    Returns
    -------
    numpy.ndarray
        A scalar becomes a 0-d array.
    """
    if isinstance(x, np.ndarray):
        return x
    framework = framework_of(x)
    if framework == "torch" and hasattr(x, "detach"):
        return np.asarray(x.detach().cpu().numpy())
    if framework in ("tensorflow", "torch") and callable(getattr(x, "numpy", None)):
        return np.asarray(x.numpy())
    return np.asarray(x)


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


def check_close(got, expected, *, call: str, rtol: float = 1e-7, atol: float = 1e-10, hint: str = "") -> None:
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

    Raises
    ------
    CheckFailed
    """
    expected = as_array(expected)
    check_shape(got, expected.shape, call=call, hint=hint)
    a = _convert(got, call=call, hint=hint)
    a = a.astype(np.result_type(a.dtype, np.float64), copy=False)
    e = expected.astype(np.result_type(expected.dtype, np.float64), copy=False)
    bad = ~np.isfinite(a) & np.isfinite(e)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f" at index {index}" if a.ndim else ""
        raise CheckFailed(
            _with_hint(f"{call} returned {_fmt(a)}, which contains {a[index]}{where}, but expected {_fmt(e)}", hint)
        )
    if not np.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True):
        diff = np.where(np.isnan(a) & np.isnan(e), 0.0, np.abs(a - e))
        diff = np.where(np.isfinite(diff), diff, np.inf)
        index = np.unravel_index(int(np.argmax(diff)), diff.shape) if a.ndim else ()
        where = f" at index {tuple(int(i) for i in index)}" if a.ndim else ""
        raise CheckFailed(
            _with_hint(
                f"{call} returned {_fmt(a)} but expected {_fmt(e)} (largest difference {diff[index]:.6g}{where})",
                hint,
            )
        )


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


_MISSING = object()


class _Student:
    """Attribute access to the names a notebook has defined."""

    def __init__(self, namespace: dict):
        object.__setattr__(self, "_namespace", namespace)
        object.__setattr__(self, "_replaced", {})

    def use_reference(self, name: str, source: str) -> None:
        """Replace the notebook's `name` by the function that `source` defines, until the test ends.

        An exercise that builds on an earlier one (an MLP's backward pass calling
        ``dense_backward``) is then graded on its own: the earlier exercise's
        mistakes cost only that exercise's points. `source` must be
        self-contained (it imports what it uses).
        """
        scope: dict = {}
        exec(compile(source, f"<reference {name}>", "exec"), scope)
        if name not in scope:
            raise ValueError(f"the reference source does not define `{name}`")
        self._replaced.setdefault(name, self._namespace.get(name, _MISSING))
        self._namespace[name] = scope[name]

    def _restore(self) -> None:
        for name, value in self._replaced.items():
            if value is _MISSING:
                self._namespace.pop(name, None)
            else:
                self._namespace[name] = value
        self._replaced.clear()

    def __getattr__(self, name: str):
        try:
            return self._namespace[name]
        except KeyError:
            raise NameMissing(f"the test needs `{name}`, but `{name}` is not defined: run the cell that defines it") from None

    def __setattr__(self, name, value):
        raise AttributeError("hidden tests read the notebook's names; they must not change them")

    def __dir__(self):
        return sorted(self._namespace)


def _notebook_namespace() -> dict:
    # Only look for IPython when it is already loaded: importing it costs time
    # and outside a kernel it has no user namespace anyway.
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None:
        return shell.user_ns
    return sys.modules["__main__"].__dict__


def run_hidden_test(fn, seed: int = 0):
    """Run a test function against the names defined in the running notebook.

    Parameters
    ----------
    fn : callable
        ``fn(student, rng)``: `student` gives attribute access to the
        notebook's names (``student.sigmoid``), `rng` is
        ``np.random.default_rng(seed)``.
    seed : int
        Seed of the generator passed to `fn`.

    Returns
    -------
    object
        What `fn` returns.

    Raises
    ------
    CheckFailed
        From `fn`, or when `fn` reads a name the notebook has not defined.
    """
    student = _Student(_notebook_namespace())
    try:
        return fn(student, np.random.default_rng(seed))
    finally:
        student._restore()
