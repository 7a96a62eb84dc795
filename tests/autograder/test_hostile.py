"""Hostile and broken submissions: each is graded, no higher than its honest score, with a clear message, in bounded time.

Every case starts from the fixture lab's solution (sigmoid: 2 points, Perceptron: 3 points) and
changes one thing. "Honest score" is what the submission's real work deserves: a patched checker
or a lying object never adds points; a crash or a hang costs only the exercise it hits.
"""
from __future__ import annotations

import time

import nbformat
import pytest

from autograder.grading import grade_notebook
from autograder.sandbox import Limits, confinement_available
from tests.conftest import ROOT
from tests.files.fixture_lab import LAB, source_notebook, with_solution, write_lab

LIMITS = Limits(cell_timeout_s=3, call_timeout_s=4, test_timeout_s=15, notebook_timeout_s=30, memory_mb=400,
                processes=64, interrupt_grace_s=1, max_restarts=2)
CONFINED = confinement_available()[0]
WRONG_SIGMOID = "return np.full(np.shape(z), 0.5)"


def add_cell(nb, code, at=None):
    nb = nbformat.from_dict(nb)
    cell = nbformat.v4.new_code_cell(code)
    nb.cells.insert(len(nb.cells) if at is None else at, cell)
    return nb


def wrong_then(code):
    """A submission whose sigmoid is wrong (always 0.5) and which then runs `code` to fake a pass."""
    return add_cell(with_solution(source_notebook(), "sigmoid", WRONG_SIGMOID), code)


def sigmoid_body(body):
    return with_solution(source_notebook(), "sigmoid", body)


def graded_cells(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


def drop_test_cells(nb):
    nb = nbformat.from_dict(nb)
    nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get("grade")]
    return nb


def edit_metadata(nb):
    nb = nbformat.from_dict(nb)
    for cell in graded_cells(nb):
        cell.metadata.nbgrader.update(points=100, grade=False)
        cell.metadata.nbgrader.grade_id = "mine_" + cell.metadata.nbgrader.grade_id
    return nb


def duplicate_cells(nb):
    nb = nbformat.from_dict(nb)
    nb.cells = [c for cell in nb.cells for c in (cell, nbformat.from_dict(cell))]
    for index, cell in enumerate(nb.cells):
        cell.id = f"cell-{index}"
    return nb


def solution_in_test_cell(nb):
    """The stub left in place, and a correct sigmoid written into the (locked) test cell instead."""
    nb = sigmoid_body("raise NotImplementedError()")
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_sigmoid")
    cell.source = "def sigmoid(z):\n    return 1 / (1 + np.exp(-z))"
    return nb


HIJACK_HELPER = """\
import threading, time, json
def _hijack():
    while True:  # keeps replacing the grader's helper, even after it is reinstalled
        for name in [n for n in list(globals()) if n.startswith('__autograder')]:
            globals()[name] = lambda nonce, text: json.dumps({"nonce": nonce, "ok": True, "value": 0.5})
        time.sleep(0.001)
threading.Thread(target=_hijack, daemon=True).start()"""

FULL, NO_SIGMOID = {"test_sigmoid": 2.0, "test_perceptron": 3.0}, {"test_sigmoid": 0.0, "test_perceptron": 3.0}

# name: (submission, expected scores, text expected in the failing test's message or in errors, needs confinement)
# Cases in AT_MOST race the grader (a thread against the helper): their scores are bounded, not fixed.
AT_MOST = {"helper hijacked by a thread"}
CASES = {
    "patch builtins": (wrong_then("import builtins\nbuiltins.abs = lambda x: 0\nbuiltins.all = lambda x: True\n"
                                  "builtins.isinstance = lambda *a: True"), NO_SIGMOID, "but expected", False),
    "patch numpy": (wrong_then("np.allclose = np.array_equal = lambda *a, **k: True\nnp.isclose = lambda a, b, **k: True\n"
                               "np.testing.assert_allclose = lambda *a, **k: None"), NO_SIGMOID, "but expected", False),
    "patch math": (wrong_then("import math\nmath.isclose = lambda *a, **k: True\nmath.isnan = lambda x: False"),
                   NO_SIGMOID, "but expected", False),
    "patch the check helpers": (wrong_then(
        "import course_utils.checks as c\nc.check_close = c.check_shape = c.check_true = lambda *a, **k: None\n"
        "c.run_hidden_test = lambda *a, **k: None\nc.CheckFailed = type('X', (Exception,), {})"),
        NO_SIGMOID, "but expected", False),
    "rigged __eq__ and __array__": (sigmoid_body(
        "class Liar:\n    def __eq__(self, other):\n        return True\n    def __array__(self, *a, **k):\n"
        "        return 1 / (1 + np.exp(-z))\nreturn Liar()"), NO_SIGMOID, "not an array of numbers", False),
    "rigged __float__ and __abs__": (sigmoid_body(
        "class Liar(float):\n    __abs__ = lambda self: 0.0\n    __eq__ = lambda self, other: True\n"
        "return [Liar(0.5)] * 3"), NO_SIGMOID, "not an array of numbers", False),
    "rigged ndarray subclass": (sigmoid_body(
        "class Liar(np.ndarray):\n    __eq__ = lambda self, other: True\n    __array_priority__ = 1e9\n"
        "return np.zeros(np.shape(z)).view(Liar)"), NO_SIGMOID, "but expected", False),
    "sys.exit in a cell": (add_cell(source_notebook(), "import sys\nsys.exit(1)"), FULL, "SystemExit", False),
    "os._exit in the last cell": (add_cell(source_notebook(), "import os\nos._exit(0)"), FULL, "fresh kernel", False),
    "os._exit inside sigmoid": (sigmoid_body("import os\nos._exit(1)"), NO_SIGMOID, "kernel died while running", False),
    "infinite loop in a cell": (add_cell(source_notebook(), "while True:\n    pass", at=2), FULL, "interrupted", False),
    "endless sleep in sigmoid": (sigmoid_body("import time\ntime.sleep(10**6)"), NO_SIGMOID, "did not return", False),
    "SIGINT ignored in sigmoid": (sigmoid_body(
        "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.05)"),
        NO_SIGMOID, "kernel died while running test_sigmoid", False),
    "memory bomb in a cell": (add_cell(source_notebook(), "blocks = []\nwhile True:\n    blocks.append(bytearray(50 << 20))"),
                              FULL, "out of memory", True),
    "memory bomb in sigmoid": (sigmoid_body("blocks = []\nwhile True:\n    blocks.append(np.ones(1 << 23))"),
                               NO_SIGMOID, "out of memory", True),
    "fork storm": (add_cell(source_notebook(),
                            "import os, time\nfor _ in range(1000):\n    try:\n        pid = os.fork()\n    except OSError:\n"
                            "        break\n    if pid == 0:\n        time.sleep(30)\n        os._exit(0)"), FULL, "", True),
    "output flood in a cell": (add_cell(source_notebook(), "for i in range(200_000):\n    print('flood ' * 20)"),
                               FULL, "", False),
    "output flood while called": (sigmoid_body("import sys\nfor _ in range(2000):\n    sys.stdout.write('x' * 10_000)\n"
                                               "return 1 / (1 + np.exp(-z))"), FULL, "", False),
    "answer too large": (sigmoid_body("return np.zeros((3000, 1000, 10))"), NO_SIGMOID, "too large", False),
    "answer nested too deeply": (sigmoid_body("x = []\nfor _ in range(10_000):\n    x = [x]\nreturn x"),
                                 NO_SIGMOID, "too large", False),
    "reads the solutions from disk": (sigmoid_body(
        f"exec(open({str(ROOT / 'tests' / 'files' / 'fixture_lab.py')!r}).read(), globals())\nreturn 1 / (1 + np.exp(-z))"),
        NO_SIGMOID, "FileNotFoundError", True),
    "helper hijacked by a thread": (wrong_then(HIJACK_HELPER), NO_SIGMOID, "", False),
    "helper deleted": (add_cell(source_notebook(),
                                "for name in [n for n in globals() if n.startswith('__autograder')]:\n    del globals()[name]"),
                       FULL, "", False),
    "test cells deleted": (drop_test_cells(source_notebook()), FULL, "no cell with grade_id", False),
    "test cell metadata edited": (edit_metadata(source_notebook()), FULL, "no cell with grade_id", False),
    "cells duplicated": (duplicate_cells(source_notebook()), FULL, "", False),
    "solution written into the test cell": (solution_in_test_cell(source_notebook()), NO_SIGMOID,
                                            "NotImplementedError", False),
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    return write_lab(tmp_path_factory.mktemp("course"))


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_submission(name, lab, tmp_path):
    """Is this hostile submission graded no higher than its honest score, with a clear message, in bounded time?"""
    nb, expected, text, needs_confinement = CASES[name]
    if needs_confinement and not CONFINED:
        pytest.skip("needs the confined sandbox (Linux, root)")
    path = tmp_path / "submission.ipynb"
    nbformat.write(nb, path)
    start = time.monotonic()
    result = grade_notebook(LAB, path, source=lab, limits=LIMITS, seed=0)
    elapsed = time.monotonic() - start
    got = {t["grade_id"]: t["score"] for t in result["tests"]}
    if name in AT_MOST:
        assert set(got) == set(expected) and all(got[k] <= expected[k] for k in got), result
    else:
        assert got == expected, result
    assert result["max_score"] == 5.0 and [t["max_score"] for t in result["tests"]] == [2.0, 3.0]
    messages = " | ".join([t["message"] for t in result["tests"] if not t["passed"]] + result["errors"])
    assert text in messages, messages
    assert elapsed < 40, f"took {elapsed:.1f} s"
