"""The toy course of the gradebook tests, and the recorded course of the export and report tests.

Fixtures are imported by the test modules that use them (not a conftest.py): `template` and `course` are the
toy course (its lab recorded in the gradebook, no grades) with its release notebook; `recorded_template` and
`recorded_course` register as `template` and `course` too, for the course of tests/files/graded_course.py whose
grades are recorded.
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder import gradebook
from autograder.gradebook import Graded
from tests.conftest import ROOT

LAB = "toy"
HIDDEN = "SECRET_HIDDEN_CHECK_7391"  # appears only inside the hidden-test regions of the source
TESTS = {"test_add": 2.0, "test_mul": 3.0}


def _meta(grade_id, *, grade=False, solution=False, locked=False, points=0):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def toy_source() -> nbformat.NotebookNode:
    """A two-exercise lab in nbgrader's source format, with hidden tests and one manually graded answer."""
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = [
        new_markdown_cell("# Toy lab", metadata=_meta("intro", locked=True)),
        new_code_cell("def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
                      metadata=_meta("add", solution=True)),
        new_code_cell(f"assert add(1, 2) == 3\n### BEGIN HIDDEN TESTS\nassert add({HIDDEN}, 0) == 1\n### END HIDDEN TESTS",
                      metadata=_meta("test_add", grade=True, locked=True, points=2)),
        new_code_cell("def mul(a, b):\n    ### BEGIN SOLUTION\n    return a * b\n    ### END SOLUTION",
                      metadata=_meta("mul", solution=True)),
        new_code_cell(f"assert mul(2, 3) == 6\n### BEGIN HIDDEN TESTS\nassert mul({HIDDEN}, 1) == 1\n### END HIDDEN TESTS",
                      metadata=_meta("test_mul", grade=True, locked=True, points=3)),
        new_markdown_cell("Why?\n\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION",
                          metadata=_meta("explain", grade=True, solution=True, points=1)),
    ]
    return nb


def solved(marker: str = "") -> nbformat.NotebookNode:
    """The solution as a student would submit it, with `marker` appended to the add cell (read by fake graders)."""
    nb = toy_source()
    for cell in nb.cells:  # a real submission carries the released test cells, not the hidden ones
        if "BEGIN HIDDEN TESTS" in cell.source:
            cell.source = cell.source.split("\n### BEGIN HIDDEN TESTS")[0]
    nb.cells[1].source += f"\n# {marker}" if marker else ""
    return nb


def make_course(root: Path, submissions: dict[str, nbformat.NotebookNode | str]) -> Path:
    """A course directory with this repository's nbgrader config, the toy lab and the given submissions."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    (root / "solutions" / LAB).mkdir(parents=True)
    nbformat.write(toy_source(), root / "solutions" / LAB / f"{LAB}.ipynb")
    for student, nb in submissions.items():
        folder = root / "submitted" / student / LAB
        folder.mkdir(parents=True)
        path = folder / f"{LAB}.ipynb"
        path.write_text(nb) if isinstance(nb, str) else nbformat.write(nb, path)
    return root


def result(scores: dict[str, float], errors=()) -> dict:
    """A grade result as autograder.grading returns it."""
    tests = [{"grade_id": g, "score": s, "max_score": TESTS[g], "passed": s == TESTS[g],
              "message": "" if s == TESTS[g] else f"{g}: expected 3, got <b>4</b>"} for g, s in scores.items()]
    return {"lab": LAB, "score": sum(scores.values()), "max_score": sum(TESTS.values()), "tests": tests,
            "errors": list(errors)}


def graded(course, student: str, scores: dict[str, float], **kwargs) -> Graded:
    sha = hashlib.sha256(course.submitted(student, LAB).read_bytes()).hexdigest()
    return Graded(student, result(scores), sha, **kwargs)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A toy course with three submissions, the lab recorded in its gradebook (built once, copied per test)."""
    root = make_course(tmp_path_factory.mktemp("template") / "course",
                       {"alice": solved(), "bob": solved(), "carol": "{not json"})
    course = gradebook.load_course(root, LAB)
    gradebook.ensure_assignment(course, LAB, gradebook.release_notebook(course, LAB))
    return root


@pytest.fixture
def course(template, tmp_path):
    """A fresh copy of the template course and its release notebook."""
    root = shutil.copytree(template, tmp_path / "course")
    course = gradebook.load_course(root, LAB)
    return course, gradebook.release_notebook(course, LAB)


def row_counts(course) -> dict[str, int]:
    import sqlite3

    db = sqlite3.connect(course.root / "gradebook.db")
    try:
        return {t: db.execute(f"select count(*) from {t}").fetchone()[0]
                for t in ("student", "submitted_assignment", "submitted_notebook", "grade", "comment")}
    finally:
        db.close()


@pytest.fixture(name="template", scope="module")
def recorded_template(tmp_path_factory) -> Path:
    """The course of tests/files/graded_course.py, grades recorded (built once per test module, copied per test)."""
    from tests.files import graded_course

    return graded_course.build(tmp_path_factory.mktemp("recorded") / "course")


@pytest.fixture(name="course")
def recorded_course(template, tmp_path) -> Path:
    """A fresh copy of the recorded course."""
    return shutil.copytree(template, tmp_path / "course")
