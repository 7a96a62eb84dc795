"""Grades for the LMS: Canvas's gradebook CSV and a generic wide CSV, read from nbgrader's gradebook.db.

``python -m autograder export LAB [LAB ...] --course-dir DIR [--roster canvas_export.csv]
[--out grades.csv] [--wide wide.csv]``

The Canvas file has the columns of Canvas's own gradebook export: Student, ID, SIS User
ID, SIS Login ID, Section (and Integration ID where the roster has it), then one column
per lab; its second row is Canvas's "Points Possible" row with each lab's maximum, as in
the file Canvas exports (Canvas reads it back on import and uses it for a new
assignment's points). A lab's column keeps the roster's header when the roster already
has that assignment (``05_minibatch_sgd (123456)``), so the import updates it instead of
creating a new one. Students are matched on Canvas's ID column, which is the student id
``collect`` gives them (the 12345 of Canvas's file names). A student without a
submission gets an empty cell, never a 0; a lab's score is nbgrader's: the sum of the
grades (a manual score wins over the automatic one) less the late penalty, at least 0.

Students who have a grade but are not in the roster are listed on stderr and in the
report written beside the CSV (``<out>-report.txt``): nothing is dropped silently.

The wide file has one row per student and, for each lab, a column with the lab's score
and one per test cell (``<lab>/<test>``); empty where there is no graded submission.
"""
from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from autograder import cells as nbcells
from autograder.course import open_course, require_gradebook
from autograder.gradebook import Course, CourseError

IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
OPTIONAL_IDENTITY = ("Integration ID",)  # newer Canvas exports put it between SIS Login ID and Section
POINTS_POSSIBLE = "Points Possible"


@dataclass
class Submission:
    """One student's graded submission of one lab."""

    score: float  # after the late penalty, at least 0
    raw: float
    penalty: float
    tests: dict[str, float | None]  # grade cell name: score (None: not scored yet, e.g. a manual answer)
    needs_manual: bool = False
    graded: bool = True  # False when no grade cell has a score yet


@dataclass
class LabGrades:
    lab: str
    cells: dict[str, float]  # every grade cell: max score, in the source notebook's order when known
    answers: set[str]  # grade cells that are manually graded answers (not autograded tests)
    submissions: dict[str, Submission] = field(default_factory=dict)

    @property
    def max_score(self) -> float:
        return sum(self.cells.values())

    @property
    def tests(self) -> dict[str, float]:
        return {name: points for name, points in self.cells.items() if name not in self.answers}


@dataclass
class Person:
    id: str
    first_name: str | None = None
    last_name: str | None = None
    lms_user_id: str | None = None

    @property
    def display(self) -> str:
        if self.last_name or self.first_name:
            return ", ".join(part for part in (self.last_name, self.first_name) if part)
        return self.id


def _source_order(course: Course, lab: str) -> list[str]:
    """grade_ids in the order of the source notebook's cells ([] when it cannot be read)."""
    try:
        nb = json.loads(course.source(lab).read_text(encoding="utf-8"))
        return [grade_id for grade_id in map(nbcells.grade_id, nb.get("cells", [])) if grade_id]
    except Exception:  # noqa: BLE001 - order is cosmetic
        return []


def read_grades(course: Course, labs: list[str]) -> tuple[dict[str, LabGrades], dict[str, Person]]:
    """Every lab's grade cells and every student's grades, in a few queries; and every student of the gradebook."""
    from nbgrader.api import (Assignment, Grade, GradeCell, Notebook, SolutionCell, Student, SubmittedAssignment,
                              SubmittedNotebook)

    grades = {}
    with course.gradebook() as gb:
        db = gb.db
        people = {sid: Person(sid, first, last, lms) for sid, first, last, lms in
                  db.query(Student.id, Student.first_name, Student.last_name, Student.lms_user_id)}
        for lab in labs:
            cells = dict(db.query(GradeCell.name, GradeCell.max_score)
                         .join(Notebook, GradeCell.notebook_id == Notebook.id)
                         .join(Assignment, Notebook.assignment_id == Assignment.id).filter(Assignment.name == lab))
            answers = {name for (name,) in db.query(SolutionCell.name)
                       .join(Notebook, SolutionCell.notebook_id == Notebook.id)
                       .join(Assignment, Notebook.assignment_id == Assignment.id).filter(Assignment.name == lab)}
            order = [name for name in _source_order(course, lab) if name in cells]
            cells = {name: float(cells[name]) for name in order + sorted(set(cells) - set(order))}
            grades[lab] = LabGrades(lab, cells, answers & set(cells))
        rows = (db.query(Assignment.name, SubmittedAssignment.student_id, SubmittedNotebook.id,
                         SubmittedNotebook.late_submission_penalty, GradeCell.name, Grade.auto_score,
                         Grade.manual_score, Grade.extra_credit, Grade.needs_manual_grade)
                .join(SubmittedAssignment, SubmittedAssignment.assignment_id == Assignment.id)
                .join(SubmittedNotebook, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
                .join(Grade, Grade.notebook_id == SubmittedNotebook.id)
                .join(GradeCell, GradeCell.id == Grade.cell_id)
                .filter(Assignment.name.in_(labs)))
        partial: dict[tuple[str, str], dict] = {}
        for lab, student, notebook, penalty, cell, auto, manual, extra, needs_manual in rows:
            entry = partial.setdefault((lab, student), {"tests": {}, "penalties": {}, "scored": False, "manual": False})
            score = manual if manual is not None else auto
            entry["scored"] |= score is not None
            entry["manual"] |= bool(needs_manual)
            entry["tests"][cell] = None if score is None else score + (extra or 0.0)
            entry["penalties"][notebook] = penalty or 0.0
    for (lab, student), entry in partial.items():
        raw = sum(score or 0.0 for score in entry["tests"].values())
        penalty = sum(entry["penalties"].values())
        grades[lab].submissions[student] = Submission(max(0.0, raw - penalty), raw, penalty, entry["tests"],
                                                      entry["manual"], entry["scored"])
    return grades, people


def number(value: float) -> str:
    """A score as Canvas shows it: at most two decimals, no trailing zeros."""
    text = f"{round(value, 2):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def read_roster(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the student rows of a Canvas gradebook export (the Points Possible row left out)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [name.strip() for name in (reader.fieldnames or [])]
            reader.fieldnames = header
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CourseError(f"--roster {path}: cannot read it as a CSV file ({exc}); export it from Canvas: "
                          "Grades > Export > Export Entire Gradebook") from None
    missing = [name for name in ("Student", "ID") if name not in header]
    if missing:
        raise CourseError(f"--roster {path}: no {' or '.join(missing)} column in its first row "
                          f"({', '.join(header[:8]) or 'empty'}): it is not a Canvas gradebook export; export it "
                          "from Canvas: Grades > Export > Export Entire Gradebook")
    students = [row for row in rows
                if (row.get("ID") or "").strip() and (row.get("Student") or "").strip() != POINTS_POSSIBLE]
    return header, students


def lab_header(lab: str, roster_header: list[str]) -> str:
    """The roster's column of this lab (``<lab>`` or ``<lab> (<canvas assignment id>)``), or the lab's name."""
    for name in roster_header:
        if name == lab or (name.startswith(f"{lab} (") and name.endswith(")")):
            return name
    return lab


@dataclass
class Export:
    rows: int = 0
    filled: dict[str, int] = field(default_factory=dict)  # lab: students with a score
    empty: dict[str, int] = field(default_factory=dict)  # lab: roster students without a graded submission
    not_in_roster: list[str] = field(default_factory=list)  # gradebook students with a grade, not in the roster
    ungraded: list[tuple[str, str]] = field(default_factory=list)  # (lab, student): recorded without any score
    report: Path | None = None


def canvas_rows(grades: dict[str, LabGrades], people: dict[str, Person], labs: list[str],
                roster: tuple[list[str], list[dict[str, str]]] | None) -> tuple[list[str], list[list[str]], Export]:
    """The header and rows (Points Possible first) of the Canvas CSV, and what the export did."""
    outcome = Export()
    by_canvas_id = {p.lms_user_id: p.id for p in people.values() if p.lms_user_id}
    if roster is not None:
        roster_header, roster_rows = roster
        identity = [name for name in ("Student", "ID", "SIS User ID", "SIS Login ID", "Integration ID", "Section")
                    if name in IDENTITY or name in roster_header]
        columns = [lab_header(lab, roster_header) for lab in labs]
        students = [({name: (row.get(name) or "").strip() for name in identity},
                     by_canvas_id.get((row.get("ID") or "").strip(), (row.get("ID") or "").strip()))
                    for row in roster_rows]
    else:
        identity, columns = list(IDENTITY), list(labs)
        with_grade = sorted({s for lab in labs for s in grades[lab].submissions} | set(people))
        students = [({"Student": people[s].display if s in people else s,
                      "ID": people[s].lms_user_id if s in people and people[s].lms_user_id else s}, s)
                    for s in with_grade]
    header = identity + columns
    rows = [[POINTS_POSSIBLE] + [""] * (len(identity) - 1) + [number(grades[lab].max_score) for lab in labs]]
    matched = set()
    for fields, student in students:
        matched.add(student)
        cells = []
        for lab in labs:
            submission = grades[lab].submissions.get(student)
            if submission is not None and submission.graded:
                cells.append(number(submission.score))
                outcome.filled[lab] = outcome.filled.get(lab, 0) + 1
            else:
                cells.append("")
                outcome.empty[lab] = outcome.empty.get(lab, 0) + 1
                if submission is not None:
                    outcome.ungraded.append((lab, student))
        rows.append([fields.get(name, "") for name in identity] + cells)
    outcome.rows = len(rows) - 1
    outcome.not_in_roster = sorted({s for lab in labs for s in grades[lab].submissions} - matched)
    return header, rows, outcome


def wide_rows(grades: dict[str, LabGrades], people: dict[str, Person], labs: list[str]) -> tuple[list[str], list]:
    header = ["student_id", "name"]
    for lab in labs:
        header += [lab] + [f"{lab}/{test}" for test in grades[lab].cells]
    rows = []
    for student in sorted({s for lab in labs for s in grades[lab].submissions} | set(people)):
        row = [student, people[student].display if student in people else ""]
        for lab in labs:
            submission = grades[lab].submissions.get(student)
            if submission is None or not submission.graded:
                row += [""] * (1 + len(grades[lab].cells))
                continue
            row.append(number(submission.score))
            row += [number(submission.tests[t]) if submission.tests.get(t) is not None else ""
                    for t in grades[lab].cells]
        rows.append(row)
    return header, rows


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """A CSV cell a spreadsheet shows as text: a string that starts like a formula (=, +, -, @, tab, CR) and is
    not a number gets a leading apostrophe (a student named ``=HYPERLINK(...)`` stays a name); numbers pass."""
    if not isinstance(value, str) or not value.startswith(_FORMULA):
        return value
    try:
        float(value)
        return value
    except ValueError:
        return "'" + value


def write_csv(path: Path, header: list[str], rows) -> None:
    """Write a CSV whole or not at all, every text cell spreadsheet-safe."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([spreadsheet_safe(v) for v in header])
        writer.writerows([spreadsheet_safe(v) for v in row] for row in rows)
    tmp.replace(path)


def _check_out(path: Path, flag: str) -> None:
    if not path.parent.is_dir():
        raise CourseError(f"{flag} {path}: the folder {path.parent} does not exist; create it or choose another path")
    if path.is_dir():
        raise CourseError(f"{flag} {path} is a folder; name a file, e.g. {path / 'grades.csv'}")


def export(labs: list[str], course_dir: str | Path = ".", roster: str | Path | None = None,
           out: str | Path | None = None, wide: str | Path | None = None, err=None) -> Export:
    """Write the Canvas CSV (and the wide CSV) of `labs`; every check happens before anything is written."""
    err = err or sys.stderr
    course = open_course(course_dir)
    require_gradebook(course, labs)
    out = Path(out) if out else course.root / "grades.csv"
    _check_out(out, "--out")
    if wide:
        _check_out(Path(wide), "--wide")
    roster_data = read_roster(Path(roster)) if roster else None
    grades, people = read_grades(course, labs)
    header, rows, outcome = canvas_rows(grades, people, labs, roster_data)
    write_csv(out, header, rows)
    if wide:
        write_csv(Path(wide), *wide_rows(grades, people, labs))
    lines = [f"export of {', '.join(labs)} from {course.root}: {outcome.rows} student row(s) in {out}"]
    for lab in labs:
        lines.append(f"  {lab}: {outcome.filled.get(lab, 0)} score(s), {outcome.empty.get(lab, 0)} empty "
                     f"(no graded submission), out of {number(grades[lab].max_score)} points")
    for lab, student in outcome.ungraded:
        lines.append(f"  {lab}: {student} has a submission without any score yet (empty cell): grade it")
    if roster_data is not None:
        if outcome.not_in_roster:
            lines.append(f"{len(outcome.not_in_roster)} student(s) with a grade are not in the roster {roster} "
                         "(their grades are not in the CSV): " + ", ".join(outcome.not_in_roster))
            print(lines[-1], file=err)
        else:
            lines.append(f"every student with a grade is in the roster {roster}")
    outcome.report = out.with_name(f"{out.stem}-report.txt")
    outcome.report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines), file=sys.stdout)
    return outcome


def main(args) -> int:
    try:
        export(args.labs, args.course_dir, args.roster, args.out, args.wide)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
