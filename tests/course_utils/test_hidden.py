"""Hidden tests run against the notebook's names (course_utils.hidden)."""
import sys
import types

import numpy as np
import pytest

from course_utils import hidden
from course_utils.hidden import CheckFailed, run_hidden_test


def test_hidden_test_reads_main_namespace(monkeypatch):
    """Outside IPython, does a hidden test see the names of __main__ and get a seeded rng?"""
    main = types.ModuleType("__main__")
    main.double = lambda x: 2 * x
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.delitem(sys.modules, "IPython", raising=False)

    def hidden(student, rng):
        return student.double(3), rng.integers(0, 1000, size=3).tolist()

    result, draws = run_hidden_test(hidden, seed=4)
    assert result == 6
    assert draws == np.random.default_rng(4).integers(0, 1000, size=3).tolist()


def test_hidden_test_reads_ipython_namespace(monkeypatch):
    """In a notebook, does a hidden test see the kernel's user namespace?"""
    shell = types.SimpleNamespace(user_ns={"answer": 42})
    fake_ipython = types.ModuleType("IPython")
    fake_ipython.get_ipython = lambda: shell
    monkeypatch.setitem(sys.modules, "IPython", fake_ipython)
    assert run_hidden_test(lambda student, rng: student.answer) == 42


def test_hidden_test_missing_name(monkeypatch):
    """Is a name the notebook has not defined reported as "run the cell that defines it"?"""
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    with pytest.raises(CheckFailed) as info:
        run_hidden_test(lambda student, rng: student.sigmoid(0.0))
    message = str(info.value)
    assert "`sigmoid` is not defined: run the cell that defines it" in message
    assert run_hidden_test(lambda student, rng: hasattr(student, "sigmoid")) is False


def test_use_reference_replaces_a_name_only_during_the_test(monkeypatch):
    """Does student.use_reference swap in a reference function for the test and restore the student's afterwards?"""
    namespace = {"helper": lambda x: "student's", "uses_helper": None}
    namespace["uses_helper"] = lambda x: namespace["helper"](x)
    monkeypatch.setattr(hidden, "notebook_namespace", lambda: namespace)
    seen = []

    def hidden_test(student, rng):
        student.use_reference("helper", "def helper(x):\n    return 'reference'\n")
        student.use_reference("absent", "def absent():\n    return 1\n")
        seen.append(student.uses_helper(0))
        seen.append(student.absent())

    hidden.run_hidden_test(hidden_test)
    assert seen == ["reference", 1]
    assert namespace["helper"](0) == "student's"
    assert "absent" not in namespace


def test_use_reference_requires_the_name_in_the_source(monkeypatch):
    """Does a reference source that does not define the name fail loudly?"""
    monkeypatch.setattr(hidden, "notebook_namespace", lambda: {})
    with pytest.raises(ValueError, match="does not define `f`"):
        hidden.run_hidden_test(lambda student, rng: student.use_reference("f", "g = 1"))
