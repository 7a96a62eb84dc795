"""The machinery of hidden tests: the notebook's names as a test sees them, and the run of a test against them.

A hidden test is a function ``fn(student, rng)``; `run_hidden_test` runs it
in the notebook's kernel against a `Student`, which reads the names the
notebook has defined (`notebook_namespace`) and never changes them. The
autograder runs the same tests outside the kernel with its own stand-ins
(``autograder.remote``). `CheckFailed` is the failure of any check, public
(`course_utils.checks`, which re-exports all of this) or hidden.
"""
from __future__ import annotations

import sys

import numpy as np

__all__ = ["CheckFailed", "NameMissing", "Student", "notebook_namespace", "run_hidden_test"]


class CheckFailed(AssertionError):
    """A public or hidden check failed; the message explains why."""


class NameMissing(CheckFailed, AttributeError):
    """A name the test needs is not defined in the notebook.

    Also an ``AttributeError``, so ``hasattr(student, name)`` and
    ``getattr(student, name, default)`` work inside hidden tests.
    """


_MISSING = object()


class Student:
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


def notebook_namespace() -> dict:
    """The running notebook's names: the IPython shell's user namespace, else ``__main__``'s."""
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
    student = Student(notebook_namespace())
    try:
        return fn(student, np.random.default_rng(seed))
    finally:
        student._restore()
