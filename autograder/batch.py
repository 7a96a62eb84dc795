"""Grade every submission of a lab in parallel on Dask; the coordinator alone writes the grades.

``autograde(lab, course_dir)`` is ``python -m autograder autograde``:

1. read the course's nbgrader config; make sure the gradebook knows the lab
   (autograder.gradebook.ensure_assignment);
2. list ``submitted/<student>/<lab>/<lab>.ipynb`` and skip every student whose
   current submission already has a complete record (resumability: a run
   killed at any point, even with ``kill -9``, is finished by running again);
3. send the rest to Dask workers (a LocalCluster on 127.0.0.1, or an existing
   scheduler): each task runs ``autograder.grading.grade_notebook`` on one
   submission and returns plain data;
4. record each result as it arrives: one gradebook transaction, then the
   autograded notebook written atomically (autograder.gradebook.record).

Workers never touch the gradebook. A grade function that raises, or a
submission that keeps killing its worker, gives that student 0 with the reason;
the batch goes on. Losing the scheduler stops the batch without recording
anything more: run the command again to resume.

With ``--scheduler``, the workers must see the course directory at the same
path as the coordinator (a shared filesystem), and have this package installed.
"""
from __future__ import annotations

import itertools
import logging
import os
import secrets
import sys
import time
import uuid
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from autograder.gradebook import (CourseError, Graded, completed, ensure_assignment, file_sha256, graded_tests,
                                  load_course, record, release_notebook, scores)


#: The grade function workers run when autograde() is given none; None means
#: autograder.grading.grade_notebook, imported on the worker.
GRADE_FN: Callable | None = None


class BatchError(ValueError):
    """The batch cannot start or go on (bad course directory, unreachable scheduler)."""


@dataclass
class Summary:
    """What one run did: students graded, skipped as already graded, failed (graded 0), and everyone's score."""

    graded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    scores: dict[str, tuple[float, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # grading time of each submission, on its worker

    def line(self) -> str:
        return f"graded {len(self.graded)}, skipped {len(self.skipped)} already graded, failed {len(self.failed)}"


def grade_task(grade_fn: Callable | None, lab: str, submission: str, source: str, seed: int | None,
               hide: list[str]) -> dict:
    """Run on a worker: grade one submission, never raise. Returns {"result"} or {"failed"}, and "seconds"."""
    start = time.perf_counter()
    try:
        if grade_fn is None:
            from autograder.grading import grade_notebook as grade_fn
        result = grade_fn(lab, Path(submission), source=Path(source), seed=seed, hide=[Path(h) for h in hide])
        return {"result": result, "seconds": time.perf_counter() - start}
    except Exception as exc:  # a bug or a hostile submission: that student gets 0 with the reason
        return {"failed": f"grading raised {type(exc).__name__}: {exc}"[:2000], "seconds": time.perf_counter() - start}


def zero_result(lab: str, tests: dict[str, float], reason: str) -> dict:
    """The grade of a submission that could not be graded: every test 0, with the reason."""
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


@contextmanager
def dask_client(workers: int, scheduler: str | None):
    """A Client on `scheduler`, or on a LocalCluster of `workers` single-threaded processes bound to 127.0.0.1."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="15s")
        except (OSError, TimeoutError) as exc:
            raise BatchError(f"cannot reach the Dask scheduler at {scheduler} ({exc}); "
                             "start one (`dask scheduler`) or leave out --scheduler for local workers") from None
        with client:
            yield client
        return
    # No prefetching, and a task fails after two worker deaths (_grade_all retries it once more);
    # non-daemonic workers may start the processes that grading needs.
    settings = {"distributed.scheduler.worker-saturation": 1.0, "distributed.scheduler.allowed-failures": 1,
                "distributed.worker.daemon": False}
    with dask.config.set(settings):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, silence_logs=logging.ERROR)
    with cluster, Client(cluster) as client:
        yield client


def autograde(lab: str, course_dir: str | Path = ".", *, workers: int | None = None, scheduler: str | None = None,
              seed: int | None = None, force: bool = False, grade_fn: Callable | None = None,
              out=None, progress: bool = True) -> Summary:
    """Grade every submission of `lab` not yet graded; print and return the summary.

    `grade_fn` defaults to autograder.grading.grade_notebook and must be
    importable by the workers (a module-level function). `seed` is drawn at
    random when None, and recorded in each autograded notebook.
    """
    out = out or sys.stdout
    grade_fn = grade_fn or GRADE_FN
    if workers is not None and workers < 1:
        raise BatchError(f"--workers must be at least 1 (got {workers})")
    try:
        course = load_course(course_dir, lab)
        release = release_notebook(course, lab)
        ensure_assignment(course, lab, release)
    except CourseError as exc:
        raise BatchError(str(exc)) from None
    if grade_fn is None:
        _check_hidden_tests(course.source(lab), lab)
    tests = graded_tests(release)
    students = course.students(lab)
    summary = Summary()
    summary.skipped = [] if force else sorted(completed(course, lab, tests, students))
    todo = [s for s in students if s not in set(summary.skipped)]
    seed = secrets.randbelow(2**31) if seed is None else seed
    workers = workers or os.cpu_count() or 1
    if not students:
        print(f"no submissions of {lab} in {course.root / course.coursedir.submitted_directory}", file=sys.stderr)
    elif todo:
        where = scheduler or f"{min(workers, len(todo))} local worker(s)"
        print(f"autograde {lab}: {len(todo)} to grade, {len(summary.skipped)} already graded; {where}; seed {seed}",
              file=sys.stderr)
        _grade_all(course, lab, todo, tests, release, summary, grade_fn=grade_fn, seed=seed,
                   client_args=(min(workers, len(todo)), scheduler), progress=progress)
    summary.scores = scores(course, lab, students)
    print(summary.line(), file=out)
    width = max(map(len, students), default=0)
    for student in students:
        score, max_score = summary.scores.get(student, (0.0, 0.0))
        note = f"  (failed: {summary.failed[student]})" if student in summary.failed else ""
        print(f"  {student:<{width}}  {score:g} / {max_score:g}{note}", file=out)
    return summary


def _check_hidden_tests(source: Path, lab: str) -> None:
    """Stop before grading anyone when the source's hidden tests cannot run (an instructor's error, not a student's)."""
    from autograder.hidden import HiddenTestError, load_suite

    try:
        load_suite(source, lab)
    except HiddenTestError as exc:
        raise BatchError(f"cannot grade {lab}: {exc}") from None


def _grade_all(course, lab, todo, tests, release, summary, *, grade_fn, seed, client_args, progress) -> None:
    """Keep each worker busy with one submission at a time; record each grade as it arrives.

    At most one task per worker thread is in flight, so when a worker dies the
    scheduler blames only the submission it was grading. A submission whose
    task is killed (two worker deaths) is tried once more before it scores 0,
    in case it was only a bystander.
    """
    from distributed import as_completed
    from distributed.scheduler import KilledWorker
    from tqdm import tqdm

    source = str(course.source(lab))
    hide = [str(course.root)]
    group = f"autograde-{lab}-{uuid.uuid4().hex[:8]}"  # tuple keys (group, n): one task group for the scheduler
    identity = {}
    for student in todo:
        path = course.submitted(student, lab)
        identity[student] = (file_sha256(path), course.coursedir.get_existing_timestamp(str(path.parent)))
    queue, retried, futures, numbers = deque(todo), set(), {}, itertools.count()

    with dask_client(*client_args) as client:
        running = as_completed()

        def launch() -> None:
            slots = max(1, sum(client.nthreads().values()))
            while queue and len(futures) < slots:
                student = queue.popleft()
                future = client.submit(grade_task, grade_fn, lab, str(course.submitted(student, lab)), source, seed,
                                       hide, key=(group, next(numbers)), pure=False, retries=0)
                futures[future] = student
                running.add(future)

        bar = tqdm(total=len(todo), desc=f"autograde {lab}", unit="nb", file=sys.stderr, disable=not progress)
        try:
            launch()
            for future in running:
                student = futures.pop(future)
                try:
                    answer = future.result()
                except KilledWorker:
                    if student not in retried:
                        retried.add(student)
                        queue.appendleft(student)
                        launch()
                        continue
                    answer = {"failed": "the grading worker died while grading this submission, four times "
                                        "(its process was killed: out of memory, or killed from inside)"}
                except Exception as exc:
                    client.cancel(list(futures))
                    raise BatchError(f"the Dask cluster failed ({type(exc).__name__}: {exc}); nothing is lost: run "
                                     f"the command again to grade the {len(todo) - bar.n} remaining submission(s)") from None
                _record(course, lab, student, answer, identity[student], tests, release, summary, seed)
                bar.update(1)
                launch()
        finally:
            bar.close()


def _record(course, lab, student, answer, identity, tests, release, summary, seed) -> None:
    failed = answer.get("failed") or check_result(answer.get("result"), tests)
    result = zero_result(lab, tests, failed) if failed else answer["result"]
    sha256, timestamp = identity
    record(course, lab, Graded(student, result, sha256, timestamp, failed=failed, seed=seed,
                               seconds=answer.get("seconds")), release)
    if failed:
        summary.failed[student] = failed
    else:
        summary.graded.append(student)
    if "seconds" in answer:
        summary.seconds[student] = answer["seconds"]
