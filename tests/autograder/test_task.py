"""autograder.task: what a worker runs for one submission, and what may come back."""
from __future__ import annotations

import sys

from autograder import task
from tests.autograder.fixtures_gradebook import LAB


def test_worker_side_machinery_failures_are_errors_not_grades(tmp_path, monkeypatch):
    """On a worker, do a missing package and a machine that cannot confine a kernel come back as errors (the
    student stays ungraded), never as a result?"""
    from autograder import sandbox

    payload = {"source": b"{}", "data": {}}  # the task never gets as far as reading the lab
    monkeypatch.setitem(sys.modules, "autograder.grading", None)  # `import autograder.grading` fails
    answer = task.grade_task(None, LAB, b"{}", payload, 1)
    assert set(answer) == {"error"} and ("ModuleNotFoundError" in answer["error"] or "ImportError" in answer["error"])
    monkeypatch.setattr(sandbox, "confinement_mode", lambda: ("", "no user namespaces on this worker"))
    answer = task.grade_task(None, LAB, b"{}", payload, 1)
    assert set(answer) == {"error"} and "no user namespaces on this worker" in answer["error"]


def test_zero_result_and_check_result():
    """Is a submission that gave the grader nothing to run graded 0 on every test with the reason, a result the
    gradebook can record, and is a result naming an unknown test or a non-numeric score refused with why?"""
    tests = {"test_a": 2.0, "test_b": 3.0}
    zero = task.zero_result(LAB, tests, "too big")
    assert zero["score"] == 0.0 and zero["max_score"] == 5.0 and zero["errors"] == ["too big"]
    assert [t["message"] for t in zero["tests"]] == ["not graded: too big"] * 2
    assert task.check_result(zero, tests) is None
    assert "not a result" in task.check_result([], tests)
    assert "unknown test" in task.check_result({"tests": [{"grade_id": "test_c", "score": 1}]}, tests)
    assert "non-numeric" in task.check_result({"tests": [{"grade_id": "test_a", "score": "x"}]}, tests)


def test_the_batch_preload_reaches_the_grader_and_not_a_grade_function_of_ones_own(tmp_path, monkeypatch):
    """Does a payload's preload reach `grade_notebook` (so that a worker keeps one template for all the batch's
    labs), while a grade function of one's own is called with its documented arguments only?"""
    from autograder import grading, sandbox

    source = tmp_path / f"{LAB}.ipynb"
    source.write_text("{}")
    payload = task.lab_payload(source, ("numpy", "torch"))
    assert payload["preload"] == ["numpy", "torch"] and "preload" not in task.lab_payload(source)
    seen = []

    def recorder(lab, path, **options):
        seen.append(options)
        return {"score": 0.0}

    monkeypatch.setattr(grading, "grade_notebook", recorder)
    monkeypatch.setattr(sandbox, "require_confinement", lambda unconfined, err=None: True)
    assert "result" in task.grade_task(None, LAB, b"{}", payload, 1)
    assert seen[-1]["preload"] == ["numpy", "torch"]

    def own(lab, submission, *, source=None, limits=None, seed=None, hide=()):
        return {"score": 1.0}

    assert task.grade_task(own, LAB, b"{}", payload, 1)["result"] == {"score": 1.0}
