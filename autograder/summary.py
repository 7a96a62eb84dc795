"""What one batch run did (`Summary`), printed for the instructor and written down for `report`.

Every student id is printed with `autograder.ids.printable_id` and every reason on one line (`one_line`), so
nothing a student controls can move the cursor, retitle the terminal or forge a line of the summary.
"""
from __future__ import annotations

import datetime
import json
import sys
from dataclasses import dataclass, field

from autograder.gradebook import _atomic_write, _marker, file_sha256, scores
from autograder.ids import ascii_id, confusable_groups, printable_id, storable_id
from autograder.text import clean_text

#: What `autograde` writes beside the course's folders: the NOT GRADED students of each lab's last run, with the
#: reasons, for `python -m autograder report` (``<course>/not-graded/<lab>.json``).
NOT_GRADED_DIR = "not-graded"

#: The longest reason kept, and the longest flag message printed.
REASON_LIMIT, FLAG_LIMIT = 2000, 500


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

    def line(self) -> str:
        line = f"graded {len(self.graded)}, skipped {len(self.skipped)} already graded"
        if self.ungraded:
            line += f", {len(self.ungraded)} NOT graded (see why below; run again once fixed)"
        if self.flags:
            line += f", {len(self.flags)} flagged (graded cells deleted or retyped)"
        if self.ignored:
            line += f", files ignored in {len(self.ignored)} folder(s)"
        return line


def printable(text, limit: int = REASON_LIMIT) -> str:
    """`text` with what a terminal or a UTF-8 file would choke on replaced by '?' (`autograder.text.clean_text`:
    no escape removed, cut plainly)."""
    return clean_text(str(text), limit, escapes=False, cut="")


def one_line(text: str) -> str:
    """`text` on one line: a reason printed after a student's id cannot start a line of its own."""
    return " ".join(printable(text).split())


def flag_text(flag) -> str:
    """A flag of the result (`autograder.grading.cell_flags`) as printed under the student."""
    return printable(flag.get("message") or flag.get("grade_id") if isinstance(flag, dict) else flag, FLAG_LIMIT)


def complete(lab) -> None:
    """Fill in what the run's summary of `lab` (a `autograder.plan.Lab`) says beyond the run itself: everyone's
    score from the gradebook, the ids that look alike, and the flags of the students graded by earlier runs."""
    summary, students = lab.summary, lab.students
    summary.scores = scores(lab.course, lab.name, [s for s in students if storable_id(s)])
    summary.confusable = confusable_groups(students)
    for student in summary.skipped:  # flags of earlier runs, from the autograded notebooks
        flags = _marker(lab.course.autograded(student, lab.name)).get("flags")
        if isinstance(flags, list) and flags:
            summary.flags[student] = [flag_text(f) for f in flags]


def print_summary(lab, out, *, named: bool = False) -> None:
    """The summary line of `lab` (after its name when `named`), then a line per student: the score, or NOT GRADED
    and why, or that there was no notebook; flags and ignored files under it; then the ids that look alike."""
    summary, students = lab.summary, lab.students
    print(f"{lab.name}: {summary.line()}" if named else summary.line(), file=out)
    everyone = sorted(set(students) | set(summary.ungraded) | set(summary.ignored))
    shown = {student: printable_id(student) for student in everyone}
    width = max(map(len, shown.values()), default=0)
    for student in everyone:
        if student in summary.ungraded:
            print(f"  {shown[student]:<{width}}  NOT GRADED: {one_line(summary.ungraded[student])}", file=out)
        elif student in summary.scores or student in students:
            score, max_score = summary.scores.get(student, (0.0, 0.0))
            print(f"  {shown[student]:<{width}}  {score:g} / {max_score:g}", file=out)
        else:
            print(f"  {shown[student]:<{width}}  (no notebook to grade)", file=out)
        for flag in summary.flags.get(student, []):
            print(f"  {'':<{width}}    flagged: {one_line(flag)}", file=out)
        for name, why in summary.ignored.get(student, []):
            print(f"  {'':<{width}}    ignored: {printable_id(name)} ({one_line(why)})", file=out)
    for group in summary.confusable:
        print(f"  warning: the ids {', '.join(ascii_id(s) for s in group)} look alike (one after NFKC, case "
              "folding and look-alike letters) and were graded as different students: check that they are "
              "not one student's two folders", file=out)


def persist_not_graded(lab) -> None:
    """Write the run's NOT GRADED students of `lab`, with the reasons and the sha256 of the file they concern, to
    <course>/not-graded/<lab>.json for `report`; remove the file when everyone was graded. Best effort."""
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


def announce(labs, jobs, where: str, seed) -> None:
    """On stderr, before grading: the labs without submissions, then how many submissions of each lab go to the
    workers (`where`) and how the seeds are drawn."""
    for lab in labs:
        if not lab.students:
            print(f"no submissions of {lab.name} in {lab.course.root / lab.course.coursedir.submitted_directory}",
                  file=sys.stderr)
    if jobs:
        how = f"seeds from secret {seed}" if seed is not None else "seeds from a random per-run secret"
        counts = "; ".join(f"{lab.name}: {sum(job[0] is lab for job in jobs)} to grade, "
                           f"{len(lab.summary.skipped)} already graded" for lab in labs)
        print(f"autograde {counts}; {where}; {how}", file=sys.stderr)
