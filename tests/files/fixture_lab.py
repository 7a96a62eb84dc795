"""A two-exercise lab in the course's form, small enough to grade in a second (no TensorFlow, no torch).

`source_notebook()` is the instructor notebook (solutions + hidden tests);
`release(nb)` stubs it like ``make release``; `with_solution(nb, grade_id, body)`
swaps one solution region for another implementation.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

from tests.files.cells import nbgrader_cell

LAB = "99_fixture"
STUB = "# TODO: replace this line with your code\nraise NotImplementedError()"

SETUP = """\
import numpy as np
from course_utils.checks import check_close, check_shape, passed"""

SIGMOID = '''\
def sigmoid(z):
    """Logistic function, elementwise. z: (N, D) array -> (N, D) array."""
    ### BEGIN SOLUTION
    return 1 / (1 + np.exp(-z))
    ### END SOLUTION'''

TEST_SIGMOID = '''\
check_close(sigmoid(np.array([0.0])), [0.5], call="sigmoid(np.array([0.0]))")
passed("sigmoid(0) is 0.5")
### BEGIN HIDDEN TESTS
def hidden_test_sigmoid(student, rng):
    """Random inputs, compared with the formula."""
    import numpy as np
    from course_utils.checks import check_close
    z = rng.normal(size=(3, 4))
    check_close(student.sigmoid(z), 1 / (1 + np.exp(-z)), call="sigmoid(z) on a (3, 4) array", rtol=1e-6)

def hidden_test_sigmoid_shape(student, rng):
    """The output keeps the input's shape."""
    from course_utils.checks import check_shape
    z = rng.normal(size=(5,))
    check_shape(student.sigmoid(z), (5,), call="sigmoid(z) on a (5,) array")

from course_utils.checks import run_hidden_test
run_hidden_test(hidden_test_sigmoid)
run_hidden_test(hidden_test_sigmoid_shape)
### END HIDDEN TESTS'''

PERCEPTRON = '''\
class Perceptron:
    """A perceptron with weights w (D,) and bias b; predict(X) -> (N,) array of 0/1."""

    def __init__(self, w, b):
        self.w = np.asarray(w, dtype=float)
        self.b = float(b)

    def predict(self, X):
        ### BEGIN SOLUTION
        return (X @ self.w + self.b > 0).astype(int)
        ### END SOLUTION'''

TEST_PERCEPTRON = '''\
p = Perceptron([1.0, -1.0], 0.5)
check_close(p.predict(np.array([[0.0, 0.0], [0.0, 2.0]])), [1, 0], call="Perceptron([1, -1], 0.5).predict(X)")
passed("Perceptron.predict")
### BEGIN HIDDEN TESTS
def hidden_test_perceptron(student, rng):
    """Random weights and points: predictions match the threshold rule."""
    import numpy as np
    from course_utils.checks import check_close
    w, b = rng.normal(size=3), float(rng.normal())
    X = rng.normal(size=(20, 3))
    p = student.Perceptron(w, b)
    check_close(p.w, w, call="Perceptron(w, b).w")
    check_close(p.predict(X), (X @ w + b > 0).astype(int), call="Perceptron(w, b).predict(X)")

from course_utils.checks import run_hidden_test
run_hidden_test(hidden_test_perceptron)
### END HIDDEN TESTS'''


def source_notebook():
    """The instructor notebook of the fixture lab."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Fixture lab\nTwo exercises."),
        nbgrader_cell(SETUP, "setup", locked=True),
        nbgrader_cell(SIGMOID, "sigmoid", solution=True),
        nbgrader_cell(TEST_SIGMOID, "test_sigmoid", grade=True, locked=True, points=2),
        nbgrader_cell(PERCEPTRON, "perceptron", solution=True),
        nbgrader_cell(TEST_PERCEPTRON, "test_perceptron", grade=True, locked=True, points=3),
        nbgrader_cell("print('the end')"),
    ]
    return nb


_SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION[ \t]*$", re.S | re.M)
_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS\n.*?^[ \t]*### END HIDDEN TESTS[ \t]*\n?", re.S | re.M)


def with_solution(nb, grade_id: str, body: str):
    """A copy of `nb` whose solution region in cell `grade_id` is replaced by `body` (indented like the region)."""
    nb = nbformat.from_dict(nb)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    match = _SOLUTION.search(cell.source)
    indented = "\n".join(match.group(1) + line for line in body.splitlines())
    cell.source = cell.source[: match.start()] + indented + cell.source[match.end():]
    return nb


def release(nb):
    """The student version: every solution region stubbed, hidden tests removed."""
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = _SOLUTION.sub(lambda m: "\n".join(m.group(1) + line for line in STUB.splitlines()), cell.source)
            cell.source = _HIDDEN.sub("", cell.source).rstrip()
    return nb


def write_lab(root):
    """Write the fixture lab as <root>/solutions/99_fixture/99_fixture.ipynb; return that path."""
    return write_source(root, LAB, source_notebook())


def write_source(root: Path, lab: str, nb) -> Path:
    """Write `nb` as the source notebook of `lab`, <root>/solutions/<lab>/<lab>.ipynb; return that path."""
    path = root / "solutions" / lab / f"{lab}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def grade_submission(nb, lab: str, source: Path, tmp_path: Path, limits, seed: int = 0) -> dict:
    """Write `nb` as <tmp_path>/submission.ipynb and grade it as `lab` against the source notebook `source`
    (`autograder.grading.grade_notebook` with `limits` and `seed`); return the result."""
    from autograder.grading import grade_notebook  # here: most users of the fixture lab grade nothing

    path = tmp_path / "submission.ipynb"
    nbformat.write(nb, path)
    return grade_notebook(lab, path, source=source, limits=limits, seed=seed)
