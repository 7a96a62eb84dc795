"""A batch task: what the coordinator sends a worker (`lab_payload`, the submission's bytes, a seed), what the
worker runs (`grade_task`), and what may come back (`check_result`; `zero_result` when nothing could run).

A worker needs nothing but this package installed: `grade_task` writes the task's files into a private
temporary directory, runs the grade function (default `autograder.grading.grade_notebook`) and returns plain data.
"""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Callable

from autograder.limits import data_files

#: The longest error a worker sends back.
ERROR_LIMIT = 2000


def lab_payload(source: Path, preload=None) -> dict:
    """What a worker needs of the lab: the source notebook's bytes, the data files beside it (`data_files`) and,
    when given, what its kernel template imports (`preload`: the same for every lab of a batch, so that a
    worker keeps one template)."""
    data = {name: path.read_bytes() for name, path in data_files(source).items()}
    payload = {"source": source.read_bytes(), "data": data}
    if preload is not None:
        payload["preload"] = list(preload)
    return payload


def grade_task(grade_fn: Callable | None, lab: str, submission: bytes, payload: dict, seed: int,
               unconfined: bool = False) -> dict:
    """Run on a worker: grade one submission given as bytes; never raise.

    Returns {"result", "seconds"} when a grade was produced, or {"error"} when the machinery failed
    (the student then stays ungraded).
    """
    start = time.perf_counter()
    where = f"worker {socket.gethostname()} (pid {os.getpid()})"
    work = None
    try:
        from autograder import sandbox

        sandbox.sweep()  # what a grader killed on this machine left behind
        options = {}  # the preload goes to grade_notebook only: a grade function of one's own keeps its signature
        if grade_fn is None:
            if "preload" in payload:
                options["preload"] = payload["preload"]
            if not sandbox.require_confinement(unconfined, err=_Discard()):
                return {"error": f"{where} cannot confine a kernel: {sandbox.confinement_available()[1]}"}
            from autograder.grading import grade_notebook as grade_fn
        work = sandbox.private_dir()  # swept, should this worker be killed while grading
        lab_dir = work / "source" / lab
        lab_dir.mkdir(parents=True)
        (lab_dir / f"{lab}.ipynb").write_bytes(payload["source"])
        for name, content in payload.get("data", {}).items():
            (lab_dir / Path(name).name).write_bytes(content)
        path = work / "submission" / f"{lab}.ipynb"
        path.parent.mkdir()
        path.write_bytes(submission)
        result = grade_fn(lab, path, source=lab_dir / f"{lab}.ipynb", seed=seed, hide=[], **options)
        if isinstance(result, dict) and result.get("grader_error"):
            return {"error": f"{where}: {result['grader_error']}"[:ERROR_LIMIT]}
        return {"result": result, "seconds": time.perf_counter() - start}
    except BaseException as exc:  # noqa: BLE001 - the machinery failed, whatever it was: not the student's grade
        if isinstance(exc, KeyboardInterrupt):
            raise
        return {"error": f"{where}: grading raised {type(exc).__name__}: {exc}"[:ERROR_LIMIT]}
    finally:
        if work is not None:
            from autograder.sandbox import remove_tree

            remove_tree(work)


class _Discard:
    def write(self, text):
        return len(text)

    def flush(self):
        pass


def zero_result(lab: str, tests: dict[str, float], reason: str) -> dict:
    """The grade of a submission that gave the grader nothing to run: every test 0, with the reason."""
    return {
        "lab": lab, "score": 0.0, "max_score": sum(tests.values()), "errors": [reason],
        "tests": [{"grade_id": g, "score": 0.0, "max_score": p, "passed": False, "message": f"not graded: {reason}"}
                  for g, p in tests.items()],
    }


def check_result(result, tests: dict[str, float]) -> str | None:
    """Why a grade function's result cannot be recorded, or None when it can."""
    if not isinstance(result, dict) or not isinstance(result.get("tests"), list):
        return f"the grade function returned {type(result).__name__}, not a result with a 'tests' list"
    for test in result["tests"]:
        if not isinstance(test, dict) or test.get("grade_id") not in tests:
            return f"the grade function returned an unknown test {test!r:.200}"
        try:
            float(test.get("score"))
        except (TypeError, ValueError):
            return f"the grade function returned a non-numeric score for {test.get('grade_id')}"
    return None
