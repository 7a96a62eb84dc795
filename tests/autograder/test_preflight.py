"""autograder.preflight: the reference solution graded on the workers before anyone else."""
from __future__ import annotations

from pathlib import Path

from autograder import batch
from tests.autograder.test_batch import _threaded_client, fake_grade, run_cli
from tests.autograder.fixtures_gradebook import LAB, make_course, solved


def failing_reference(lab, submission, *, source=None, limits=None, seed=None, hide=()):
    """fake_grade, except that the lab's own source (the preflight's submission) fails with a missing module."""
    result = fake_grade(lab, submission, source=source, limits=limits, seed=seed, hide=hide)
    if Path(submission).read_bytes() == Path(source).read_bytes():
        result["tests"][0].update(score=0.0, passed=False, message="NameError: name 'np' is not defined")
        result["errors"] = ["cell 1 (setup): ModuleNotFoundError: No module named 'course_utils'"]
        result["score"] = sum(t["score"] for t in result["tests"])
    return result


def test_a_failing_preflight_grades_no_one_and_no_preflight_skips_it(tmp_path, monkeypatch):
    """Does a reference short of full marks stop the batch (PreflightError, exit 3) with its errors and the likely
    cause, before anything is written; and does --no-preflight grade all the same?"""
    root = make_course(tmp_path / "course", {"alice": solved(), "bob": solved()})
    monkeypatch.setattr(batch, "dask_client", _threaded_client)
    monkeypatch.setattr(batch, "GRADE_FN", failing_reference)
    rc, out, err = run_cli(["autograde", LAB, "--course-dir", str(root)])
    assert rc == 3 and out == ""
    assert "preflight failed" in err and "test_add: FAILED: NameError: name 'np' is not defined" in err
    assert "likely cause: the grading environment cannot import course_utils: check the virtual environment" in err
    assert sorted(p.name for p in root.iterdir()) == ["nbgrader_config.py", "solutions", "submitted"]
    rc, out, err = run_cli(["autograde", LAB, "--course-dir", str(root), "--no-preflight"])
    assert rc == 0 and "preflight" not in err and out.startswith("graded 2, skipped 0 already graded")
