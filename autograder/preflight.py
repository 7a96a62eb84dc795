"""The preflight: before anyone is graded, each lab's reference solution is graded as a submission on the batch's
own workers, with the same confinement and limits; short of full marks, PreflightError (exit 3) says why, with the
likely cause, before the gradebook or autograded/ is touched.
"""
from __future__ import annotations

import re
import sys
import time
import uuid

from autograder.dispatch import stop_tasks
from autograder.ids import student_seed
from autograder.limits import watchdog_limit
from autograder.plan import BatchError
from autograder.summary import one_line
from autograder.task import check_result, grade_task, lab_payload

#: The most problems reported of one lab, and the longest each.
MAX_PROBLEMS, PROBLEM_LIMIT = 20, 500

#: How far under the top score a full mark may be (float sums).
TOLERANCE = 1e-9


class PreflightError(BatchError):
    """A lab's reference solution did not get full marks in the grading environment: no student was graded.
    Exit code 3 (`python -m autograder autograde`), so a script can tell it from a refused command (2)."""

    exit_code = 3


def preflight(client, labs, *, grade_fn, secret, unconfined, watchdog_s=None, err=None) -> None:
    """Grade each lab's reference solution (its source notebook) as a submission, on the batch's own workers, with
    the same confinement and limits; PreflightError, with every failing lab's errors and the likely cause, unless
    each gets full marks on every test. Called before the gradebook or autograded/ is written."""
    from distributed import wait

    err = err or sys.stderr
    futures = {}
    for lab in labs:
        if lab.payload is None:
            lab.payload = lab_payload(lab.course.source(lab.name))
        seed = student_seed(secret, f"\0preflight/{lab.name}")
        future = client.submit(grade_task, grade_fn, lab.name, lab.payload["source"], lab.payload, seed, unconfined,
                               key=(f"preflight-{uuid.uuid4().hex[:8]}", lab.name), pure=False, retries=0)
        futures[future] = lab
    limit = max(watchdog_s if watchdog_s is not None else watchdog_limit(len(lab.tests)) for lab in labs)
    print(f"preflight: grading the reference solution of {', '.join(lab.name for lab in labs)} on the workers",
          file=err)
    started = time.monotonic()
    try:
        wait(list(futures), timeout=limit)
    except TimeoutError:
        pass
    late = [f for f in futures if not f.done()]
    stopped = stop_tasks(client, late) if late else {}
    failures = []
    for future, lab in futures.items():
        if future in stopped:
            problems = [f"grading the reference did not finish within {limit:g} s ({stopped[future]})"]
        else:
            problems = _problems(future, lab, err)
        if problems:
            failures.append(_failure(lab, problems))
    if failures:
        raise PreflightError(
            "preflight failed: the reference solution did not get full marks in this grading environment "
            f"(same workers, confinement and limits as the students; {time.monotonic() - started:.0f} s), so no "
            "student was graded and nothing was written to the gradebook or autograded/:\n  "
            + "\n  ".join(failures)
            + "\nFix the cause and run again (`--no-preflight` grades without this check, at your own risk).")


def _problems(future, lab, err) -> list[str]:
    """What went wrong with the reference of `lab` (its task `future` done): nothing when it scored full marks,
    which is then printed to `err`."""
    try:
        answer = future.result()
    except Exception as exc:  # noqa: BLE001 - a worker lost or unable to run the task
        answer = {"error": f"the worker could not run the grading task: {type(exc).__name__}: {exc}"}
    problem = answer.get("error") if isinstance(answer, dict) else "the worker returned no result"
    result = answer.get("result") if problem is None else None
    problem = problem or check_result(result, lab.tests)
    if problem is not None:
        return [problem]
    failed = [t for t in result["tests"] if not t.get("passed")]
    score, top = float(result.get("score", 0)), float(result.get("max_score", 0))
    if not failed and score >= top - TOLERANCE:
        lab.summary.preflight_s = answer.get("seconds")
        print(f"preflight: {lab.name}'s reference solution scored {score:g} / {top:g} "
              f"({answer.get('seconds', 0):.1f} s on its worker)", file=err)
        return []
    problems = [f"{t.get('grade_id')}: FAILED: {t.get('message')}" for t in failed]
    problems += [f"error: {e}" for e in result.get("errors", [])]
    problems.insert(0, f"scored {score:g} / {top:g}")
    return problems


def _failure(lab, problems: list[str]) -> str:
    """The paragraph of PreflightError on `lab`: its source, its first problems, the likely cause."""
    source = f"solutions/{lab.name}/{lab.name}.ipynb"
    problems = [one_line(p)[:PROBLEM_LIMIT] for p in problems[:MAX_PROBLEMS]]
    return (f"{lab.name} ({source}):\n" + "\n".join(f"    {p}" for p in problems)
            + f"\n  likely cause: {_likely_cause(lab.name, problems)}")


def _likely_cause(lab: str, problems: list[str]) -> str:
    """One sentence on why a reference solution failed in the grading environment."""
    text = "\n".join(problems)
    missing = re.search(r"No module named '([\w.]+)'", text)
    if missing:
        return (f"the grading environment cannot import {missing.group(1).split('.')[0]}: check the virtual "
                "environment (`pip install -e .` in this checkout, then `python -c 'import "
                f"{missing.group(1)}'` with the interpreter the workers use)")
    if "ImportError" in text:
        return ("an import fails in the grading environment (a package of the wrong version?): reinstall from the "
                "lock (`make venv`) and check that the workers use that interpreter")
    if re.search(r"kernel could not be started|cannot confine|worker could not run|grading raised", text):
        return "the grading machinery fails on the workers (see above): fix that before grading anyone"
    if re.search(r"memory", text, re.I):
        return "the reference needs more memory than the kernel is allowed (Limits.memory_mb), or the machine is full"
    if re.search(r"interrupted after|ran out of time|did not finish within|timed? ?out", text):
        return ("the reference ran past the time limits: the machine is overloaded or slower than the limits assume; "
                "grade with fewer --workers, or on a quieter machine")
    if re.search(r"FileNotFoundError|No such file", text):
        return f"a file the lab reads is missing: put its data files beside solutions/{lab}/{lab}.ipynb"
    return (f"the reference solution fails its own tests here: see it with `python -m autograder grade {lab} "
            f"solutions/{lab}/{lab}.ipynb`, and check the hidden tests with `python -m autograder sweep {lab}`")
