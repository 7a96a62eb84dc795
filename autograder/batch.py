"""Grade every submission of one or more labs in parallel on Dask; the coordinator alone reads and writes the course.

``autograde_labs(labs, course_dir)`` is ``python -m autograder autograde LAB [LAB ...]``
(``autograde(lab, course_dir)`` grades one lab):

1. check the course before anything is written (`autograder.course`: a
   folder with nbgrader_config.py, every lab named known, a submitted/
   folder) and that each lab's hidden tests load; remove what dead graders
   left on this machine (autograder.sandbox.sweep);
2. list ``submitted/<student>/<lab>/<lab>.ipynb`` and skip every student whose
   current submission already has a complete record (resumability: a run
   killed at any point, even with ``kill -9``, is finished by running again).
   A file that is not a notebook, or is another lab's notebook (its cells'
   grade_ids against every lab's source), is NOT GRADED here with the reason,
   without a kernel run; a folder without the notebook too; every other file
   in the folders is listed as ignored;
3. the preflight (`autograder.preflight`, unless ``preflight=False``): each lab's
   reference solution is graded as a submission on the workers; short of
   full marks, PreflightError (exit 3) before the gradebook is touched;
   then make sure the gradebook knows each lab
   (autograder.gradebook.ensure_assignment);
4. send the rest, every lab's in turn, to one set of Dask workers (a
   LocalCluster on 127.0.0.1, or an existing scheduler). Each task carries
   everything it needs as bytes: the submission, the lab's source notebook
   (its hidden tests) and the data files beside it, and the student's seed.
   A worker needs nothing but this package installed: it writes the task's
   files into a private temporary directory, runs
   ``autograder.grading.grade_notebook``, and returns plain data;
5. record each result as it arrives: one gradebook transaction, then the
   autograded notebook written atomically (autograder.gradebook.record);
   the graded cells a submission deleted or retyped (the result's ``flags``)
   are printed under the student. At the end, the NOT GRADED students and
   their reasons are written to ``not-graded/<lab>.json`` for ``report``.

Only what the submission did may cost points. A failure of the machinery (an
unreadable submission file, a worker that cannot confine a kernel or lacks a
package, a grade function that raises, a worker lost twice with the task, a
gradebook write that fails) leaves that student UNGRADED: nothing is recorded,
the summary says why, and the next run grades them. One student never stops
the others: a watchdog gives up any task still running past the per-notebook
wall limit plus a margin (`watchdog_limit`), whatever hangs, and restarts the
worker that held it; that student is NOT GRADED with the reason.

Student ids are folder names, so they may hold anything: they are printed with
`printable_id` (control characters and raw bytes escaped, so no id can move
the cursor, retitle the terminal or forge a line); an id that is not valid
UTF-8 cannot be stored by nbgrader and is NOT GRADED with the fix; ids that
look alike (`id_skeleton`: NFKC, case folding, a table of Cyrillic and Greek
look-alike letters) are graded apart and flagged under the scores.

Losing the scheduler stops the batch without recording anything more: run the
command again to resume.

Seeds: each student's hidden-test inputs come from a seed derived from a
per-run secret and the student's id (`student_seed`), so inputs leaked by one
submission say nothing about a classmate's. ``--seed N`` makes the secret N,
so a run can be reproduced; each student's seed is recorded in their
autograded notebook.
"""
from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Callable

# The batch's public names, whichever module of the batch holds them now.
from autograder.dispatch import dask_client, grade_all
from autograder.ids import (CONFUSABLES, ascii_id, confusable_groups, id_skeleton, printable_id, storable_id,
                            student_seed)
from autograder.limits import DATA_LIMIT, watchdog_limit
from autograder.plan import (BatchError, check_options, ensure_assignments, hold_labs, open_labs, plan_jobs,
                             share_preload)
from autograder.preflight import PreflightError
from autograder.preflight import preflight as run_preflight
from autograder.summary import NOT_GRADED_DIR, Summary, announce, complete, persist_not_graded, print_summary
from autograder.task import check_result, grade_task, lab_payload, zero_result

__all__ = ["CONFUSABLES", "DATA_LIMIT", "GRADE_FN", "NOT_GRADED_DIR", "BatchError", "PreflightError", "Summary",
           "ascii_id", "autograde", "autograde_labs", "check_result", "confusable_groups", "dask_client",
           "grade_task", "id_skeleton", "lab_payload", "printable_id", "storable_id", "student_seed",
           "watchdog_limit", "zero_result"]

#: The grade function workers run when autograde() is given none; None means
#: autograder.grading.grade_notebook, imported on the worker.
GRADE_FN: Callable | None = None


def autograde(lab: str, course_dir: str | Path = ".", **options) -> Summary:
    """Grade every submission of `lab` not yet graded; print and return the summary (see `autograde_labs`)."""
    return autograde_labs([lab], course_dir, **options)[lab]


def autograde_labs(labs, course_dir: str | Path = ".", *, workers: int | None = None, scheduler: str | None = None,
                   seed: int | None = None, force: bool = False, grade_fn: Callable | None = None,
                   out=None, progress: bool = True, unconfined: bool = False,
                   watchdog_s: float | None = None, preflight: bool = True) -> dict[str, Summary]:
    """Grade every submission of each lab in `labs` not yet graded, as one batch; print and return the summaries.

    One cluster serves every lab, so a mixed batch keeps every worker busy
    until the last submission and pays the cluster's start once. Every lab is
    checked (course, release, hidden tests) before anyone is graded.
    `grade_fn` defaults to autograder.grading.grade_notebook and must be
    importable by the workers (a module-level function). `seed` is the run's
    secret (drawn at random when None): each student's seed derives from it
    (`student_seed`) and is recorded in their autograded notebook. Without
    `unconfined`, local grading refuses to start where no kernel can be
    confined, and a worker that cannot confine one grades no one. `watchdog_s`
    bounds each submission's time on a worker (default: `watchdog_limit`, the
    per-notebook wall limit plus a margin); past it, that student is NOT GRADED.
    With `preflight` (the default), the reference solution of every lab with
    submissions to grade is graded first on the same workers (`autograder.preflight`):
    anything short of full marks raises PreflightError before the gradebook or
    autograded/ is touched. A course without nbgrader_config.py or submitted/,
    or an unknown lab, raises BatchError before anything is written.
    Student ids are printed with `printable_id`; ids that look alike
    (`confusable_groups`) are flagged after the scores, never merged.
    """
    from autograder.sandbox import require_confinement, sweep

    out = out or sys.stdout
    grade_fn = grade_fn or GRADE_FN
    labs = list(labs)
    check_options(labs, workers, watchdog_s)
    base, known = open_labs(course_dir, labs)
    if grade_fn is None and not scheduler and not require_confinement(unconfined):
        raise BatchError("no confinement here (see above); nothing was graded")
    held = hold_labs(course_dir, labs, base, known, hidden_tests=grade_fn is None)
    sweep()
    jobs = plan_jobs(held, base, force)
    secret = secrets.token_bytes(32) if seed is None else str(int(seed)).encode()
    workers = min(workers or os.cpu_count() or 1, max(len(jobs), 1))
    announce(held.values(), jobs, scheduler or f"{workers} local worker(s)", seed)
    if jobs:
        with dask_client(workers, scheduler) as client:
            running = [lab for lab in held.values() if any(job[0] is lab for job in jobs)]
            if grade_fn is None:
                share_preload(running)
            if preflight:  # before the gradebook is touched: a failure leaves the course as it was
                run_preflight(client, running,
                              grade_fn=grade_fn, secret=secret, unconfined=unconfined, watchdog_s=watchdog_s)
            ensure_assignments(held.values())
            grade_all(jobs, grade_fn=grade_fn, secret=secret, client=client, progress=progress,
                      unconfined=unconfined, watchdog_s=watchdog_s)
    else:
        ensure_assignments(held.values())
    sweep()
    for lab in held.values():
        complete(lab)
        persist_not_graded(lab)
        print_summary(lab, out, named=len(held) != 1)
    return {name: lab.summary for name, lab in held.items()}
