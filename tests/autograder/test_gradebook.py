"""autograder.gradebook: the gradebook rows that nbgrader's feedback and export read."""
from __future__ import annotations

import csv
import subprocess
import sys

import nbformat
import pytest

from autograder import gradebook
from autograder.gradebook import CourseError
# the toy course; other test modules import its names from here too
from tests.autograder.fixtures_gradebook import (HIDDEN, LAB, TESTS, course, graded, make_course,  # noqa: F401
                                                 row_counts, solved, template, toy_source)


def test_release_notebook_hides_hidden_tests_and_solutions(course):
    """Does the release view of the source keep the public checks but drop the hidden tests and the solutions?"""
    _, release = course
    text = nbformat.writes(release)
    assert "assert add(1, 2) == 3" in text
    assert HIDDEN not in text and "return a + b" not in text
    assert gradebook.graded_tests(release) == TESTS


def test_ensure_assignment_records_cells_like_generate_assignment(course):
    """Does the gradebook learn the lab's graded cells, with their points, from nbgrader's generate_assignment?"""
    course, _ = course
    with course.gradebook() as gb:
        notebook = gb.find_notebook(LAB, LAB)
        assert {c.name: c.max_score for c in notebook.grade_cells} == {**TESTS, "explain": 1.0}
        assert {c.name for c in notebook.solution_cells} == {"add", "mul", "explain"}
    assert not (course.root / "release").exists(), "generate_assignment's release/ output must stay in a scratch folder"


def test_stale_gradebook_is_refused_with_the_fix(course):
    """When the source's points change after the gradebook recorded them, does ensure_assignment stop and say how to fix it?"""
    course, _ = course
    nb = toy_source()
    nb.cells[4].metadata.nbgrader.points = 4
    nbformat.write(nb, course.source(LAB))
    with pytest.raises(CourseError, match="nbgrader generate_assignment toy --force"):
        gradebook.ensure_assignment(course, LAB, gradebook.release_notebook(course, LAB))


def test_record_writes_scores_like_nbgrader(course):
    """Does one record give each test cell its auto_score, leave the written answer to a human, and comment on it?"""
    course, release = course
    gradebook.record(course, LAB, graded(course, "alice", {"test_add": 2.0, "test_mul": 0.0}), release)
    with course.gradebook() as gb:
        nb = gb.find_submission_notebook(LAB, LAB, "alice")
        grades = {g.name: g for g in nb.grades}
        assert (grades["test_add"].auto_score, grades["test_mul"].auto_score) == (2.0, 0.0)
        assert not grades["test_add"].needs_manual_grade
        assert grades["explain"].auto_score is None and grades["explain"].needs_manual_grade
        assert {c.name: c.auto_comment for c in nb.comments} == {"add": None, "mul": None, "explain": None}
        assert gb.find_submission(LAB, "alice").score == 2.0


def test_untouched_answers_get_no_response_comment(course):
    """Is an answer cell left as released commented 'No response.' and its manual grade set to 0, as nbgrader does?"""
    course, release = course
    folder = course.root / "submitted" / "dan" / LAB
    folder.mkdir(parents=True)
    nbformat.write(release, folder / f"{LAB}.ipynb")
    gradebook.record(course, LAB, graded(course, "dan", {"test_add": 0.0, "test_mul": 0.0}), release)
    with course.gradebook() as gb:
        nb = gb.find_submission_notebook(LAB, LAB, "dan")
        assert {c.name: c.auto_comment for c in nb.comments} == dict.fromkeys(["add", "mul", "explain"], "No response.")
        assert {g.name: g.auto_score for g in nb.grades}["explain"] == 0


def test_regrading_updates_rows_in_place(course):
    """Does recording the same student twice keep one row per cell, with the newer scores?"""
    course, release = course
    gradebook.record(course, LAB, graded(course, "alice", {"test_add": 0.0, "test_mul": 0.0}), release)
    before = row_counts(course)
    gradebook.record(course, LAB, graded(course, "alice", {"test_add": 2.0, "test_mul": 3.0}), release)
    assert row_counts(course) == before == {"student": 1, "submitted_assignment": 1, "submitted_notebook": 1,
                                            "grade": 3, "comment": 3}
    assert gradebook.scores(course, LAB, ["alice"]) == {"alice": (5.0, 6.0)}


def test_crash_between_commit_and_notebook_is_regraded(course):
    """If the process dies after the gradebook commit but before the autograded notebook, is the student graded again, once?"""
    course, release = course
    first = graded(course, "alice", {"test_add": 2.0, "test_mul": 3.0})
    with course.gradebook() as gb:
        gradebook._commit(gb, LAB, first, gradebook.autograded_notebook(release, None, first))
    assert gradebook.completed(course, LAB, TESTS, ["alice"]) == set()
    gradebook.record(course, LAB, first, release)
    assert gradebook.completed(course, LAB, TESTS, ["alice"]) == {"alice"}
    assert row_counts(course)["grade"] == 3


def test_resubmission_is_not_complete(course):
    """Does a submission changed after it was graded count as not graded (its sha256 no longer matches)?"""
    course, release = course
    gradebook.record(course, LAB, graded(course, "bob", {"test_add": 2.0, "test_mul": 3.0}), release)
    assert gradebook.completed(course, LAB, TESTS, ["alice", "bob"]) == {"bob"}
    nbformat.write(solved("resubmitted"), course.submitted("bob", LAB))
    assert gradebook.completed(course, LAB, TESTS, ["bob"]) == set()


def test_feedback_and_export_work_unchanged(course, child_env):
    """Do stock `nbgrader generate_feedback` and `nbgrader export` run on our records, without the hidden tests?"""
    course, release = course
    gradebook.record(course, LAB, graded(course, "alice", {"test_add": 2.0, "test_mul": 3.0}), release)
    gradebook.record(course, LAB, graded(course, "bob", {"test_add": 0.0, "test_mul": 3.0}), release)
    for args in (["generate_feedback", LAB], ["export"]):
        done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course.root, env=child_env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    for student in ("alice", "bob"):
        html = (course.root / "feedback" / student / LAB / f"{LAB}.html").read_text()
        assert HIDDEN not in html and "[autograder] PASSED test_mul" in html
    assert "FAILED test_add" in html and "&lt;b&gt;4&lt;/b&gt;" in html
    with open(course.root / "grades.csv") as f:
        rows = {r["student_id"]: (float(r["score"]), float(r["max_score"])) for r in csv.DictReader(f)}
    assert rows == {"alice": (5.0, 6.0), "bob": (3.0, 6.0)}


def test_course_without_config_finds_the_solutions_folder(tmp_path):
    """Without nbgrader_config.py, does the course still find solutions/<lab>/<lab>.ipynb?"""
    root = make_course(tmp_path / "course", {})
    (root / "nbgrader_config.py").unlink()
    course = gradebook.load_course(root, LAB)
    assert course.source(LAB) == root / "solutions" / LAB / f"{LAB}.ipynb"
    assert course.students(LAB) == []


def test_missing_course_directory_is_a_clear_error(tmp_path):
    """Does a wrong --course-dir say so and how to fix it?"""
    with pytest.raises(CourseError, match="--course-dir"):
        gradebook.load_course(tmp_path / "nowhere", LAB)


def test_late_submission_gets_nbgrader_penalty(course):
    """Is a submission stamped after the due date given the penalty of the course's LateSubmissionPlugin, as nbgrader does?"""
    course, _ = course
    with open(course.root / "nbgrader_config.py", "a") as f:
        f.write('\nc.LateSubmissionPlugin.penalty_method = "zero"\n')
    course = gradebook.load_course(course.root, LAB)
    with course.gradebook() as gb:
        gb.update_or_create_assignment(LAB, duedate="2030-01-01 12:00:00 UTC")
    (course.submitted("alice", LAB).parent / "timestamp.txt").write_text("2030-01-02 12:00:00 UTC")
    (course.submitted("bob", LAB).parent / "timestamp.txt").write_text("2029-12-31 12:00:00 UTC")
    release = gradebook.release_notebook(course, LAB)
    for student in ("alice", "bob"):
        stamp = course.coursedir.get_existing_timestamp(str(course.submitted(student, LAB).parent))
        gradebook.record(course, LAB, graded(course, student, {"test_add": 2.0, "test_mul": 3.0}, timestamp=stamp), release)
    with course.gradebook() as gb:
        assert gb.find_submission_notebook(LAB, LAB, "alice").late_submission_penalty == 5.0
        assert gb.find_submission_notebook(LAB, LAB, "bob").late_submission_penalty is None
    assert (course.autograded("alice", LAB).parent / "timestamp.txt").read_text() == "2030-01-02 12:00:00 UTC"


def test_storable_id_is_valid_utf8():
    """Is a student id storable exactly when it is valid UTF-8 (a folder name of raw bytes is not)?"""
    assert gradebook.storable_id("bob") and gradebook.storable_id("zoë")
    assert not gradebook.storable_id(b"bob\xff".decode("utf-8", "surrogateescape"))
