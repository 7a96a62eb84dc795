"""autograder.cells: the one reader of a cell's nbgrader metadata and the predicates on it."""
from __future__ import annotations

import pytest

from autograder import cells
from tests.autograder.fixtures_gradebook import TESTS, toy_source


def cell(cell_type="code", **nbgrader):
    return {"cell_type": cell_type, "metadata": {"nbgrader": nbgrader}, "source": ""}


@pytest.mark.parametrize("value", [None, "text", 3, [], {"metadata": None}, {"metadata": {"nbgrader": "x"}},
                                   {"metadata": []}, {"source": "x = 1"}])
def test_anything_that_is_not_nbgrader_metadata_reads_as_none(value):
    """Does a cell, metadata or nbgrader entry that is not a dict read as a cell without nbgrader metadata?"""
    assert cells.nbgrader(value) == {}
    assert cells.grade_id(value) is None
    assert not (cells.is_grade_cell(value) or cells.is_solution_cell(value) or cells.is_locked(value)
                or cells.is_task(value) or cells.is_test_cell(value) or cells.is_submission_test_cell(value))


def test_roles_follow_nbgrader_flags():
    """Are the flags read as nbgrader reads them (true in Python's sense) and a test cell a grade cell not an answer?"""
    test = cell(grade=True, solution=False, locked=True, grade_id="test_a", points=2)
    answer = cell(grade=1, solution=True, grade_id="explain", points=1)
    assert cells.is_test_cell(test) and cells.is_locked(test) and not cells.is_solution_cell(test)
    assert cells.is_grade_cell(answer) and cells.is_solution_cell(answer) and not cells.is_test_cell(answer)
    assert cells.is_task(cell(task=True)) and not cells.is_task(cell(task=False))
    assert (cells.points(test), cells.points(cell(grade=True)), cells.grade_id(cell(grade_id=7))) == (2.0, 0.0, None)


def test_a_submission_test_cell_needs_json_true_or_a_test_name():
    """Does a submission's cell count as a test cell only with grade exactly true (not an answer), or a test_ name?"""
    assert cells.is_submission_test_cell(cell(grade=True))
    assert not cells.is_submission_test_cell(cell(grade=1))
    assert not cells.is_submission_test_cell(cell(grade=True, solution=True))
    assert cells.is_submission_test_cell(cell(grade_id="test_anything"))
    assert not cells.is_submission_test_cell(cell(grade_id="answer"))


def test_grade_ids_and_points_of_a_notebook():
    """Are the toy lab's test cells, grade cells and grade_ids read with their points?"""
    nb = toy_source()
    assert cells.graded_tests(nb.cells) == TESTS
    assert cells.graded_cells(nb.cells) == {**TESTS, "explain": 1.0}
    assert cells.grade_ids([*nb.cells, "junk", cell(grade_id=3)]) == {"intro", "add", "test_add", "mul", "test_mul",
                                                                      "explain"}
    assert cells.graded_tests([cell(grade=True, grade_id="", points=1)]) == {}
