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
"""
from __future__ import annotations

import copy
import dataclasses
import datetime
import hashlib
import html
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output, new_raw_cell
from traitlets.config import Config

from autograder import markup

MARKER = "autograder"  # key of the autograded notebook's metadata that marks a finished grade
MAX_READ_BYTES = 20 * 1024 * 1024  # larger submissions are graded, but not copied into feedback
MAX_MESSAGE_CHARS = 2000
_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


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


def _nbgrader_meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def _grade_id(cell) -> str | None:
    grade_id = _nbgrader_meta(cell).get("grade_id")
    return grade_id if isinstance(grade_id, str) else None


def graded_tests(release: nbformat.NotebookNode) -> dict[str, float]:
    """{grade_id: points} of the autograded test cells (grade cells that are not answers)."""
    return {m["grade_id"]: float(m.get("points", 0)) for m in map(_nbgrader_meta, release.cells)
            if m.get("grade") and not m.get("solution") and m.get("grade_id")}


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
    expected = {_grade_id(c): float(_nbgrader_meta(c).get("points", 0)) for c in release.cells
                if _nbgrader_meta(c).get("grade") and _grade_id(c)}
    if recorded != expected:
        raise CourseError(
            f"the gradebook's graded cells of {lab} ({_describe(recorded)}) differ from "
            f"{course.source(lab)} ({_describe(expected)}); run `nbgrader generate_assignment {lab} --force` "
            "in the course directory to record the current source")


def _describe(cells: dict[str, float]) -> str:
    return ", ".join(f"{name}: {points:g}" for name, points in sorted(cells.items())) or "none"


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


def read_submission(path: Path) -> nbformat.NotebookNode | None:
    """The submitted notebook, or None when it is unreadable or too large to copy into feedback."""
    try:
        if path.stat().st_size > MAX_READ_BYTES:
            return None
        nb = nbformat.read(path, as_version=4)
        return nb if isinstance(nb.get("cells"), list) else None
    except Exception:  # invalid JSON, nbformat 3 edge cases, deep nesting: graded from the release cells
        return None


def completed(course: Course, lab: str, tests: dict[str, float], students: list[str]) -> set[str]:
    """The students whose current submission already has a complete grade record.

    Complete means: every test cell's grade has an auto_score in the gradebook,
    and the autograded notebook's marker names the sha256 of the submitted file.
    """
    from nbgrader.api import MissingEntry

    done = set()
    with course.gradebook() as gb:
        for student in students:
            marker = _marker(course.autograded(student, lab))
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


def _marker(path: Path) -> dict:
    try:
        marker = nbformat.read(path, as_version=4).metadata.get(MARKER, {})
    except Exception:
        return {}
    return marker if isinstance(marker, dict) else {}


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
    if not _storable(graded.student):
        raise CourseError(f"the student folder name {graded.student.encode('utf-8', 'surrogateescape')!r} is not "
                          "valid UTF-8, which nbgrader's gradebook cannot store: rename the folder under submitted/ "
                          "(e.g. to plain ASCII) and run again")
    graded = dataclasses.replace(graded, result=clean(graded.result), failed=clean(graded.failed))
    submitted = clean_notebook(read_submission(course.submitted(graded.student, lab)))
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


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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


_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
_UNPRINTABLE_SOURCE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def clean(value, limit: int = 20_000):
    """`value` with every string valid UTF-8 (lone surrogates replaced), without control characters, bounded."""
    if isinstance(value, str):
        text = value.encode("utf-8", "replace").decode("utf-8")
        return _UNPRINTABLE.sub("?", text)[:limit]
    if isinstance(value, dict):
        return {clean(k, 200) if isinstance(k, str) else k: clean(v, limit) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v, limit) for v in value]
    return value


def clean_source(text: str) -> str:
    """A cell's source made storable: lone surrogates and control characters (but tabs and line ends) and
    bidirectional overrides become U+FFFD; nothing is cut (the cell is the student's work)."""
    return _UNPRINTABLE_SOURCE.sub("\ufffd", text)


def clean_notebook(nb: nbformat.NotebookNode | None) -> nbformat.NotebookNode | None:
    """A copy of a submitted notebook whose cells can be written whatever they held: sources cleaned
    (`clean_source`), every other string of a cell (type, id, metadata, outputs) cleaned (`clean`)."""
    if nb is None:
        return None
    cells = []
    for cell in nb.get("cells", []):
        if not isinstance(cell, dict):
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(s for s in source if isinstance(s, str))
        fresh = clean({k: v for k, v in cell.items() if k != "source"}, MAX_READ_BYTES)
        fresh["source"] = clean_source(source) if isinstance(source, str) else ""
        cells.append(fresh)
    out = nbformat.from_dict({k: clean(v) for k, v in nb.items() if k != "cells"})
    out.cells = [nbformat.from_dict(c) for c in cells]
    return out


def _stage(path: Path, data: bytes) -> str:
    """Write `data` to a fsynced temporary file beside `path`; return its name (os.replace it onto `path`)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
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
    from nbgrader import utils
    from nbgrader.api import Comment, Grade, Student, SubmittedAssignment, SubmittedNotebook
    from nbgrader.preprocessors import AssignLatePenalties

    db = gb.db
    scores = {t["grade_id"]: t for t in graded.result.get("tests", [])}
    cells = {}
    for cell in autograded.cells:
        grade_id = _grade_id(cell)
        if grade_id:
            cells[grade_id] = cell
    try:
        with db.no_autoflush:  # build the whole record, then flush and commit it at once
            assignment = gb.find_assignment(lab)
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
            for notebook in assignment.notebooks:
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
                if notebook.name != lab:
                    continue
                solutions = {c.name for c in notebook.solution_cells}
                for cell in notebook.grade_cells:
                    grade = grades[cell.id]
                    if cell.name in solutions:  # a manually graded answer: nbgrader's determine_grade rule
                        answer = cells.get(cell.name)
                        grade.auto_score = 0.0 if answer is None else utils.determine_grade(answer)[0]
                    else:
                        test = scores.get(cell.name)
                        score = float(test["score"]) if test else 0.0
                        grade.auto_score = min(max(score, 0.0), float(cell.max_score))
                    grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
                for cell in [*notebook.solution_cells, *notebook.task_cells]:
                    answer = cells.get(cell.name)
                    unchanged = answer is None or (
                        _nbgrader_meta(answer).get("checksum") == utils.compute_checksum(answer) and not utils.is_task(answer))
                    comments[cell.id].auto_comment = "No response." if unchanged else None
                lab_notebook = snb
            db.flush()
            db.expire(lab_notebook, ["score"])  # a SQL expression over the grades just written
            _late_penalty(lab_notebook, submission, AssignLatePenalties(config=config or Config()))
        db.commit()
    except BaseException:
        db.rollback()
        raise


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


# ---------------------------------------------------------------- the autograded notebook

def _fresh_cell(cell_type: str, source: str, nbgrader: dict | None):
    make = {"code": new_code_cell, "markdown": new_markdown_cell}.get(cell_type, new_raw_cell)
    cell = make(source=source)
    if nbgrader:
        cell.metadata["nbgrader"] = copy.deepcopy(nbgrader)
    return cell


def _source_text(cell) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def autograded_notebook(release: nbformat.NotebookNode, submitted: nbformat.NotebookNode | None,
                        graded: Graded) -> nbformat.NotebookNode:
    """The submission as nbgrader's feedback should show it.

    Locked cells (tests, instructions) come from the release, hidden tests
    excluded; answers come from the student with the release's metadata; a
    cell whose grade_id the release does not know, or that repeats one, loses
    its nbgrader metadata (the last repeat counts, as in nbgrader); deleted
    graded cells are put back after their predecessor. Student outputs are
    dropped; each test cell gets its verdict as output, and a summary cell
    opens the notebook. Without a readable submission, the release is shown.
    """
    reference = {}
    for cell in release.cells:
        if _grade_id(cell):
            reference[_grade_id(cell)] = cell

    cells = []
    if submitted is None:
        cells = [_fresh_cell(c.cell_type, _source_text(c), _nbgrader_meta(c)) for c in release.cells]
    else:
        last = {}
        for index, cell in enumerate(submitted.cells):
            if isinstance(cell, dict) and _grade_id(cell) in reference:
                last[_grade_id(cell)] = index
        for index, cell in enumerate(submitted.cells):
            if not isinstance(cell, dict):
                continue
            grade_id = _grade_id(cell)
            ref = reference.get(grade_id) if last.get(grade_id) == index else None
            if ref is None:
                cell_type = cell.get("cell_type") if cell.get("cell_type") in ("code", "markdown") else "raw"
                cells.append(_fresh_cell(cell_type, _source_text(cell), None))
            elif _nbgrader_meta(ref).get("locked"):
                cells.append(_fresh_cell(ref.cell_type, ref.source, _nbgrader_meta(ref)))
            else:
                cells.append(_fresh_cell(ref.cell_type, _source_text(cell), _nbgrader_meta(ref)))
        _restore_missing(cells, release)

    tests = {t.get("grade_id"): t for t in graded.result.get("tests", []) if isinstance(t, dict)}
    for cell in cells:
        test = tests.get(_grade_id(cell))
        if cell.cell_type == "code" and test is not None and _nbgrader_meta(cell).get("grade"):
            cell.outputs = [new_output("stream", name="stdout", text=_verdict(test))]
    flagged = {f.get("grade_id"): f for f in graded.result.get("flags") or [] if isinstance(f, dict)}
    for cell in cells:  # the cell a submission retyped or deleted says so where it stands (shown from the release)
        flag = flagged.get(_grade_id(cell))
        if flag is not None and cell.cell_type == "code":
            note = f"[autograder] {_flag_message(flag)}\n"
            cell.outputs = [new_output("stream", name="stdout", text=note), *cell.get("outputs", [])]

    nb = nbformat.v4.new_notebook(metadata=copy.deepcopy(release.metadata))
    nb.metadata[MARKER] = {
        "submission_sha256": graded.sha256,
        "score": float(graded.result.get("score", 0.0)),
        "max_score": float(graded.result.get("max_score", 0.0)),
        "seed": graded.seed,
        "seconds": None if graded.seconds is None else round(graded.seconds, 3),
        "flags": [f for f in graded.result.get("flags") or [] if isinstance(f, dict)],  # cells deleted or retyped
        "graded_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    nb.cells = [new_markdown_cell(summary_markdown(graded))] + cells
    markup.clean_notebook(nb)  # student Markdown and outputs made safe for the instructor's browser; never signed
    seen = set()
    for cell in nb.cells:
        cell_id = cell.get("id")
        if not isinstance(cell_id, str) or not _CELL_ID.match(cell_id) or cell_id in seen:
            cell.id = nbformat.v4.nbbase.random_cell_id()
        seen.add(cell.id)
    nbformat.validate(nb)
    return nb


def _restore_missing(cells: list, release: nbformat.NotebookNode) -> None:
    """Put back graded and locked cells the student deleted, after the release cell that precedes them."""
    present = {_grade_id(c) for c in cells if _grade_id(c)}
    previous = None
    for ref in release.cells:
        grade_id = _grade_id(ref)
        if not grade_id:
            continue
        meta = _nbgrader_meta(ref)
        if grade_id not in present and (meta.get("grade") or meta.get("locked") or meta.get("task")):
            at = next((i + 1 for i, c in enumerate(cells) if previous and _grade_id(c) == previous), len(cells))
            cells.insert(at, _fresh_cell(ref.cell_type, ref.source, meta))
            present.add(grade_id)
        previous = grade_id


def _verdict(test: dict) -> str:
    status = "PASSED" if test.get("passed") else "FAILED"
    line = f"[autograder] {status} {test.get('grade_id')}: {float(test.get('score', 0)):g} / {float(test.get('max_score', 0)):g} points"
    message = str(test.get("message") or "").strip()
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + " [...]"
    return line + ("\n" + message if message else "") + "\n"


_MARKDOWN_SPECIAL = frozenset("!#$&()*<>[\\]^_`{|}~")  # what can start markup mid-line (tags, links, emphasis, code)
MAX_TABLE_MESSAGE = 300  # characters of a failure message in the summary table (the test cell's output has it all)


def markdown_text(text, limit: int = MAX_TABLE_MESSAGE) -> str:
    """Student text made inert inside Markdown, on one line: every character that can start markup mid-line written
    as a numeric HTML entity (so no tag, link, image, emphasis, table bar, math or code span can start), whitespace
    runs collapsed."""
    text = " ".join(str(text).split())
    cut = len(text) > limit
    return "".join(f"&#{ord(c)};" if c in _MARKDOWN_SPECIAL else c for c in text[:limit]) + (" [...]" if cut else "")


def _flag_message(flag) -> str:
    if isinstance(flag, dict):
        return str(flag.get("message") or f"cell {flag.get('grade_id')}: {flag.get('problem')}")
    return str(flag)


def summary_markdown(graded: Graded) -> str:
    """The opening cell of the autograded notebook, readable in ten seconds: the total; the graded cells the
    submission deleted or retyped and the locked cells it edited; one row per test with every failed test's message
    beside its verdict; then the problems met while grading. Everything from the submission is made inert
    (`markdown_text`, or HTML-escaped inside <pre>)."""
    result = graded.result
    lines = [f"## Autograded tests: {float(result.get('score', 0)):g} / {float(result.get('max_score', 0)):g} points",
             ""]
    changed = [_flag_message(f) for f in result.get("flags") or [] if f]
    edited = [g for g in result.get("locked_cells_edited") or [] if isinstance(g, str)]
    changed += [f"locked cell `{g}` was edited or removed: it was graded with the release's version" for g in edited]
    if changed:
        lines += ["**Cells you changed that the grader needs as released** (fix these first):", ""]
        lines += [f"- {markdown_text(text, MAX_MESSAGE_CHARS)}" for text in changed]
        lines.append("")
    lines += ["| test | points | result | why it failed |", "|---|---|---|---|"]
    for test in result.get("tests", []):
        passed = bool(test.get("passed"))
        why = "" if passed else markdown_text(test.get("message") or "(no message)")
        lines.append(f"| {markdown_text(test.get('grade_id'), 100)} | "
                     f"{float(test.get('score', 0)):g} / {float(test.get('max_score', 0)):g} | "
                     f"{'passed' if passed else '**failed**'} | {why} |")
    problems = [*([graded.failed] if graded.failed else []), *map(str, result.get("errors", []))]
    if problems:
        text = "\n".join(p[:MAX_MESSAGE_CHARS] for p in problems)
        lines += ["", "Problems while grading:", "", f"<pre>{html.escape(text)}</pre>"]
    lines += ["", "Each test cell below shows its verdict as output. The public checks in the notebook are not the "
              "whole grade: hidden tests also ran, outside your notebook."]
    return "\n".join(lines)


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
