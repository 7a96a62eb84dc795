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
3. the preflight (`_preflight`, unless ``preflight=False``): each lab's
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

import hashlib
import hmac
import itertools
import logging
import os
import re
import secrets
import socket
import sys
import time
import uuid
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from autograder.course import check_labs, gradebook_path, open_course, source_labs
from autograder.gradebook import (MARKER, CourseError, Graded, _atomic_write, _marker, completed, ensure_assignment,
                                  file_sha256, graded_tests, load_course, record, release_notebook, scores)
from autograder.limits import DATA_LIMIT, data_files, watchdog_limit  # noqa: F401 - DATA_LIMIT: the public name
from autograder.text import clean_text


#: The grade function workers run when autograde() is given none; None means
#: autograder.grading.grade_notebook, imported on the worker.
GRADE_FN: Callable | None = None


class BatchError(ValueError):
    """The batch cannot start or go on (bad course directory, unreachable scheduler): exit code 2."""

    exit_code = 2


class PreflightError(BatchError):
    """A lab's reference solution did not get full marks in the grading environment: no student was graded.
    Exit code 3 (`python -m autograder autograde`), so a script can tell it from a refused command (2)."""

    exit_code = 3


#: What `autograde` writes beside the course's folders: the NOT GRADED students of each lab's last run, with the
#: reasons, for `python -m autograder report` (``<course>/not-graded/<lab>.json``).
NOT_GRADED_DIR = "not-graded"


@dataclass
class Summary:
    """What one run did: students graded, skipped as already graded, left ungraded (and why), everyone's score."""

    graded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    ungraded: dict[str, str] = field(default_factory=dict)  # the machinery failed: nothing recorded, rerun grades
    scores: dict[str, tuple[float, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # grading time of each submission, on its worker
    seeds: dict[str, int] = field(default_factory=dict)
    confusable: list[tuple[str, ...]] = field(default_factory=list)  # ids that look alike (`confusable_groups`)
    ignored: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # student: [(file, why not graded)]
    flags: dict[str, list[str]] = field(default_factory=dict)  # student: graded cells deleted or retyped
    preflight_s: float | None = None  # the reference solution's grading time on its worker, when checked

    @property
    def failed(self) -> dict[str, str]:  # the earlier name
        return self.ungraded

    def line(self) -> str:
        line = f"graded {len(self.graded)}, skipped {len(self.skipped)} already graded"
        if self.ungraded:
            line += f", {len(self.ungraded)} NOT graded (see why below; run again once fixed)"
        if self.flags:
            line += f", {len(self.flags)} flagged (graded cells deleted or retyped)"
        if self.ignored:
            line += f", files ignored in {len(self.ignored)} folder(s)"
        return line


#: Letters that look like a Latin letter, after NFKC and case folding: Cyrillic and Greek lower case (their upper
#: case folds to these), and the Latin letters of other alphabets that NFKC leaves alone. A small explicit table
#: of the common confusables, not Unicode's full confusables.txt: it catches the usual forgery (a Cyrillic 'а' in
#: 'аlice') without flagging ids that merely share letters.
CONFUSABLES = str.maketrans({
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "һ": "h", "н": "h", "і": "i", "ї": "i", "ј": "j", "к": "k",
    "ӏ": "l", "м": "m", "о": "o", "р": "p", "ԛ": "q", "ѕ": "s", "т": "t", "у": "y", "ү": "y",
    "х": "x", "с": "c", "ԁ": "d", "ԝ": "w",
    # Greek
    "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x", "ϲ": "c", "ϳ": "j",
    # Latin look-alikes
    "ı": "i", "ȷ": "j", "ɡ": "g", "ɑ": "a", "ʀ": "r", "ʏ": "y", "ɪ": "i",
})


def id_skeleton(student: str) -> str:
    """What `student` looks like: NFKC, case folded, without invisible format characters (zero-width spaces,
    direction marks), and with the look-alike letters of `CONFUSABLES` mapped to Latin. Two ids with one
    skeleton are flagged in the summary (`confusable_groups`), never merged."""
    import unicodedata

    text = unicodedata.normalize("NFKC", student).casefold()
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return unicodedata.normalize("NFKC", text.translate(CONFUSABLES))


def confusable_groups(students) -> list[tuple[str, ...]]:
    """The sets of two or more distinct ids in `students` with one `id_skeleton`, each sorted."""
    groups: dict[str, set[str]] = {}
    for student in students:
        groups.setdefault(id_skeleton(student), set()).add(student)
    return sorted(tuple(sorted(g)) for g in groups.values() if len(g) > 1)


def printable_id(student: str) -> str:
    """`student` as it may reach a terminal: every character that is not printable (escape sequences, newlines,
    tabs, direction overrides, zero-width characters) written as a Python escape (``\\x1b``, ``\\n``,
    ``\\u202e``), the raw bytes of a name that is not UTF-8 (surrogate escapes) as ``\\xNN``, and a backslash
    doubled, so that what is printed names one folder and can forge nothing."""
    out = []
    for ch in student:
        if "\udc80" <= ch <= "\udcff":
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ch == "\\":
            out.append("\\\\")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ascii(ch)[1:-1])
    return "".join(out)


def ascii_id(student: str) -> str:
    """`printable_id` with every non-ASCII character escaped too: how look-alike ids are told apart."""
    return printable_id(student).encode("ascii", "backslashreplace").decode("ascii")


def storable_id(student: str) -> bool:
    """Whether nbgrader's gradebook can store `student` (valid UTF-8: not a folder name of raw bytes)."""
    try:
        student.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def student_seed(secret: bytes, student: str) -> int:
    """The seed of `student`'s hidden-test inputs: HMAC-SHA256(secret, student id), 31 bits."""
    digest = hmac.new(secret, student.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def lab_payload(source: Path) -> dict:
    """What a worker needs of the lab: the source notebook's bytes and the data files beside it (`data_files`)."""
    return {"source": source.read_bytes(), "data": {name: path.read_bytes() for name, path in data_files(source).items()}}


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
        if grade_fn is None:
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
        result = grade_fn(lab, path, source=lab_dir / f"{lab}.ipynb", seed=seed, hide=[])
        if isinstance(result, dict) and result.get("grader_error"):
            return {"error": f"{where}: {result['grader_error']}"[:2000]}
        return {"result": result, "seconds": time.perf_counter() - start}
    except BaseException as exc:  # noqa: BLE001 - the machinery failed, whatever it was: not the student's grade
        if isinstance(exc, KeyboardInterrupt):
            raise
        return {"error": f"{where}: grading raised {type(exc).__name__}: {exc}"[:2000]}
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


def autograde(lab: str, course_dir: str | Path = ".", **options) -> Summary:
    """Grade every submission of `lab` not yet graded; print and return the summary (see `autograde_labs`)."""
    return autograde_labs([lab], course_dir, **options)[lab]


@dataclass(eq=False)  # hashed by identity: (lab, student) pairs key the coordinator's tables
class _Lab:
    """What the coordinator holds of one lab while its submissions are graded."""

    name: str
    course: object
    release: object
    tests: dict[str, float]
    students: list[str]
    summary: Summary
    payload: dict | None = None
    ids: set = field(default_factory=set)  # the grade_ids of the lab's source
    others: dict = field(default_factory=dict)  # the other labs of the course: their grade_ids


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
    submissions to grade is graded first on the same workers (`_preflight`):
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
    if not labs:
        raise BatchError("name at least one lab to grade, e.g. `autograde 01_perceptron`")
    repeated = sorted({lab for lab in labs if labs.count(lab) > 1})
    if repeated:
        raise BatchError(f"lab {', '.join(repeated)} named more than once; name each lab once")
    if workers is not None and workers < 1:
        raise BatchError(f"--workers must be at least 1 (got {workers})")
    if watchdog_s is not None and not watchdog_s > 0:
        raise BatchError(f"--time-limit must be a positive number of seconds (got {watchdog_s:g})")
    try:  # the course, its labs and submitted/, checked before anything is written (no gradebook.db either)
        base = open_course(course_dir)
        known = source_labs(base)
        check_labs(base, labs, known)
    except CourseError as exc:
        raise BatchError(str(exc)) from None
    submitted_root = Path(base.coursedir.format_path(base.coursedir.submitted_directory, ".", ".")).resolve()
    if not submitted_root.is_dir():
        raise BatchError(f"{submitted_root} does not exist: there is nothing to grade in {base.root}. Collect the "
                         f"submissions first (`python -m autograder collect {labs[0]} ZIP --course-dir "
                         f"{base.root}` writes submitted/<student>/{labs[0]}/{labs[0]}.ipynb), or pass the right "
                         "--course-dir")
    if grade_fn is None and not scheduler and not require_confinement(unconfined):
        raise BatchError("no confinement here (see above); nothing was graded")
    held = {}
    for lab in labs:  # every lab checked before the gradebook is touched
        try:
            course = load_course(course_dir, lab)
            release = release_notebook(course, lab)
        except CourseError as exc:
            raise BatchError(str(exc)) from None
        if grade_fn is None:
            _check_hidden_tests(course.source(lab), lab)
        held[lab] = _Lab(lab, course, release, graded_tests(release), course.students(lab), Summary())
    identities = {name: _grade_ids(base.source(name)) for name in known}  # which lab a notebook belongs to
    for lab in held.values():
        lab.ids = identities.get(lab.name, set())
        lab.others = {name: ids for name, ids in identities.items() if name != lab.name}
        _survey(lab)
    sweep()
    queues = []
    has_gradebook = gradebook_path(base) is None or gradebook_path(base).is_file()
    for lab in held.values():
        storable = [s for s in lab.students if storable_id(s)]  # the others are refused in _grade_all
        done = completed(lab.course, lab.name, lab.tests, storable) if has_gradebook and not force else set()
        lab.summary.skipped = sorted(done)
        skipped = set(lab.summary.skipped)
        queue = []
        for student in (s for s in lab.students if s not in skipped):
            data = _read(lab.course, lab.name, student)[0] if storable_id(student) else None
            refused = _refuse(lab, data) if data is not None else None
            if refused is not None:  # no notebook, or another lab's: NOT GRADED now, no worker (nor preflight) needed
                lab.summary.ungraded[student] = refused
            else:
                queue.append((lab, student))
        queues.append(queue)
    # (lab, student) in turn across labs, so that no lab waits for all the others
    jobs = [job for turn in itertools.zip_longest(*queues) for job in turn if job is not None]
    secret = secrets.token_bytes(32) if seed is None else str(int(seed)).encode()
    workers = workers or os.cpu_count() or 1
    for lab in held.values():
        if not lab.students:
            print(f"no submissions of {lab.name} in {lab.course.root / lab.course.coursedir.submitted_directory}",
                  file=sys.stderr)
    if jobs:
        where = scheduler or f"{min(workers, len(jobs))} local worker(s)"
        how = f"seeds from secret {seed}" if seed is not None else "seeds from a random per-run secret"
        counts = "; ".join(f"{lab.name}: {sum(job[0] is lab for job in jobs)} to grade, "
                           f"{len(lab.summary.skipped)} already graded" for lab in held.values())
        print(f"autograde {counts}; {where}; {how}", file=sys.stderr)
        with dask_client(min(workers, len(jobs)), scheduler) as client:
            if preflight:  # before the gradebook is touched: a failure leaves the course as it was
                _preflight(client, [lab for lab in held.values() if any(job[0] is lab for job in jobs)],
                           grade_fn=grade_fn, secret=secret, unconfined=unconfined, watchdog_s=watchdog_s)
            _ensure_assignments(held.values())
            _grade_all(jobs, grade_fn=grade_fn, secret=secret, client=client, progress=progress,
                       unconfined=unconfined, watchdog_s=watchdog_s)
    else:
        _ensure_assignments(held.values())
    sweep()
    for lab in held.values():
        summary, students = lab.summary, lab.students
        summary.scores = scores(lab.course, lab.name, [s for s in students if storable_id(s)])
        summary.confusable = confusable_groups(students)
        for student in summary.skipped:  # flags of earlier runs, from the autograded notebooks
            flags = _marker(lab.course.autograded(student, lab.name)).get("flags")
            if isinstance(flags, list) and flags:
                summary.flags[student] = [_flag_text(f) for f in flags]
        _persist_not_graded(lab)
        print(summary.line() if len(held) == 1 else f"{lab.name}: {summary.line()}", file=out)
        everyone = sorted(set(students) | set(summary.ungraded) | set(summary.ignored))
        shown = {student: printable_id(student) for student in everyone}
        width = max(map(len, shown.values()), default=0)
        for student in everyone:
            if student in summary.ungraded:
                print(f"  {shown[student]:<{width}}  NOT GRADED: {_one_line(summary.ungraded[student])}", file=out)
            elif student in summary.scores or student in students:
                score, max_score = summary.scores.get(student, (0.0, 0.0))
                print(f"  {shown[student]:<{width}}  {score:g} / {max_score:g}", file=out)
            else:
                print(f"  {shown[student]:<{width}}  (no notebook to grade)", file=out)
            for flag in summary.flags.get(student, []):
                print(f"  {'':<{width}}    flagged: {_one_line(flag)}", file=out)
            for name, why in summary.ignored.get(student, []):
                print(f"  {'':<{width}}    ignored: {printable_id(name)} ({_one_line(why)})", file=out)
        for group in summary.confusable:
            print(f"  warning: the ids {', '.join(ascii_id(s) for s in group)} look alike (one after NFKC, case "
                  "folding and look-alike letters) and were graded as different students: check that they are "
                  "not one student's two folders", file=out)
    return {name: lab.summary for name, lab in held.items()}


def _check_hidden_tests(source: Path, lab: str) -> None:
    """Stop before grading anyone when the source's hidden tests cannot run (an instructor's error, not a student's)."""
    from autograder.hidden import HiddenTestError, load_suite

    try:
        load_suite(source, lab)
    except HiddenTestError as exc:
        raise BatchError(f"cannot grade {lab}: {exc}") from None


def _grade_ids(source: Path) -> set[str]:
    """The grade_ids of a lab's source notebook (empty when it cannot be read)."""
    import json

    try:
        cells = json.loads(source.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return set()
    ids = set()
    for cell in cells if isinstance(cells, list) else []:
        meta = cell.get("metadata", {}).get("nbgrader") if isinstance(cell, dict) else None
        if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
            ids.add(meta["grade_id"])
    return ids


def _which_lab(lab: "_Lab", ids: set[str]) -> str | None:
    """The other lab a notebook with these grade_ids belongs to, or None when it may be `lab`'s: it shares no
    grade_id with `lab` that the other labs lack, and at least one that only that other lab has."""
    others = set().union(*lab.others.values()) if lab.others else set()
    if ids & (lab.ids - others):
        return None
    best, count = None, 0
    for name, theirs in sorted(lab.others.items()):
        distinctive = theirs - lab.ids - set().union(*(v for k, v in lab.others.items() if k != name))
        if len(ids & distinctive) > count:
            best, count = name, len(ids & distinctive)
    return best


def _refuse(lab: "_Lab", data: bytes) -> str | None:
    """Why a submission is NOT GRADED without a kernel run (not a notebook, or another lab's), or None."""
    from autograder.grading import notebook_cells

    cells, problem = notebook_cells(data)
    if problem is not None:
        return (f"{lab.name}.ipynb cannot be graded: {problem}. Nothing was run; ask the student to download the "
                "notebook again (Jupyter: File > Download; Colab: File > Download > Download .ipynb) and resubmit")
    ids = set()
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader") if isinstance(cell, dict) else None
        if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
            ids.add(meta["grade_id"])
    other = _which_lab(lab, ids)
    if other is not None:
        return (f"this is {other}'s notebook, not {lab.name}'s (its graded cells are {other}'s): nothing was run; "
                f"ask the student to submit {lab.name}.ipynb")
    return None


def _survey(lab: "_Lab") -> None:
    """List what is in every submitted/<student>/<lab>/ folder besides the lab's notebook (ignored, with the reason),
    and make each folder without the notebook a NOT GRADED student: no one who handed something in goes unseen."""
    notebook, course = f"{lab.name}.ipynb", lab.course
    root = Path(course.coursedir.format_path(course.coursedir.submitted_directory, ".", "."))
    try:
        folders = sorted(p for p in root.iterdir() if (p / lab.name).is_dir())
    except OSError:
        return
    for folder in folders:
        student, where = folder.name, folder / lab.name
        try:
            names = sorted(p.name for p in where.iterdir())
        except OSError as exc:
            lab.summary.ungraded[student] = f"cannot list {where}: {exc.strerror or exc}"
            continue
        ignored = []
        for name in names:
            if name in (notebook, "timestamp.txt"):
                continue
            if (where / name).is_dir():
                why = "a folder: only the lab's notebook is graded"
            elif name.lower().endswith(".ipynb"):
                why = f"not the lab's notebook: only {notebook} is graded (rename it if it is the submission)"
            else:
                why = "not the lab's notebook"
            ignored.append((name, why))
        if ignored:
            lab.summary.ignored[student] = ignored
        if notebook not in names:
            found = ", ".join(printable_id(n) for n in names) or "nothing"
            lab.summary.ungraded[student] = (f"no {notebook} in submitted/{student}/{lab.name}/ (found: {found}): "
                                             f"rename the student's notebook to {notebook}, or collect again")


def _ensure_assignments(labs) -> None:
    for lab in labs:
        try:
            ensure_assignment(lab.course, lab.name, lab.release)
        except CourseError as exc:
            raise BatchError(str(exc)) from None


def _flag_text(flag) -> str:
    return _printable(flag.get("message") or flag.get("grade_id") if isinstance(flag, dict) else flag, 500)


def _persist_not_graded(lab: "_Lab") -> None:
    """Write the run's NOT GRADED students of `lab`, with the reasons and the sha256 of the file they concern, to
    <course>/not-graded/<lab>.json for `report`; remove the file when everyone was graded. Best effort."""
    import datetime
    import json

    path = lab.course.root / NOT_GRADED_DIR / f"{lab.name}.json"
    students = {}
    for student, reason in lab.summary.ungraded.items():
        try:
            sha = file_sha256(lab.course.submitted(student, lab.name))
        except OSError:
            sha = None
        students[student] = {"reason": reason, "sha256": sha}
    try:
        if not students:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(exist_ok=True)
        when = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        data = json.dumps({"lab": lab.name, "written": when, "students": students}, indent=1, sort_keys=True)
        _atomic_write(path, data.encode("ascii"))  # ensure_ascii: any folder name, even raw bytes, round-trips
    except OSError as exc:
        print(f"warning: cannot write {path} ({exc}); `report` will not know why these students were not graded",
              file=sys.stderr)


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


def _preflight(client, labs, *, grade_fn, secret, unconfined, watchdog_s=None, err=None) -> None:
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
    stopped = _stop_tasks(client, late) if late else {}
    failures = []
    for future, lab in futures.items():
        source = f"solutions/{lab.name}/{lab.name}.ipynb"
        if future in stopped:
            problems = [f"grading the reference did not finish within {limit:g} s ({stopped[future]})"]
        else:
            try:
                answer = future.result()
            except Exception as exc:  # noqa: BLE001 - a worker lost or unable to run the task
                answer = {"error": f"the worker could not run the grading task: {type(exc).__name__}: {exc}"}
            problem = answer.get("error") if isinstance(answer, dict) else "the worker returned no result"
            result = answer.get("result") if problem is None else None
            problem = problem or check_result(result, lab.tests)
            if problem is None:
                failed = [t for t in result["tests"] if not t.get("passed")]
                score, top = float(result.get("score", 0)), float(result.get("max_score", 0))
                if not failed and score >= top - 1e-9:
                    lab.summary.preflight_s = answer.get("seconds")
                    print(f"preflight: {lab.name}'s reference solution scored {score:g} / {top:g} "
                          f"({answer.get('seconds', 0):.1f} s on its worker)", file=err)
                    continue
                problems = [f"{t.get('grade_id')}: FAILED: {t.get('message')}" for t in failed]
                problems += [f"error: {e}" for e in result.get("errors", [])]
                problems.insert(0, f"scored {score:g} / {top:g}")
            else:
                problems = [problem]
        problems = [_one_line(p)[:500] for p in problems[:20]]
        failures.append(f"{lab.name} ({source}):\n" + "\n".join(f"    {p}" for p in problems)
                        + f"\n  likely cause: {_likely_cause(lab.name, problems)}")
    if failures:
        raise PreflightError(
            "preflight failed: the reference solution did not get full marks in this grading environment "
            f"(same workers, confinement and limits as the students; {time.monotonic() - started:.0f} s), so no "
            "student was graded and nothing was written to the gradebook or autograded/:\n  "
            + "\n  ".join(failures)
            + "\nFix the cause and run again (`--no-preflight` grades without this check, at your own risk).")


def _read(course, lab, student) -> tuple[bytes | None, str | None, int]:
    """(bytes, None, size), or (None, why, size) when the file cannot be read: the student then stays ungraded.

    A file over the size limit is not read: (None, None, size), graded 0 for its size.
    """
    from autograder.sandbox import Limits

    path = course.submitted(student, lab)
    try:
        size = path.stat().st_size
        if size > Limits().notebook_mb << 20:
            return None, None, size
        return path.read_bytes(), None, size
    except OSError as exc:
        return None, f"cannot read {path}: {exc.strerror or exc}", 0


def _cluster_failures() -> tuple:
    """Exceptions that mean the cluster itself is gone (not one task): the batch stops, nothing is recorded."""
    import asyncio
    import concurrent.futures

    from distributed.comm.core import CommClosedError

    return (asyncio.CancelledError, concurrent.futures.CancelledError, CommClosedError, OSError, TimeoutError)


def _grade_all(jobs, *, grade_fn, secret, progress, unconfined, watchdog_s=None, client=None, client_args=None
               ) -> None:
    """Keep each worker busy with one submission at a time; record each grade as it arrives.

    `jobs` are (lab, student) pairs, graded in that order. At most one task per
    worker thread is in flight, so when a worker dies the scheduler blames only
    the submission it was grading. A task lost with its worker is resubmitted
    once; lost again, the student stays ungraded.

    The watchdog: a task still running `watchdog_s` seconds after it was sent
    (default `watchdog_limit`, from the lab's number of test cells) is given up,
    whatever hangs (the submission, a reference call, the grader): the student is
    NOT GRADED with the reason, the worker that runs it is restarted (or stopped,
    when it has no nanny), and the batch goes on with the others.
    """
    import hashlib as _hashlib

    from distributed import wait
    from distributed.scheduler import KilledWorker
    from tqdm import tqdm

    _CLUSTER_FAILURES = _cluster_failures()  # noqa: N806
    names = sorted({lab.name for lab, _ in jobs})
    group = f"autograde-{uuid.uuid4().hex[:8]}"  # tuple keys (group, n): one task group for the scheduler
    queue, retried, futures, numbers = deque(jobs), set(), {}, itertools.count()
    identity, started = {}, {}  # started: future -> when it was sent (the watchdog's clock)
    bar = tqdm(total=len(jobs), desc=f"autograde {names[0] if len(names) == 1 else f'{len(names)} labs'}",
               unit="nb", file=sys.stderr, disable=not progress)

    def limit_of(lab) -> float:
        return watchdog_s if watchdog_s is not None else watchdog_limit(len(lab.tests))

    from contextlib import nullcontext

    with (nullcontext(client) if client is not None else dask_client(*client_args)) as client:
        def launch() -> None:
            slots = max(1, sum(client.nthreads().values()))
            while queue and len(futures) < slots:
                lab, student = job = queue.popleft()
                course, summary = lab.course, lab.summary
                if not storable_id(student):
                    summary.ungraded[student] = (
                        f"the folder name {student.encode('utf-8', 'surrogateescape')!r} under submitted/ is not "
                        "valid UTF-8, which nbgrader's gradebook cannot store: rename the folder (e.g. to plain "
                        "ASCII) and run again")
                    bar.update(1)
                    continue
                data, problem, size = _read(course, lab.name, student)
                if problem is not None:
                    summary.ungraded[student] = _printable(problem)
                    bar.update(1)
                    continue
                timestamp = None
                try:
                    timestamp = course.coursedir.get_existing_timestamp(
                        str(course.submitted(student, lab.name).parent))
                except Exception:  # noqa: BLE001 - an unreadable timestamp.txt: graded as on time
                    pass
                seed = student_seed(secret, student)
                summary.seeds[student] = seed
                if data is None:  # over the size limit: the submission's own doing, graded 0 unread
                    try:
                        identity[job] = (file_sha256(course.submitted(student, lab.name)), timestamp)
                    except OSError as exc:
                        summary.ungraded[student] = _printable(f"cannot read the submission: {exc}")
                        bar.update(1)
                        continue
                    reason = (f"the submission is {size / (1 << 20):.1f} MB, more than the limit: clear its outputs "
                              "(Kernel > Restart Kernel and Clear Outputs) and submit again")
                    _record(course, lab.name, student, {"result": zero_result(lab.name, lab.tests, reason)},
                            identity[job], lab.tests, lab.release, summary)
                    bar.update(1)
                    continue
                identity[job] = (_hashlib.sha256(data).hexdigest(), timestamp)
                refused = _refuse(lab, data)
                if refused is not None:  # not a notebook, or another lab's: NOT GRADED, no kernel run
                    summary.ungraded[student] = refused
                    bar.update(1)
                    continue
                if lab.payload is None:  # read once, when its first submission goes out
                    lab.payload = lab_payload(course.source(lab.name))
                future = client.submit(grade_task, grade_fn, lab.name, data, lab.payload, seed, unconfined,
                                       key=(group, next(numbers)), pure=False, retries=0)
                futures[future] = job
                started[future] = time.monotonic()

        def abandon(overdue) -> None:
            """The watchdog: give up the tasks past their deadline, restart the workers they hold (at once), go on."""
            seconds = {future: time.monotonic() - started.pop(future) for future in overdue}
            stopped = _stop_tasks(client, overdue)
            for future in overdue:
                lab, student = futures.pop(future)
                lab.summary.ungraded[student] = (
                    f"grading did not finish within {limit_of(lab):g} s (the per-notebook wall limit plus a margin; "
                    f"stopped after {seconds[future]:.0f} s): the submission or the machinery hung, and "
                    f"{stopped[future]}; run again to grade this student (the same hang is stopped the same way)")
                bar.update(1)

        def finish(future) -> None:
            lab, student = job = futures.pop(future)
            started.pop(future)
            try:
                answer = future.result()
            except KilledWorker:
                if job not in retried:
                    retried.add(job)
                    queue.appendleft(job)
                    return
                answer = {"error": "the grading worker died while grading this submission, again and again "
                                   "(killed, or out of memory)"}
            except _CLUSTER_FAILURES as exc:
                client.cancel(list(futures))
                raise BatchError(f"the Dask cluster failed ({type(exc).__name__}: {exc}); nothing is lost: run "
                                 f"the command again to grade the {len(jobs) - bar.n} remaining submission(s)"
                                 ) from None
            except Exception as exc:  # noqa: BLE001 - the worker could not run the task (a missing package ...)
                answer = {"error": f"the worker could not run the grading task: {type(exc).__name__}: {exc}"}
            _record(lab.course, lab.name, student, answer, identity[job], lab.tests, lab.release, lab.summary)
            bar.update(1)

        try:
            launch()
            while futures:
                deadline = min(started[f] + limit_of(lab) for f, (lab, _) in futures.items())
                try:  # until a task ends, or the first deadline (checked at least every 5 s)
                    wait(list(futures), timeout=max(0.05, min(deadline - time.monotonic(), 5.0)),
                         return_when="FIRST_COMPLETED")
                except TimeoutError:
                    pass
                except _CLUSTER_FAILURES as exc:
                    client.cancel(list(futures))
                    raise BatchError(f"the Dask cluster failed ({type(exc).__name__}: {exc}); nothing is lost: run "
                                     f"the command again to grade the {len(jobs) - bar.n} remaining submission(s)"
                                     ) from None
                for future in [f for f in futures if f.done()]:  # in the order they were sent
                    finish(future)
                now = time.monotonic()
                overdue = [f for f, (lab, _) in futures.items() if now - started[f] > limit_of(lab)]
                if overdue:
                    abandon(overdue)
                launch()
        finally:
            bar.close()


def _stop_tasks(client, futures: list) -> dict:
    """Cancel `futures` and restart the workers running them, all at once (a task's thread cannot be stopped
    otherwise); {future: what was done}. A worker without a nanny is stopped instead, unless it runs in this
    very process (an in-process cluster), which it would take with it."""
    try:
        processing = client.processing()
    except Exception:  # noqa: BLE001 - the scheduler will say it is gone at the next call
        processing = {}
    where = {f: [w for w, keys in processing.items() if f.key in keys] for f in futures}
    client.cancel(futures)
    workers = sorted({w for ws in where.values() for w in ws})
    status = {}
    if workers:
        try:
            status = client.restart_workers(workers, timeout=60, raise_for_error=False)
        except Exception as exc:  # noqa: BLE001 - no nanny (a worker started by hand): stop the worker itself
            status = {w: type(exc).__name__ for w in workers}
    stuck = [w for w in workers if status.get(w) != "OK"]
    if stuck:
        try:
            here = _process()
            stopped = [w for w, at in client.run(_process, workers=stuck).items() if at != here]
            if stopped:
                client.run(os._exit, 1, workers=stopped, wait=False)
        except Exception:  # noqa: BLE001 - nothing more can be done from here
            stopped = []
        status.update({w: "stopped" for w in stopped})
    said = {}
    for future, ws in where.items():
        if not ws:
            said[future] = "its task was cancelled"
        elif all(status.get(w) == "OK" for w in ws):
            said[future] = f"its worker {', '.join(ws)} was restarted"
        elif all(status.get(w) in ("OK", "stopped") for w in ws):
            said[future] = f"its worker {', '.join(ws)} was stopped (it could not be restarted)"
        else:
            said[future] = "its worker could be neither restarted nor stopped (it may stay busy)"
    return said


def _process() -> tuple[str, int]:
    return socket.gethostname(), os.getpid()


def _record(course, lab, student, answer, identity, tests, release, summary) -> None:
    """Record one grade; any failure leaves this student ungraded with the reason, and the batch goes on."""
    problem = answer.get("error") if isinstance(answer, dict) else f"the worker returned {type(answer).__name__}"
    result = answer.get("result") if problem is None else None
    problem = problem or check_result(result, tests)
    if problem is None:
        sha256, timestamp = identity
        try:
            record(course, lab, Graded(student, result, sha256, timestamp, seed=summary.seeds.get(student),
                                       seconds=answer.get("seconds")), release)
        except Exception as exc:  # noqa: BLE001 - a bad row for one student never stops the others
            problem = f"recording the grade failed: {type(exc).__name__}: {exc}"
    if problem is not None:
        summary.ungraded[student] = _printable(problem)
        return
    summary.graded.append(student)
    flags = result.get("flags")
    if isinstance(flags, list) and flags:
        summary.flags[student] = [_flag_text(f) for f in flags]
    if "seconds" in answer:
        summary.seconds[student] = answer["seconds"]


def _one_line(text: str) -> str:
    """`text` on one line: a reason printed after a student's id cannot start a line of its own."""
    return " ".join(_printable(text).split())


def _printable(text, limit: int = 2000) -> str:
    """`text` with what a terminal or a UTF-8 file would choke on replaced by '?'."""
    return clean_text(str(text), limit, escapes=False, cut="")
