"""Before a batch grades anyone: the request and the course checked, each lab held (`Lab`), and the jobs planned.

Nothing here writes to the course. A lab named twice, a course without nbgrader_config.py or submitted/, an
unknown lab, a release or hidden tests that cannot be read: BatchError, before the gradebook is touched.
A submission that is no notebook, or another lab's notebook, is NOT GRADED here (`refuse`), without a kernel run;
a folder without the notebook too, and every other file in the folders is listed as ignored (`_survey`).
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

from autograder import cells as nbcells
from autograder.course import check_labs, gradebook_path, open_course, source_labs
from autograder.gradebook import CourseError, completed, ensure_assignment, graded_tests, load_course, release_notebook
from autograder.ids import printable_id, storable_id
from autograder.submission import notebook_cells
from autograder.summary import Summary


class BatchError(ValueError):
    """The batch cannot start or go on (bad course directory, unreachable scheduler): exit code 2."""

    exit_code = 2


@dataclass(eq=False)  # hashed by identity: (lab, student) pairs key the coordinator's tables
class Lab:
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


def share_preload(labs: list) -> None:
    """Give each lab's payload one kernel-template preload: what any of `labs` needs (`preload_for`), so that a
    worker grading several labs keeps one template (each template's start costs seconds and memory)."""
    from autograder.hidden import notebook_imports
    from autograder.sandbox import preload_for
    from autograder.task import lab_payload

    imported = {name for lab in labs for name in notebook_imports(lab.course.source(lab.name))}
    preload = preload_for(imported)
    for lab in labs:
        lab.payload = lab_payload(lab.course.source(lab.name), preload)


def check_options(labs: list, workers: int | None, watchdog_s: float | None) -> None:
    """BatchError unless each lab is named once, and the worker count and time limit make sense."""
    if not labs:
        raise BatchError("name at least one lab to grade, e.g. `autograde 01_perceptron`")
    repeated = sorted({lab for lab in labs if labs.count(lab) > 1})
    if repeated:
        raise BatchError(f"lab {', '.join(repeated)} named more than once; name each lab once")
    if workers is not None and workers < 1:
        raise BatchError(f"--workers must be at least 1 (got {workers})")
    if watchdog_s is not None and not watchdog_s > 0:
        raise BatchError(f"--time-limit must be a positive number of seconds (got {watchdog_s:g})")


def open_labs(course_dir, labs: list):
    """(the course, the labs its sources have), once the course, its `labs` and submitted/ are checked (no
    gradebook.db written either)."""
    try:
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
    return base, known


def hold_labs(course_dir, labs: list, base, known, *, hidden_tests: bool) -> dict[str, Lab]:
    """Every lab of `labs` loaded and checked (with its `hidden_tests` when the real grader grades) before the
    gradebook is touched; what is in its submitted/ folders surveyed."""
    held = {}
    for lab in labs:
        try:
            course = load_course(course_dir, lab)
            release = release_notebook(course, lab)
        except CourseError as exc:
            raise BatchError(str(exc)) from None
        if hidden_tests:
            _check_hidden_tests(course.source(lab), lab)
        held[lab] = Lab(lab, course, release, graded_tests(release), course.students(lab), Summary())
    identities = {name: _grade_ids(base.source(name)) for name in known}  # which lab a notebook belongs to
    for lab in held.values():
        lab.ids = identities.get(lab.name, set())
        lab.others = {name: ids for name, ids in identities.items() if name != lab.name}
        _survey(lab)
    return held


def plan_jobs(held: dict[str, Lab], base, force: bool) -> list[tuple[Lab, str]]:
    """The (lab, student) pairs to grade: every student not already graded (unless `force`) and not refused here,
    in turn across labs, so that no lab waits for all the others."""
    queues = []
    has_gradebook = gradebook_path(base) is None or gradebook_path(base).is_file()
    for lab in held.values():
        storable = [s for s in lab.students if storable_id(s)]  # the others are refused when dispatched
        done = completed(lab.course, lab.name, lab.tests, storable) if has_gradebook and not force else set()
        lab.summary.skipped = sorted(done)
        skipped = set(lab.summary.skipped)
        queue = []
        for student in (s for s in lab.students if s not in skipped):
            data = read_submitted(lab.course, lab.name, student)[0] if storable_id(student) else None
            refused = refuse(lab, data) if data is not None else None
            if refused is not None:  # no notebook, or another lab's: NOT GRADED now, no worker (nor preflight) needed
                lab.summary.ungraded[student] = refused
            else:
                queue.append((lab, student))
        queues.append(queue)
    return [job for turn in itertools.zip_longest(*queues) for job in turn if job is not None]


def _check_hidden_tests(source: Path, lab: str) -> None:
    """Stop before grading anyone when the source's hidden tests cannot run (an instructor's error, not a student's)."""
    from autograder.hidden import HiddenTestError, load_suite

    try:
        load_suite(source, lab)
    except HiddenTestError as exc:
        raise BatchError(f"cannot grade {lab}: {exc}") from None


def _grade_ids(source: Path) -> set[str]:
    """The grade_ids of a lab's source notebook (empty when it cannot be read)."""
    try:
        cells = json.loads(source.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return set()
    return nbcells.grade_ids(cells if isinstance(cells, list) else [])


def _which_lab(lab: Lab, ids: set[str]) -> str | None:
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


def refuse(lab: Lab, data: bytes) -> str | None:
    """Why a submission is NOT GRADED without a kernel run (not a notebook, or another lab's), or None."""
    cells, problem = notebook_cells(data)
    if problem is not None:
        return (f"{lab.name}.ipynb cannot be graded: {problem}. Nothing was run; ask the student to download the "
                "notebook again (Jupyter: File > Download; Colab: File > Download > Download .ipynb) and resubmit")
    other = _which_lab(lab, nbcells.grade_ids(cells))
    if other is not None:
        return (f"this is {other}'s notebook, not {lab.name}'s (its graded cells are {other}'s): nothing was run; "
                f"ask the student to submit {lab.name}.ipynb")
    return None


def _survey(lab: Lab) -> None:
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


def ensure_assignments(labs) -> None:
    for lab in labs:
        try:
            ensure_assignment(lab.course, lab.name, lab.release)
        except CourseError as exc:
            raise BatchError(str(exc)) from None


def read_submitted(course, lab, student) -> tuple[bytes | None, str | None, int]:
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
