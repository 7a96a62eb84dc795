"""autograder.gradebook: the gradebook rows and autograded notebooks that nbgrader's feedback and export read."""
from __future__ import annotations

import copy
import csv
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder import gradebook
from autograder.gradebook import CourseError, Graded
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


def _by_id(nb):
    return {c.metadata.nbgrader["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}


def test_autograded_notebook_restores_tests_without_hidden_ones(course):
    """Are edited, deleted and duplicated test cells restored from the release, never with the hidden tests?"""
    course, release = course
    nb = solved()
    nb.cells[2].source = "pass  # tests? what tests?"                       # edited test cell
    nb.cells[2].metadata.nbgrader["points"] = 100                          # and its points
    duplicate = copy.deepcopy(nb.cells[1])
    duplicate.source = "def add(a, b):\n    return a - b"
    nb.cells.insert(2, duplicate)                                          # duplicated answer: the last one counts
    del nb.cells[5]                                                        # deleted test_mul
    nb.cells.append(new_code_cell("x = 1", metadata=_meta("bogus", grade=True, points=50)))
    out = gradebook.autograded_notebook(release, nb, Graded("alice", result({"test_add": 2.0, "test_mul": 0.0}), "0"))

    nbformat.validate(out)
    text = nbformat.writes(out)
    assert HIDDEN not in text and "tests? what tests?" not in text
    cells = _by_id(out)
    assert set(cells) == {"intro", "add", "test_add", "mul", "test_mul", "explain"}
    assert cells["test_add"].source == "assert add(1, 2) == 3" and cells["test_add"].metadata.nbgrader.points == 2
    assert cells["add"].source.endswith("return a - b")
    order = [c.metadata.nbgrader["grade_id"] for c in out.cells if "nbgrader" in c.metadata]
    assert order.index("test_mul") == order.index("mul") + 1
    assert "FAILED test_mul" in cells["test_mul"].outputs[0].text
    assert "PASSED test_add" in cells["test_add"].outputs[0].text
    assert out.cells[0].source.startswith("## Autograded tests: 2 / 5 points")


def test_unreadable_submission_shows_the_release(course):
    """Does an unreadable submission get the released notebook (no solutions) with the reason in the summary?"""
    course, release = course
    result0 = result({"test_add": 0.0, "test_mul": 0.0}, errors=["cannot read the notebook: <script>x</script>"])
    out = gradebook.autograded_notebook(release, gradebook.read_submission(course.submitted("carol", LAB)),
                                        Graded("carol", result0, "0"))
    text = nbformat.writes(out)
    assert "return a + b" not in text and HIDDEN not in text
    assert "&lt;script&gt;" in out.cells[0].source and "<script>" not in out.cells[0].source


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
