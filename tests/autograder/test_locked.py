"""Locked cells run from the source: a submission that edits, deletes, hides or shadows a given helper gains nothing.

The lab here is the fixture lab with one more locked, ungraded cell: a given helper
``predictions(p, X)`` that the hidden test of the Perceptron calls (as Lab 02's
``get_parameters`` or Lab 03's ``run_gradient_descent_on`` are). Every submission
leaves ``Perceptron.predict`` unimplemented and fakes the helper instead; each must
score 0 on that cell, and the result must name the edited cell.
"""
from __future__ import annotations

import nbformat
import pytest

from autograder.grading import grade_notebook
from autograder.sandbox import Limits
from tests.files.cells import nbgrader_cell
from tests.files.fixture_lab import LAB, TEST_PERCEPTRON, grade_submission, source_notebook, with_solution, write_source

LIMITS = Limits(cell_timeout_s=20, call_timeout_s=10, test_timeout_s=30, notebook_timeout_s=60, memory_mb=1024,
                processes=64, interrupt_grace_s=1, max_restarts=1)
HELPER = "def predictions(p, X):\n    \"\"\"Given: the perceptron's labels for X.\"\"\"\n    return p.predict(X)"
FAKE = "def predictions(p, X):\n    return (X @ p.w + p.b > 0).astype(int)   # the answer, computed here"


def lab_source():
    nb = source_notebook()
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_perceptron")
    test.source = TEST_PERCEPTRON.replace("check_close(p.predict(X),", "check_close(student.predictions(p, X),")
    assert "student.predictions" in test.source
    nb.cells.insert(4, nbgrader_cell(HELPER, "given_helper", locked=True))
    return nb


def helper_cell(nb):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "given_helper")


def unsolved():
    return with_solution(lab_source(), "perceptron", "raise NotImplementedError()")


def edited(nb):
    helper_cell(nb).source = FAKE
    return nb


def deleted_and_redefined(nb):
    nb.cells.remove(helper_cell(nb))
    nb.cells.append(nbformat.v4.new_code_cell(FAKE))
    return nb


def metadata_stripped(nb):
    cell = helper_cell(nb)
    cell.source = FAKE
    del cell.metadata["nbgrader"]
    return nb


def turned_into_markdown(nb):
    cell = helper_cell(nb)
    index = nb.cells.index(cell)
    md = nbformat.v4.new_markdown_cell("gone")
    md.metadata["nbgrader"] = dict(cell.metadata["nbgrader"])
    nb.cells[index] = md
    nb.cells.append(nbformat.v4.new_code_cell(FAKE))
    return nb


def shadowed_later(nb):
    nb.cells.append(nbformat.v4.new_code_cell(FAKE))
    return nb


def unlocked(nb):
    cell = helper_cell(nb)
    cell.source = FAKE
    cell.metadata["nbgrader"]["locked"] = False
    return nb


# name: (attack, whether the result must name given_helper as edited)
ATTACKS = {"edited": (edited, True), "deleted and redefined": (deleted_and_redefined, True),
           "metadata stripped": (metadata_stripped, True), "turned into markdown": (turned_into_markdown, True),
           "shadowed by a later cell": (shadowed_later, False), "unlocked and edited": (unlocked, True)}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    return write_source(tmp_path_factory.mktemp("course"), LAB, lab_source())


def grade(nb, lab, tmp_path):
    return grade_submission(nb, LAB, lab, tmp_path, LIMITS)


def test_the_lab_grades_honestly(lab, tmp_path):
    """Does the solution score full marks and the unsolved Perceptron 0 on its cell, with no locked cell edited?"""
    result = grade(lab_source(), lab, tmp_path)
    assert result["score"] == 5.0 and result["locked_cells_edited"] == [], result
    result = grade(unsolved(), lab, tmp_path)
    assert {t["grade_id"]: t["score"] for t in result["tests"]} == {"test_sigmoid": 2.0, "test_perceptron": 0.0}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_faked_helper_gains_nothing(name, lab, tmp_path):
    """Is a submission that fakes the given helper instead of implementing predict graded 0 on that cell,
    with the edit named in the result and in its errors (which the feedback shows)?"""
    attack, named = ATTACKS[name]
    result = grade(attack(unsolved()), lab, tmp_path)
    scores = {t["grade_id"]: t["score"] for t in result["tests"]}
    assert scores == {"test_sigmoid": 2.0, "test_perceptron": 0.0}, result
    if named:
        assert result["locked_cells_edited"] == ["given_helper"], result
        assert any("given_helper" in e and "release's version" in e for e in result["errors"]), result["errors"]


def test_edited_setup_cell_runs_from_the_release(lab, tmp_path):
    """A setup cell edited to patch numpy is replaced by the release's setup: the edit has no effect."""
    nb = lab_source()
    setup = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    setup.source += "\nraise RuntimeError('edited setup ran')"
    result = grade(nb, lab, tmp_path)
    assert result["score"] == 5.0 and result["locked_cells_edited"] == ["setup"], result
    assert not any("edited setup ran" in e for e in result["errors"]), result["errors"]


FORWARD_DIFFERENCES = '''\
grad = np.zeros(np.shape(w), dtype=np.float64)
f0 = f(w)
for i in np.ndindex(grad.shape):
    old = w[i]
    w[i] = old + h
    grad[i] = (f(w) - f0) / h   # forward differences: not what the exercise asks
    w[i] = old
return grad'''
CENTRED_IN_THE_HELPER = '''\
def check_numerical_gradient_on(name, w, h=1e-5):
    functions = {"sum_of_cubes": lambda v: float(np.sum(v ** 3)), "sin_sum": lambda v: float(np.sum(np.sin(v))),
                 "log_sum_exp": lambda v: float(np.log(np.sum(np.exp(v))))}
    f, grad = functions[name], np.zeros(np.shape(w))
    for i in np.ndindex(grad.shape):
        e = np.zeros(np.shape(w))
        e[i] = h
        grad[i] = (f(w + e) - f(w - e)) / (2 * h)
    return grad, w
'''


def test_lab03_edited_gradient_check_helper_gains_nothing(tmp_path):
    """Lab 03 with forward differences in numerical_gradient and the given helper edited to compute the
    centred differences itself: does test_gradient_check score 0, the others full, and the edit show?"""
    from tests.conftest import ROOT

    source = ROOT / "solutions" / "03_backprop" / "03_backprop.ipynb"
    nb = nbformat.read(source, as_version=4)
    import re

    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id == "gradcheck-helper":
            cell.source = CENTRED_IN_THE_HELPER
        if grade_id == "gradient_check":
            start = cell.source.index("def numerical_gradient")
            end = cell.source.index("def relative_error")
            region = re.sub(r"### BEGIN SOLUTION\n.*?### END SOLUTION",
                            lambda m: "### BEGIN SOLUTION\n" + "\n".join("    " + line for line in
                                                                         FORWARD_DIFFERENCES.splitlines())
                            + "\n    ### END SOLUTION", cell.source[start:end], flags=re.S)
            cell.source = cell.source[:start] + region + cell.source[end:]
    path = tmp_path / "03_backprop.ipynb"
    nbformat.write(nb, path)
    result = grade_notebook("03_backprop", path, seed=0)
    scores = {t["grade_id"]: t["score"] for t in result["tests"]}
    assert scores.pop("test_gradient_check") == 0.0, result
    assert all(t["score"] == t["max_score"] for t in result["tests"] if t["grade_id"] in scores), result
    assert result["locked_cells_edited"] == ["gradcheck-helper"], result
