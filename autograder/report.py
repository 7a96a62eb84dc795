"""The class report: one self-contained HTML file and a CSV of the same numbers, per lab.

``python -m autograder report LAB [LAB ...] --course-dir DIR [--out report.html]``

Where the numbers come from:

* scores and each test's score: nbgrader's gradebook.db (`autograder.export.read_grades`);
  a test passed when it scored its full points;
* failure messages, grading time and the problems met while grading: the autograded
  notebooks (``autograded/<student>/<lab>/<lab>.ipynb``), where `autograder.gradebook`
  writes each test's verdict as the test cell's output (``[autograder] FAILED <test>: ...``
  then the message), the grading time in the notebook's ``autograder`` metadata and the
  problems in the summary cell. Messages are grouped after masking numbers (``expected
  0.5, got 0.25`` and ``expected 0.7, got 0.1`` are one mistake);
* students not graded: every ``submitted/<student>/<lab>/`` without a recorded grade, or
  whose notebook changed after it was graded, and every other file in those folders. The
  reason autograde gave (NOT GRADED: not a notebook, another lab's notebook, a failure of
  the machinery) comes from ``not-graded/<lab>.json``, which autograde rewrites on every run,
  as long as the submitted file is still the one it concerns;
* flagged students: the graded cells a submission deleted or retyped (``flags`` in the
  autograded notebook's ``autograder`` metadata) and the locked cells it edited.

Plots are drawn with matplotlib's Agg canvas (no display, no pyplot state) and embedded
as base64 PNG; every bar carries its own label, so no legend is needed. Everything a
student wrote (ids, messages) is HTML-escaped. The page loads nothing from the network.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import html
import io
import json
import re
import statistics
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import open_course, require_gradebook
from autograder.export import LabGrades, number, read_grades, write_csv
from autograder.feedback import PROBLEMS, PROBLEMS_HEADING, VERDICT
from autograder.gradebook import MARKER, Course, CourseError

TOP_MESSAGES = 5  # failure messages shown per test
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
MAX_NOTEBOOK_BYTES = 64 << 20  # an autograded notebook larger than this is not read for messages
MAX_FLAG_CHARS = 500  # characters of a flag's message in the report
MAX_EXAMPLE_CHARS = 1000  # characters of the example shown for a failure message


def mask(message: str) -> str:
    """The message with every number replaced by N and runs of whitespace collapsed: one key per mistake."""
    text = " ".join(message.split())
    return _NUMBER.sub("N", text)[:300]


@dataclass
class LabReport:
    lab: str
    grades: LabGrades
    submitted: list[str] = field(default_factory=list)  # students with a submitted/<student>/<lab>/ folder
    not_graded: dict[str, str] = field(default_factory=dict)  # student: why
    other_files: dict[str, list[str]] = field(default_factory=dict)  # student: files beside the notebook
    failures: dict[str, Counter] = field(default_factory=dict)  # test: Counter of masked messages
    examples: dict[tuple[str, str], str] = field(default_factory=dict)  # (test, masked): first message seen
    seconds: dict[str, float] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)  # student: problems met while grading
    flags: dict[str, list[str]] = field(default_factory=dict)  # student: graded cells deleted or retyped

    @property
    def scores(self) -> dict[str, float]:
        return {s: sub.score for s, sub in self.grades.submissions.items() if sub.graded}

    def pass_counts(self) -> dict[str, tuple[int, int]]:
        """test: (passed, graded submissions)."""
        counts = {}
        graded = [sub for sub in self.grades.submissions.values() if sub.graded]
        for test, points in self.grades.tests.items():
            passed = sum(1 for sub in graded if (sub.tests.get(test) or 0.0) >= points - 1e-9)
            counts[test] = (passed, len(graded))
        return counts


def _read_autograded(path: Path) -> dict | None:
    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return None
        nb = json.loads(path.read_bytes())
        return nb if isinstance(nb, dict) and isinstance(nb.get("cells"), list) else None
    except (OSError, ValueError, RecursionError):
        return None


def _text(value) -> str:
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return value if isinstance(value, str) else ""


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def not_graded_reasons(course: Course, lab: str) -> dict[str, dict]:
    """{student: {"reason", "sha256"}} of autograde's last run of `lab` (``not-graded/<lab>.json``); {} without it."""
    from autograder.batch import NOT_GRADED_DIR

    try:
        data = json.loads((course.root / NOT_GRADED_DIR / f"{lab}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    students = data.get("students") if isinstance(data, dict) else None
    if not isinstance(students, dict):
        return {}
    return {str(s): v for s, v in students.items() if isinstance(v, dict) and isinstance(v.get("reason"), str)}


def gather(course: Course, lab: str, grades: LabGrades) -> LabReport:
    """What the report says of `lab`: from submitted/, autograde's NOT GRADED list and the autograded notebooks."""
    report = LabReport(lab, grades)
    coursedir = course.coursedir  # one instance: building a CourseDirectory costs more than reading a notebook

    def notebook(step: str, student: str) -> Path:
        return Path(coursedir.format_path(getattr(coursedir, f"{step}_directory"), student, lab)) / f"{lab}.ipynb"

    submitted_root = Path(coursedir.format_path(coursedir.submitted_directory, ".", "."))
    if submitted_root.is_dir():
        report.submitted = sorted(p.name for p in submitted_root.iterdir() if (p / lab).is_dir())
    kept = not_graded_reasons(course, lab)
    for student in report.submitted:
        _note_submission(report, student, notebook("submitted", student), kept.get(student))
    for student, submission in grades.submissions.items():
        if not submission.graded:
            continue
        nb = _read_autograded(notebook("autograded", student))
        if nb is None:
            continue
        _note_marker(report, student, nb, notebook("submitted", student))
        _note_feedback(report, student, nb)
    return report


def _note_submission(report: LabReport, student: str, submitted: Path, reason: dict | None) -> None:
    """The files beside the student's submitted notebook, and why it has no grade when it has none."""
    lab = report.lab
    others = sorted(p.name for p in submitted.parent.iterdir() if p.name not in (f"{lab}.ipynb", "timestamp.txt"))
    if others:
        report.other_files[student] = others
    if not submitted.is_file():
        report.not_graded[student] = f"no {lab}.ipynb in submitted/{student}/{lab}/"
    elif student not in report.grades.submissions or not report.grades.submissions[student].graded:
        current = _digest(submitted) if reason else None
        if reason and reason.get("sha256") in (None, current):
            report.not_graded[student] = f"NOT GRADED by autograde: {reason['reason']}"
        elif reason:
            report.not_graded[student] = ("no grade recorded; the file changed since autograde did not grade it "
                                          f"({reason['reason']}): run autograde again")
        else:
            report.not_graded[student] = ("no grade recorded: autograde has not graded this submission (when the "
                                          "grader fails it says why, NOT GRADED); run autograde again")


def _note_marker(report: LabReport, student: str, nb: dict, submitted: Path) -> None:
    """From the autograded notebook's marker: the grading time, the flags, and whether the file changed since."""
    marker = nb.get("metadata", {}).get(MARKER)
    marker = marker if isinstance(marker, dict) else {}
    if isinstance(marker.get("seconds"), (int, float)):
        report.seconds[student] = float(marker["seconds"])
    flags = marker.get("flags")
    if isinstance(flags, list) and flags:
        report.flags[student] = [str(f.get("message") if isinstance(f, dict) else f)[:MAX_FLAG_CHARS] for f in flags]
    sha = marker.get("submission_sha256")
    if sha and student in report.submitted and student not in report.not_graded:
        if _digest(submitted) not in (None, sha):
            report.not_graded[student] = ("the submitted notebook changed after it was graded (the grade is of "
                                          "the earlier file): run autograde again")


def _note_feedback(report: LabReport, student: str, nb: dict) -> None:
    """From the autograded notebook's cells: the problems met while grading and each failed test's message."""
    for cell in nb["cells"]:
        if not isinstance(cell, dict):
            continue
        if cell.get("cell_type") == "markdown" and PROBLEMS_HEADING in _text(cell.get("source")):
            found = PROBLEMS.search(_text(cell.get("source")))
            if found:
                lines = [line for line in html.unescape(found.group(1)).splitlines() if line.strip()]
                report.problems[student] = lines
        for output in cell.get("outputs", []) if isinstance(cell.get("outputs"), list) else []:
            match = VERDICT.match(_text(output.get("text")) if isinstance(output, dict) else "")
            if not match or match.group(1) != "FAILED" or match.group(2) not in report.grades.tests:
                continue
            test, message = match.group(2), match.group(3).strip() or "(no message)"
            key = mask(message)
            report.failures.setdefault(test, Counter())[key] += 1
            report.examples.setdefault((test, key), message[:MAX_EXAMPLE_CHARS])


# ---------------------------------------------------------------- plots

def _png(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def histogram_png(report: LabReport) -> str:
    """Score distribution: 10 bins of the maximum, each bar labelled with its count."""
    from matplotlib.figure import Figure

    scores, top = list(report.scores.values()), report.grades.max_score or 1.0
    edges = [top * i / 10 for i in range(11)]
    counts = [0] * 10
    for score in scores:
        counts[min(9, int(score / top * 10))] += 1
    fig = Figure(figsize=(6.4, 2.6))
    ax = fig.add_subplot()
    bars = ax.bar([(a + b) / 2 for a, b in zip(edges, edges[1:])], counts, width=top / 10 * 0.9, color="#0072B2")
    for bar, count in zip(bars, counts):
        if count:
            ax.annotate(str(count), (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                        va="bottom", fontsize=8, xytext=(0, 1), textcoords="offset points")
    from matplotlib.ticker import MaxNLocator

    median, height = (statistics.median(scores) if scores else 0.0), (max(counts, default=0) or 1) * 1.35
    ax.axvline(median, color="#D55E00", linewidth=1.5)
    left = median > top / 2  # the label on the side with more room
    ax.annotate(f"median {number(median)}", (median, height), color="#D55E00", fontsize=8,
                ha="right" if left else "left", va="top", xytext=(-3 if left else 3, -2), textcoords="offset points")
    ax.set_xlim(0, top)
    ax.set_ylim(0, height)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(f"score (out of {number(top)})")
    ax.set_ylabel("students")
    ax.set_title(f"{report.lab}: scores of {len(scores)} graded submission(s)", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.2, top=0.88)  # fixed margins: no layout pass
    return _png(fig)


def pass_rate_png(report: LabReport) -> str:
    """Pass rate of every test: one horizontal bar each, labelled with its percentage and counts."""
    from matplotlib.figure import Figure

    counts = report.pass_counts()
    tests = list(counts)[::-1]
    fig = Figure(figsize=(6.4, 0.8 + 0.32 * max(1, len(tests))))
    ax = fig.add_subplot()
    rates = [100 * p / n if n else 0.0 for p, n in (counts[t] for t in tests)]
    ax.barh(tests, rates, color=["#009E73" if r >= 50 else "#E69F00" for r in rates], height=0.7)
    for y, (test, rate) in enumerate(zip(tests, rates)):
        passed, total = counts[test]
        ax.annotate(f"{rate:.0f}% ({passed}/{total})", (rate, y), va="center", fontsize=8, xytext=(3, 0),
                    textcoords="offset points")
    ax.set_xlim(0, 125)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xlabel("students who passed (%)")
    ax.tick_params(axis="y", labelsize=8)
    ax.set_title(f"{report.lab}: pass rate of each test", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    height = fig.get_figheight() * fig.dpi
    left = min(0.5, (15 + 5.5 * max(map(len, tests), default=4)) / (fig.get_figwidth() * fig.dpi))  # 8 pt labels
    fig.subplots_adjust(left=left, right=0.98, bottom=45 / height, top=1 - 25 / height)
    return _png(fig)


# ---------------------------------------------------------------- the numbers, once, for the CSV and the page

def stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {"mean": statistics.fmean(values), "median": statistics.median(values), "min": min(values),
            "max": max(values)}


def csv_rows(reports: list[LabReport]) -> list[list[str]]:
    """lab, kind, name, value, count, detail: every number the page shows."""
    rows = []
    for r in reports:
        scores = list(r.scores.values())
        rows.append([r.lab, "summary", "max_score", number(r.grades.max_score), "", ""])
        rows.append([r.lab, "summary", "submitted", "", str(len(set(r.submitted) | set(r.grades.submissions))), ""])
        rows.append([r.lab, "summary", "graded", "", str(len(scores)), ""])
        rows.append([r.lab, "summary", "not_graded", "", str(len(r.not_graded)), ""])
        rows.append([r.lab, "summary", "flagged", "", str(len(r.flags)), ""])
        for name, value in stats(scores).items():
            rows.append([r.lab, "score", name, f"{value:.4g}", "", ""])
        top = r.grades.max_score or 1.0
        bins = Counter(min(9, int(s / top * 10)) for s in scores)
        for b in range(10):
            rows.append([r.lab, "score_bin", f"{b * 10}-{b * 10 + 10}%", "", str(bins.get(b, 0)), ""])
        for test, (passed, total) in r.pass_counts().items():
            rate = f"{passed / total:.4f}" if total else ""
            rows.append([r.lab, "pass_rate", test, rate, str(passed), f"of {total}"])
        for test, counter in r.failures.items():
            for key, count in counter.most_common(TOP_MESSAGES):
                rows.append([r.lab, "failure", test, "", str(count), key])
        for student, reason in sorted(r.not_graded.items()):
            rows.append([r.lab, "not_graded", student, "", "", reason])
        for student, files in sorted(r.other_files.items()):
            rows.append([r.lab, "file_not_graded", student, "", str(len(files)), "; ".join(files)])
        for student, flags in sorted(r.flags.items()):
            rows.append([r.lab, "flagged", student, "", str(len(flags)), " | ".join(flags)[:1000]])
        for student, problems in sorted(r.problems.items()):
            rows.append([r.lab, "grading_problem", student, "", str(len(problems)), " | ".join(problems)[:1000]])
        for name, value in stats(list(r.seconds.values())).items():
            rows.append([r.lab, "grading_seconds", name, f"{value:.3f}", "", ""])
        if r.seconds:
            rows.append([r.lab, "grading_seconds", "total", f"{sum(r.seconds.values()):.3f}", str(len(r.seconds)), ""])
    return rows


_STYLE = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}
td.n{text-align:right}pre{white-space:pre-wrap;background:#f6f6f6;padding:.3rem}img{max-width:100%}
.bad{color:#b00}h2{border-top:2px solid #ccc;padding-top:.8rem}"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def render(reports: list[LabReport], course: Course, csv_name: str) -> str:
    """The HTML page: the overview table of the labs, then each lab's section."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>Class report: {_e(', '.join(r.lab for r in reports))}</title>", f"<style>{_STYLE}</style>",
           "</head><body>", f"<h1>Class report: {_e(', '.join(r.lab for r in reports))}</h1>",
           f"<p>Course {_e(course.root)}, written {now}. The numbers are also in <code>{_e(csv_name)}</code>.</p>"]
    out += _overview(reports)
    for r in reports:
        out += _lab_section(r)
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _overview(reports: list[LabReport]) -> list[str]:
    """One row per lab: how many submitted, graded, not graded, flagged; the scores; the grading time."""
    out = ["<table><tr><th>lab</th><th>submitted</th><th>graded</th><th>not graded</th><th>flagged</th><th>mean</th>"
           "<th>median</th><th>out of</th><th>grading time (median / max)</th></tr>"]
    for r in reports:
        s, t = stats(list(r.scores.values())), stats(list(r.seconds.values()))
        timing = f"{t['median']:.1f} s / {t['max']:.1f} s" if t else "not recorded"
        out.append(f"<tr><td>{_e(r.lab)}</td><td class=n>{len(set(r.submitted) | set(r.grades.submissions))}</td>"
                   f"<td class=n>{len(r.scores)}</td><td class=n>{len(r.not_graded)}</td>"
                   f"<td class=n>{len(r.flags)}</td>"
                   f"<td class=n>{number(s['mean']) if s else ''}</td>"
                   f"<td class=n>{number(s['median']) if s else ''}</td>"
                   f"<td class=n>{number(r.grades.max_score)}</td><td>{timing}</td></tr>")
    out.append("</table>")
    return out


def _lab_section(r: LabReport) -> list[str]:
    """A lab's plots, tests, common failure messages, the students to look at, and its grading time."""
    out = [f'<h2 id="{_e(r.lab)}">{_e(r.lab)}</h2>']
    if r.scores:
        out.append(f'<img alt="score distribution of {_e(r.lab)}" src="data:image/png;base64,{histogram_png(r)}">')
    else:
        out.append("<p>No graded submission yet.</p>")
    if r.grades.tests and r.scores:
        out.append(f'<img alt="pass rate of each test of {_e(r.lab)}" '
                   f'src="data:image/png;base64,{pass_rate_png(r)}">')
    out.append("<h3>Tests</h3><table><tr><th>test</th><th>points</th><th>passed</th><th>pass rate</th></tr>")
    for test, (passed, total) in r.pass_counts().items():
        rate = f"{100 * passed / total:.0f}%" if total else ""
        out.append(f"<tr><td>{_e(test)}</td><td class=n>{number(r.grades.tests[test])}</td>"
                   f"<td class=n>{passed} / {total}</td><td class=n>{rate}</td></tr>")
    out.append("</table>")
    out += _failure_messages(r)
    out += _students_table("<h3 class=bad>Not graded</h3>", "why",
                           [(s, _e(why)) for s, why in sorted(r.not_graded.items())])
    out += _students_table("<h3 class=bad>Flagged: graded cells deleted or retyped</h3><p>Graded all the same (from "
                           "the release's cells); the student's feedback says what to restore.</p>", "what",
                           [(s, "<br>".join(map(_e, flags))) for s, flags in sorted(r.flags.items())])
    out += _students_table(f"<h3 class=bad>Files in submitted/ that are not graded</h3><p>Only "
                           f"<code>{_e(r.lab)}.ipynb</code> is graded.</p>", "files",
                           [(s, _e(", ".join(files))) for s, files in sorted(r.other_files.items())])
    out += _students_table("<h3>Problems met while grading</h3>", "problems",
                           [(s, f"<pre>{_e(chr(10).join(p))}</pre>") for s, p in sorted(r.problems.items())])
    t = stats(list(r.seconds.values()))
    if t:
        out.append(f"<p>Grading time of {len(r.seconds)} submission(s) on the workers: median {t['median']:.1f} s,"
                   f" mean {t['mean']:.1f} s, max {t['max']:.1f} s, total {sum(r.seconds.values()):.0f} s.</p>")
    else:
        out.append("<p>Grading time: not recorded.</p>")
    return out


def _failure_messages(r: LabReport) -> list[str]:
    """Per test, the most common failure messages (numbers masked), each with one student's message."""
    if not r.failures:
        return []
    out = [f"<h3>Most common failure messages</h3><p>Per test, the {TOP_MESSAGES} most frequent, "
           "numbers masked as N; each with one student's message as it was.</p>"]
    for test in r.grades.tests:
        counter = r.failures.get(test)
        if not counter:
            continue
        out.append(f"<h4>{_e(test)}</h4><table><tr><th>students</th><th>message</th></tr>")
        for key, count in counter.most_common(TOP_MESSAGES):
            example = r.examples.get((test, key), "")
            out.append(f"<tr><td class=n>{count}</td><td>{_e(key)}<details><summary>an example</summary>"
                       f"<pre>{_e(example)}</pre></details></td></tr>")
        out.append("</table>")
    return out


def _students_table(heading: str, column: str, rows: list[tuple[str, str]]) -> list[str]:
    """`heading` and a table of (student, HTML) rows under the column `column`; nothing without rows."""
    if not rows:
        return []
    return [f"{heading}<table><tr><th>student</th><th>{column}</th></tr>",
            *(f"<tr><td>{_e(s)}</td><td>{cell}</td></tr>" for s, cell in rows), "</table>"]


def report(labs: list[str], course_dir: str | Path = ".", out: str | Path | None = None) -> tuple[Path, Path]:
    """Write the HTML report and its CSV; every check happens before anything is written."""
    course = open_course(course_dir)
    require_gradebook(course, labs)
    out = Path(out) if out else course.root / "report.html"
    if not out.parent.is_dir():
        raise CourseError(f"--out {out}: the folder {out.parent} does not exist; create it or choose another path")
    if out.is_dir() or out.suffix.lower() == ".csv":
        raise CourseError(f"--out {out}: name an HTML file, e.g. report.html (the CSV is written beside it)")
    csv_path = out.with_suffix(".csv")
    grades, _ = read_grades(course, labs)
    reports = [gather(course, lab, grades[lab]) for lab in labs]
    page = render(reports, course, csv_path.name)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    write_csv(csv_path, ["lab", "kind", "name", "value", "count", "detail"], csv_rows(reports))
    return out, csv_path


def main(args) -> int:
    try:
        html_path, csv_path = report(args.labs, args.course_dir, args.out)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {html_path} and {csv_path}")
    return 0
