"""What nbgrader keeps of a graded submission: the gradebook rows and the autograded notebook.

``nbgrader generate_feedback`` and ``nbgrader export`` read exactly two things
after an autograde: ``gradebook.db`` and ``autograded/<student>/<lab>/<lab>.ipynb``.
This module writes both from a grade result (see autograder.grading), mirroring
what nbgrader's own autograde does (converters/autograde.py,
preprocessors/overwritecells.py, deduplicateids.py, saveautogrades.py), with
three differences:

* one submission is one database transaction: the student, the submission and
  every grade and comment are committed together, never half;
* the autograded notebook restores the released test cells, never the hidden
  tests (nbgrader writes them back, #1363), and carries the verdicts as
  outputs plus a summary cell, so the feedback says what went wrong;
* a submission counts as graded only when its gradebook record is complete AND
  its autograded notebook, written atomically after the commit, names the
  sha256 of the submitted file it was graded from. A run killed between the
  two is graded again and updates the same rows in place.

The autograded notebook itself is built in autograder.autograded, its summary cell and verdicts in
autograder.feedback, the nbgrader metadata of cells read through autograder.cells.
"""
from __future__ import annotations

import copy
import dataclasses
import datetime
import hashlib
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
from traitlets.config import Config

from autograder import cells
from autograder.autograded import (MARKER, autograded_notebook, clean, clean_notebook, load_notebook_for_feedback,
                                   read_marker)
from autograder.feedback import markdown_text, summary_markdown
from autograder.ids import storable_id

# names other modules import from here: the autograded notebook and its feedback live in autograder.autograded and
# autograder.feedback
__all__ = ["MARKER", "Course", "CourseError", "Graded", "alembic_on_path", "autograded_notebook", "clean",
           "clean_notebook", "completed", "ensure_assignment", "file_sha256", "graded_tests", "load_course",
           "markdown_text", "record", "release_notebook", "scores", "storable_id", "summary_markdown"]
_marker = read_marker  # autograder.batch's name for it
FILE_MODE = 0o644  # of the files written for nbgrader (rw-r--r--: its feedback and export read them)


class CourseError(ValueError):
    """The course directory or its gradebook cannot be used as it stands."""


@dataclass(frozen=True)
class Course:
    """A course directory in nbgrader's layout, with its nbgrader configuration."""

    root: Path
    config: Config

    @property
    def coursedir(self):
        from nbgrader.coursedir import CourseDirectory

        return CourseDirectory(config=self.config)

    @property
    def db_url(self) -> str:
        return self.coursedir.db_url

    @property
    def course_id(self) -> str:
        return self.coursedir.course_id

    def path(self, step: str, student: str, lab: str) -> Path:
        """The folder of one step (source, submitted, autograded, ...) for a student and a lab."""
        coursedir = self.coursedir
        directory = getattr(coursedir, f"{step}_directory")
        return Path(coursedir.format_path(directory, student, lab))

    def source(self, lab: str) -> Path:
        return self.path("source", ".", lab) / f"{lab}.ipynb"

    def submitted(self, student: str, lab: str) -> Path:
        return self.path("submitted", student, lab) / f"{lab}.ipynb"

    def autograded(self, student: str, lab: str) -> Path:
        return self.path("autograded", student, lab) / f"{lab}.ipynb"

    def students(self, lab: str) -> list[str]:
        """The students with a submitted/<student>/<lab>/<lab>.ipynb, sorted."""
        submitted = self.root / self.coursedir.submitted_directory
        if not submitted.is_dir():
            return []
        return sorted(p.name for p in submitted.iterdir() if (p / lab / f"{lab}.ipynb").is_file())

    def gradebook(self):
        from nbgrader.api import Gradebook

        alembic_on_path()
        return Gradebook(self.db_url, course_id=self.course_id)


def alembic_on_path() -> None:
    """nbgrader creates a gradebook with the `alembic` executable that sits beside this interpreter."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def load_course(root: str | Path, lab: str | None = None) -> Course:
    """Read ``<root>/nbgrader_config.py`` the way nbgrader does (traitlets) and pin the course root.

    Without a config file, or when it leaves source_directory unset, the source
    directory is ``solutions`` or ``source``, whichever holds ``<lab>/<lab>.ipynb``.
    """
    from traitlets.config.loader import PyFileConfigLoader

    root = Path(root).resolve()
    if not root.is_dir():
        raise CourseError(f"{root}: no such course directory; pass --course-dir DIR")
    config = Config()
    config_file = root / "nbgrader_config.py"
    if config_file.exists():
        sys.path.insert(0, str(root))  # the config may import helpers that sit beside it
        try:
            config.merge(PyFileConfigLoader(config_file.name, path=str(root)).load_config())
        except Exception as exc:
            raise CourseError(f"{config_file}: cannot load the nbgrader config ({type(exc).__name__}: {exc})") from None
        finally:
            sys.path.remove(str(root))
    config.CourseDirectory.root = str(root)
    if lab and "source_directory" not in config.CourseDirectory:
        for candidate in ("solutions", "source"):
            if (root / candidate / lab / f"{lab}.ipynb").is_file():
                config.CourseDirectory.source_directory = candidate
                break
    return Course(root, config)


def release_notebook(course: Course, lab: str) -> nbformat.NotebookNode:
    """The source notebook as nbgrader releases it: solutions stubbed, hidden tests and outputs gone.

    These are the cells an autograded notebook may show; the source notebook
    itself never leaves the coordinator.
    """
    from nbgrader.preprocessors import (ClearHiddenTests, ClearMarkScheme, ClearOutput, ClearSolutions,
                                        ComputeChecksums, LockCells)

    source = course.source(lab)
    if not source.is_file():
        raise CourseError(f"unknown lab {lab}: no source notebook {source}")
    nb = nbformat.read(source, as_version=4)
    resources = {"nbgrader": {"assignment": lab, "notebook": lab}}
    for preprocessor in (LockCells, ClearSolutions, ClearOutput, ComputeChecksums,
                         ClearHiddenTests, ClearMarkScheme, ComputeChecksums):
        nb, resources = preprocessor(config=course.config).preprocess(nb, resources)
    return nb


def graded_tests(release: nbformat.NotebookNode) -> dict[str, float]:
    """{grade_id: points} of the autograded test cells (grade cells that are not answers)."""
    return cells.graded_tests(release.cells)


def ensure_assignment(course: Course, lab: str, release: nbformat.NotebookNode) -> None:
    """Make sure the gradebook knows the lab and its cells, as ``nbgrader generate_assignment`` records them.

    When the lab is missing, nbgrader's generate_assignment runs once on the
    source (its release/ output goes to a scratch folder). When the gradebook's
    graded cells differ from the source's, stop: grading against stale cells
    would write wrong maxima.
    """
    from nbgrader.api import MissingEntry

    with course.gradebook() as gb:
        try:
            notebook = gb.find_notebook(lab, lab)
        except MissingEntry:
            notebook = None
        recorded = None if notebook is None else {c.name: float(c.max_score) for c in notebook.grade_cells}
    if recorded is None:
        _generate_assignment(course, lab)
        with course.gradebook() as gb:
            recorded = {c.name: float(c.max_score) for c in gb.find_notebook(lab, lab).grade_cells}
    expected = cells.graded_cells(release.cells)
    if recorded != expected:
        raise CourseError(
            f"the gradebook's graded cells of {lab} ({_describe(recorded)}) differ from "
            f"{course.source(lab)} ({_describe(expected)}); run `nbgrader generate_assignment {lab} --force` "
            "in the course directory to record the current source")


def _describe(points_of: dict[str, float]) -> str:
    return ", ".join(f"{name}: {points:g}" for name, points in sorted(points_of.items())) or "none"


def _generate_assignment(course: Course, lab: str) -> None:
    from nbgrader.apps import NbGraderAPI

    alembic_on_path()
    config = copy.deepcopy(course.config)
    with tempfile.TemporaryDirectory(prefix="autograde-release-") as scratch:
        config.CourseDirectory.release_directory = str(Path(scratch) / "release")
        config.Exchange.root = str(Path(scratch) / "exchange")
        os.makedirs(config.Exchange.root)
        result = NbGraderAPI(config=config).generate_assignment(lab, force=True, create=True)
    if not result.get("success"):
        log = ((result.get("log") or "") + (result.get("error") or "")).strip()
        raise CourseError(f"nbgrader generate_assignment {lab} failed:\n{log}")


# ---------------------------------------------------------------- the grade record

@dataclass
class Graded:
    """One submission's grade, as the coordinator records it."""

    student: str
    result: dict  # grade_notebook's result: score, max_score, tests, errors
    sha256: str  # of the submitted file that was graded
    timestamp: datetime.datetime | None = None  # nbgrader's timestamp.txt, when submitted with one
    failed: str | None = None  # why grading raised, when it did (scored 0)
    seed: int | None = None
    seconds: float | None = None  # how long grading took on the worker


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def completed(course: Course, lab: str, tests: dict[str, float], students: list[str]) -> set[str]:
    """The students whose current submission already has a complete grade record.

    Complete means: every test cell's grade has an auto_score in the gradebook,
    and the autograded notebook's marker names the sha256 of the submitted file.
    """
    from nbgrader.api import MissingEntry

    done = set()
    with course.gradebook() as gb:
        for student in students:
            marker = read_marker(course.autograded(student, lab))
            if not marker:
                continue
            try:
                submission = gb.find_submission_notebook(lab, lab, student)
            except MissingEntry:
                continue
            scored = {g.name for g in submission.grades if g.auto_score is not None}
            try:
                current = file_sha256(course.submitted(student, lab))
            except OSError:  # unreadable now: not complete; the batch says why when it tries to read it
                continue
            if set(tests) <= scored and marker.get("submission_sha256") == current:
                done.add(student)
    return done


def record(course: Course, lab: str, graded: Graded, release: nbformat.NotebookNode) -> None:
    """Record one submission: its gradebook rows and its autograded notebook, together or not at all.

    Every string of the result and of the submitted cells is made storable first (`clean`, `clean_notebook`):
    whatever a submission holds (lone surrogates, control characters), the database and the notebook get valid
    UTF-8. Everything that can fail on the submission's content (building and serialising the notebook, writing
    it to disk) happens before the gradebook transaction: the files are written as fsynced temporary files beside
    their final names, the transaction commits, and only renames in one folder remain. A failure before the
    commit leaves the gradebook and the folder as they were; a rename that fails after it withdraws the new
    scores (`_withdraw`); a kill between the two leaves the old marker, so `completed` grades the student again.
    A student id that is not valid UTF-8 (a folder name of raw bytes) cannot be stored by nbgrader: CourseError.
    """
    if not storable_id(graded.student):
        raise CourseError(f"the student folder name {graded.student.encode('utf-8', 'surrogateescape')!r} is not "
                          "valid UTF-8, which nbgrader's gradebook cannot store: rename the folder under submitted/ "
                          "(e.g. to plain ASCII) and run again")
    graded = dataclasses.replace(graded, result=clean(graded.result), failed=clean(graded.failed))
    submitted = clean_notebook(load_notebook_for_feedback(course.submitted(graded.student, lab)))
    autograded = autograded_notebook(release, submitted, graded)
    notebook = nbformat.writes(autograded).encode("utf-8")
    folder = course.autograded(graded.student, lab).parent
    folder.mkdir(parents=True, exist_ok=True)
    files = {folder / f"{lab}.ipynb": notebook}
    stamp = course.submitted(graded.student, lab).parent / "timestamp.txt"
    if stamp.is_file():
        files[folder / "timestamp.txt"] = stamp.read_bytes()
    staged = []
    try:
        for path, data in files.items():
            staged.append((_stage(path, data), path))
        with course.gradebook() as gb:
            _commit(gb, lab, graded, autograded, course.config)
        try:
            for tmp, path in sorted(staged, key=lambda item: item[1].suffix == ".ipynb"):  # the marker last
                os.replace(tmp, path)
        except BaseException:
            _withdraw(course, lab, graded.student)
            raise
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _withdraw(course: Course, lab: str, student: str) -> None:
    """Clear the auto scores of `student`'s `lab` just committed (their notebook could not be written): the
    gradebook then holds no grade the files do not show, and `completed` grades them again. Best effort."""
    from nbgrader.api import MissingEntry

    try:
        with course.gradebook() as gb:
            try:
                submission = gb.find_submission_notebook(lab, lab, student)
            except MissingEntry:
                return
            for grade in submission.grades:
                grade.auto_score = None
                grade.needs_manual_grade = True
            gb.db.commit()
    except Exception:  # noqa: BLE001 - the record's own error is the one to report
        pass


def _stage(path: Path, data: bytes) -> str:
    """Write `data` to a fsynced temporary file beside `path`; return its name (os.replace it onto `path`)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = _stage(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _commit(gb, lab: str, graded: Graded, autograded: nbformat.NotebookNode, config: Config | None = None) -> None:
    """Create or update the student, the submission, its grades, comments and late penalty; commit once."""
    from nbgrader.preprocessors import AssignLatePenalties

    db = gb.db
    scores = {t["grade_id"]: t for t in graded.result.get("tests", [])}
    answers = {}
    for cell in autograded.cells:
        grade_id = cells.grade_id(cell)
        if grade_id:
            answers[grade_id] = cell
    try:
        with db.no_autoflush:  # build the whole record, then flush and commit it at once
            assignment = gb.find_assignment(lab)
            submission = _submission_row(db, assignment, graded)
            for notebook in assignment.notebooks:
                snb, grades, comments = _notebook_rows(db, notebook, submission)
                if notebook.name != lab:
                    continue
                _score_cells(notebook, grades, comments, scores, answers)
                lab_notebook = snb
            db.flush()
            db.expire(lab_notebook, ["score"])  # a SQL expression over the grades just written
            _late_penalty(lab_notebook, submission, AssignLatePenalties(config=config or Config()))
        db.commit()
    except BaseException:
        db.rollback()
        raise


def _submission_row(db, assignment, graded: Graded):
    """The student's SubmittedAssignment of `assignment` (the student and the row created when new), stamped."""
    from nbgrader.api import Student, SubmittedAssignment

    student = db.get(Student, graded.student)
    if student is None:
        student = Student(id=graded.student)
        db.add(student)
    submission = db.query(SubmittedAssignment).filter_by(assignment=assignment, student=student).one_or_none()
    if submission is None:
        submission = SubmittedAssignment(assignment=assignment, student=student)
        db.add(submission)
    if graded.timestamp is not None:
        submission.timestamp = graded.timestamp
    return submission


def _notebook_rows(db, notebook, submission) -> tuple:
    """The SubmittedNotebook of `notebook` and its {cell id: Grade} and {cell id: Comment}, missing rows created."""
    from nbgrader.api import Comment, Grade, SubmittedNotebook

    snb = next((n for n in submission.notebooks if n.notebook_id == notebook.id), None)
    if snb is None:
        snb = SubmittedNotebook(notebook=notebook, assignment=submission)
        db.add(snb)
    grades = {g.cell_id: g for g in snb.grades}
    comments = {c.cell_id: c for c in snb.comments}
    for cell in [*notebook.grade_cells, *notebook.task_cells]:
        if cell.id not in grades:
            grades[cell.id] = Grade(cell_id=cell.id, notebook=snb)
            db.add(grades[cell.id])
    for cell in [*notebook.solution_cells, *notebook.task_cells]:
        if cell.id not in comments:
            comments[cell.id] = Comment(cell_id=cell.id, notebook=snb)
            db.add(comments[cell.id])
    return snb, grades, comments


def _score_cells(notebook, grades: dict, comments: dict, scores: dict, answers: dict) -> None:
    """Each grade cell's auto_score (a test's from `scores`, an answer's by nbgrader's determine_grade) and each
    answer's auto_comment ("No response." when left as released), as nbgrader's autograde sets them."""
    from nbgrader import utils

    solutions = {c.name for c in notebook.solution_cells}
    for cell in notebook.grade_cells:
        grade = grades[cell.id]
        if cell.name in solutions:  # a manually graded answer: nbgrader's determine_grade rule
            answer = answers.get(cell.name)
            grade.auto_score = 0.0 if answer is None else utils.determine_grade(answer)[0]
        else:
            test = scores.get(cell.name)
            score = float(test["score"]) if test else 0.0
            grade.auto_score = min(max(score, 0.0), float(cell.max_score))
        grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
    for cell in [*notebook.solution_cells, *notebook.task_cells]:
        answer = answers.get(cell.name)
        unchanged = answer is None or (
            cells.nbgrader(answer).get("checksum") == utils.compute_checksum(answer) and not utils.is_task(answer))
        comments[cell.id].auto_comment = "No response." if unchanged else None


def _late_penalty(snb, submission, assigner) -> None:
    """nbgrader's AssignLatePenalties: ask the configured plugin, clamp to [0, score]."""
    snb.late_submission_penalty = None
    if submission.total_seconds_late > 0:
        score = float(snb.score)
        assigner.init_plugin()
        penalty = assigner.plugin_inst.late_submission_penalty(submission.student_id, score,
                                                               submission.total_seconds_late)
        if penalty is not None:
            snb.late_submission_penalty = min(max(float(penalty), 0.0), score)


def scores(course: Course, lab: str, students: list[str]) -> dict[str, tuple[float, float]]:
    """{student: (score, max_score)} of the lab's recorded submissions among `students`."""
    from nbgrader.api import MissingEntry

    out = {}
    with course.gradebook() as gb:
        for student in students:
            try:
                submission = gb.find_submission(lab, student)
            except MissingEntry:
                continue
            out[student] = (float(submission.score), float(submission.max_score))
    return out
