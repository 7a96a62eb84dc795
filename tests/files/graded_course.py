"""A toy course with a recorded gradebook, for the export and report tests (no kernel runs).

Grades are written by `autograder.gradebook.record`, the function autograde uses, so the
gradebook rows and the autograded notebooks are exactly what a real run leaves.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from autograder import gradebook
from autograder.gradebook import Graded
from tests.autograder.fixtures_gradebook import LAB, TESTS, make_course, solved

# Canvas ids as collect gives them. 1004 handed in but was never graded; 1003 is not in ROSTER.
SCORES = {
    "1001": {"test_add": 2.0, "test_mul": 3.0},
    "1002": {"test_add": 0.0, "test_mul": 3.0},
    "1003": {"test_add": 0.0, "test_mul": 0.0},
    "1006": {"test_add": 0.0, "test_mul": 3.0},
}
MESSAGES = {  # failure messages that differ only in their numbers, and one that differs in words
    ("1002", "test_add"): "add(0.25, 0.5) returned 0.125: expected 0.75. <script>alert(1)</script>",
    ("1003", "test_add"): "add(1.5, 2) returned 3.0: expected 3.5. <script>alert(1)</script>",
    ("1006", "test_add"): "add(1.5, 2) returned 3.0: expected 3.5. <script>alert(1)</script>",
    ("1003", "test_mul"): "NameError: name 'mul' is not defined",
}
SECONDS = {"1001": 4.0, "1002": 6.0, "1003": 5.0, "1006": 7.0}


def result(student: str) -> dict:
    tests = [{"grade_id": g, "score": s, "max_score": TESTS[g], "passed": s == TESTS[g],
              "message": MESSAGES.get((student, g), "")} for g, s in SCORES[student].items()]
    errors = ["cell 3 raised NameError: name 'np' is not defined"] if student == "1003" else []
    return {"lab": LAB, "score": sum(SCORES[student].values()), "max_score": sum(TESTS.values()),
            "tests": tests, "errors": errors}


def build(root: Path) -> Path:
    """The course at `root`: 1001, 1002, 1003 and 1006 graded (the answer cell `explain` scores nbgrader's
    determine_grade), 1004 submitted and not graded."""
    make_course(root, {student: solved() for student in [*SCORES, "1004"]})
    course = gradebook.load_course(root, LAB)
    release = gradebook.release_notebook(course, LAB)
    gradebook.ensure_assignment(course, LAB, release)
    for student in SCORES:
        sha = hashlib.sha256(course.submitted(student, LAB).read_bytes()).hexdigest()
        gradebook.record(course, LAB, Graded(student, result(student), sha, seconds=SECONDS[student]), release)
    return root
