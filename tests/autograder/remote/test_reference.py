"""`student.use_reference(name, source)`: the reference runs in the grader, never in the kernel.

A small lab: ``scale`` (graded last), ``double_scale`` (graded first, with the
reference ``scale``: the grader's stand-in) and ``combine`` (graded with a
reference that calls back a function of the notebook and a numpy function).
The attacks leave ``scale`` unimplemented and try to get its points from the
reference: by keeping the stand-in for a later test, or by finding the
reference's source (compile and exec patched, every live object searched,
the stand-in's closure and globals read).
"""
from __future__ import annotations

import nbformat
import numpy as np
import pytest

from autograder.remote.reference import _check_reference
from autograder.sandbox import Limits
from tests.autograder.remote.conftest import installed_student
from tests.files.cells import nbgrader_cell
from tests.files.fixture_lab import grade_submission, write_source

LAB = "98_reference"
LIMITS = Limits(cell_timeout_s=20, call_timeout_s=10, test_timeout_s=30, notebook_timeout_s=60, memory_mb=1024,
                processes=64, interrupt_grace_s=1, max_restarts=1)
SECRET = "REFERENCE-SECRET-7Q"
SCALE = f"def scale(x):\n    return x * 1.2345678  # {SECRET}\n"

SOLUTION = {
    "scale": "import numpy as np\n\ndef scale(x):\n    ### BEGIN SOLUTION\n    return x * 1.2345678\n    ### END SOLUTION",
    "double_scale": "def double_scale(x):\n    ### BEGIN SOLUTION\n    return 2.0 * scale(x)\n    ### END SOLUTION",
    "combine": ("def square(v):\n    return v * v\n\ndef transform(x, g):\n    ### BEGIN SOLUTION\n    return 3.0 * g(x)\n"
                "    ### END SOLUTION\n\ndef combine(x):\n    ### BEGIN SOLUTION\n"
                "    return transform(x, square) + transform(x, np.tanh) + transform(x, g=lambda v: v + 1.0)\n"
                "    ### END SOLUTION"),
}
TESTS = {
    "test_double_scale": f'''\
### BEGIN HIDDEN TESTS
def hidden_test_double_scale(student, rng):
    import numpy as np
    x = rng.normal(size=(4, 3))
    want = 2.0 * 1.2345678 * x
    student.use_reference("scale", {SCALE!r})
    got = student.double_scale(x.copy())
    assert np.allclose(got, want, rtol=1e-12), "double_scale(x): expected 2 * scale(x)"
### END HIDDEN TESTS''',
    "test_combine": '''\
### BEGIN HIDDEN TESTS
def hidden_test_combine(student, rng):
    import numpy as np
    x = rng.normal(size=(5,))
    want = 3.0 * (x * x) + 3.0 * np.tanh(x) + 3.0 * (x + 1.0)
    student.use_reference("transform", "def transform(x, g):\\n    return 3.0 * g(x)\\n")
    got = student.combine(x.copy())
    assert np.allclose(got, want, rtol=1e-12), "combine(x): wrong values"
### END HIDDEN TESTS''',
    "test_scale": '''\
### BEGIN HIDDEN TESTS
def hidden_test_scale(student, rng):
    import numpy as np
    x = rng.normal(size=(6,))
    want = 1.2345678 * x
    got = student.scale(x.copy())
    assert np.allclose(got, want, rtol=1e-12), "scale(x): wrong values"
### END HIDDEN TESTS''',
}


def lab_source(solutions=SOLUTION):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbgrader_cell(solutions["scale"], "scale", solution=True),
                nbgrader_cell(solutions["double_scale"], "double_scale", solution=True),
                nbgrader_cell(TESTS["test_double_scale"], "test_double_scale", grade=True, locked=True, points=1),
                nbgrader_cell(solutions["combine"], "combine", solution=True),
                nbgrader_cell(TESTS["test_combine"], "test_combine", grade=True, locked=True, points=1),
                nbgrader_cell(TESTS["test_scale"], "test_scale", grade=True, locked=True, points=2)]
    return nb


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    return write_source(tmp_path_factory.mktemp("course"), LAB, lab_source())


def grade(nb, lab, tmp_path):
    result = grade_submission(nb, LAB, lab, tmp_path, LIMITS)
    return {t["grade_id"]: t["score"] for t in result["tests"]}, result


def test_reference_answers_with_callbacks(lab, tmp_path):
    """Does the solution score full marks: the stand-in answers, calling back a notebook function,
    a lambda and np.tanh?"""
    scores, result = grade(lab_source(), lab, tmp_path)
    assert scores == {"test_double_scale": 1.0, "test_combine": 1.0, "test_scale": 2.0}, result


REUSE = {**SOLUTION,
         "scale": ("import numpy as np\n_kept = []\n\ndef scale(x):\n    if _kept:\n        return _kept[0](x)  # the reference, "
                   "kept from an earlier test\n    raise NotImplementedError()"),
         "double_scale": "def double_scale(x):\n    _kept.append(scale)\n    return 2.0 * scale(x)"}
LEAK = {**SOLUTION,
        "scale": f'''\
import builtins, gc, numpy as np
_seen = []
_compile, _exec = builtins.compile, builtins.exec
builtins.compile = lambda src, *a, **k: (_seen.append(str(src)), _compile(src, *a, **k))[1]
builtins.exec = lambda src, *a, **k: (_seen.append(str(src)), _exec(src, *a, **k))[1]

def _search(fn):
    found = list(_seen)
    for cell in (getattr(fn, "__closure__", None) or ()):
        try:
            found.append(repr(cell.cell_contents))
        except ValueError:
            pass
    found += [repr(v) for v in getattr(fn, "__globals__", {{}}).values()]
    found += [o for o in gc.get_objects() if isinstance(o, str) and "SECRET" in o and "_search" not in o]
    return [t for t in found if "{SECRET[:-3]}" in t and "_search" not in t]

_leaked = []

def scale(x):
    if _leaked:
        return x * 1.2345678  # would be read from the leaked source
    raise NotImplementedError()''',
        "double_scale": "def double_scale(x):\n    _leaked.extend(_search(scale))\n    return 2.0 * scale(x)"}


@pytest.mark.parametrize("attack", [REUSE, LEAK], ids=["stand-in kept for a later test", "source searched"])
def test_reference_cannot_be_kept_or_read(attack, lab, tmp_path):
    """A submission that leaves scale unimplemented and uses the reference instead: does test_scale score 0,
    while double_scale (which used the stand-in during its own test) still passes?"""
    scores, result = grade(lab_source(attack), lab, tmp_path)
    assert scores == {"test_double_scale": 1.0, "test_combine": 1.0, "test_scale": 0.0}, result


def test_stand_in_raises_after_its_test_and_refuses_huge_arguments():
    """Called after restore (the test ended), does the stand-in raise? Are arrays far larger than the test's
    own refused before the reference runs in the grader?"""
    with installed_student(LIMITS) as (student, sandbox):
        sandbox.execute("import numpy as np\ndef twice(x):\n    return 2 * f(x)\nkeep = []\n"
                        "def grab(x):\n    keep.append(f)\n    return f(x)\n"
                        "def big(n):\n    return f(np.ones((n, n)))\n", timeout=20)
        student.use_reference("f", "def f(x):\n    return x + 1.0\n")
        assert np.allclose(student.twice(np.ones(3)), 4.0)
        assert np.allclose(student.grab(np.ones(3)), 2.0)
        with pytest.raises(ValueError, match="larger than this test's inputs allow"):
            student.big(1000)
        # A reference that fills a config dict in place: the kernel's dict is filled too.
        student.use_reference("fill", "def fill(config):\n    config.setdefault('lr', 0.1)\n"
                                      "    config['n'] = config.get('n', 0) + 1\n    return config['n']\n")
        sandbox.execute("def twice_filled():\n    cfg = {}\n    fill(cfg)\n    return fill(cfg), cfg\n", timeout=20)
        assert student.twice_filled() == (2, {"lr": 0.1, "n": 2})
        student._ag_restore()
        sandbox.execute("def reuse(x):\n    return keep[0](x)\n", timeout=20)
        with pytest.raises(Exception, match="StdinNotImplementedError|no longer available"):
            student.reuse(np.ones(3))
        student.use_reference("g", "def g(x):\n    return x\n")  # another test's grant: the old token stays dead
        with pytest.raises(RuntimeError, match="no longer available"):
            student.reuse(np.ones(3))


def test_a_reference_source_is_checked_not_run():
    """Is a source accepted when its top level defines the name (a def, an assignment, an import), refused when
    it does not, and keyed by name and source alike?"""
    key = _check_reference("f", "def f(x):\n    return x\n")
    assert len(key) == 32 and key == _check_reference("f", "def f(x):\n    return x\n")
    assert key != _check_reference("f", "def f(x):\n    return x + 0\n")
    assert _check_reference("f", "f = lambda x: x\n") and _check_reference("tanh", "from numpy import tanh\n")
    with pytest.raises(ValueError, match="does not define a function `g`"):
        _check_reference("g", "def f(x):\n    raise SystemExit  # never run here\n")
