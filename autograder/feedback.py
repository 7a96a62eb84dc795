"""What the autograded notebook tells the student: the summary cell that opens it and each test cell's verdict.

Everything that comes from the submission (failure messages, grade_ids, flags) is made inert before it is
written into Markdown (`markdown_text`) or HTML (escaped inside ``<pre>``): nbgrader's feedback page renders it.
"""
from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autograder.gradebook import Graded

MAX_MESSAGE_CHARS = 2000  # characters of a failure message or a problem shown in the feedback
MAX_TABLE_MESSAGE = 300  # characters of a failure message in the summary table (the test cell's output has it all)
MAX_TABLE_GRADE_ID = 100  # characters of a grade_id in the summary table
PROBLEMS_HEADING = "Problems while grading:"  # the summary's line before the problems, in <pre>
#: A test cell's verdict as `_verdict` writes it: PASSED or FAILED, the grade_id, the message (read by the report).
VERDICT = re.compile(r"^\[autograder\] (PASSED|FAILED) (\S+):[^\n]*\n?(.*)$", re.S)
#: The problems of the summary as `summary_markdown` writes them (HTML-escaped).
PROBLEMS = re.compile(re.escape(PROBLEMS_HEADING) + r"\s*<pre>(.*?)</pre>", re.S)
_MARKDOWN_SPECIAL = frozenset("!#$&()*<>[\\]^_`{|}~")  # what can start markup mid-line (tags, links, emphasis, code)


def _verdict(test: dict) -> str:
    """The output of a test cell in the autograded notebook: PASSED or FAILED, the points, the message."""
    status = "PASSED" if test.get("passed") else "FAILED"
    line = f"[autograder] {status} {test.get('grade_id')}: {float(test.get('score', 0)):g} / {float(test.get('max_score', 0)):g} points"
    message = str(test.get("message") or "").strip()
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + " [...]"
    return line + ("\n" + message if message else "") + "\n"


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


def _changed_cells(result: dict) -> list[str]:
    """The summary's list of the graded cells the submission deleted or retyped and the locked cells it edited."""
    changed = [_flag_message(f) for f in result.get("flags") or [] if f]
    edited = [g for g in result.get("locked_cells_edited") or [] if isinstance(g, str)]
    changed += [f"locked cell `{g}` was edited or removed: it was graded with the release's version" for g in edited]
    if not changed:
        return []
    return ["**Cells you changed that the grader needs as released** (fix these first):", "",
            *(f"- {markdown_text(text, MAX_MESSAGE_CHARS)}" for text in changed), ""]


def _test_table(result: dict) -> list[str]:
    """The summary's table: one row per test, every failed test's message beside its verdict."""
    lines = ["| test | points | result | why it failed |", "|---|---|---|---|"]
    for test in result.get("tests", []):
        passed = bool(test.get("passed"))
        why = "" if passed else markdown_text(test.get("message") or "(no message)")
        lines.append(f"| {markdown_text(test.get('grade_id'), MAX_TABLE_GRADE_ID)} | "
                     f"{float(test.get('score', 0)):g} / {float(test.get('max_score', 0)):g} | "
                     f"{'passed' if passed else '**failed**'} | {why} |")
    return lines


def summary_markdown(graded: Graded) -> str:
    """The opening cell of the autograded notebook, readable in ten seconds: the total; the graded cells the
    submission deleted or retyped and the locked cells it edited; one row per test with every failed test's message
    beside its verdict; then the problems met while grading. Everything from the submission is made inert
    (`markdown_text`, or HTML-escaped inside <pre>)."""
    result = graded.result
    lines = [f"## Autograded tests: {float(result.get('score', 0)):g} / {float(result.get('max_score', 0)):g} points",
             ""]
    lines += _changed_cells(result)
    lines += _test_table(result)
    problems = [*([graded.failed] if graded.failed else []), *map(str, result.get("errors", []))]
    if problems:
        text = "\n".join(p[:MAX_MESSAGE_CHARS] for p in problems)
        lines += ["", PROBLEMS_HEADING, "", f"<pre>{html.escape(text)}</pre>"]
    lines += ["", "Each test cell below shows its verdict as output. The public checks in the notebook are not the "
              "whole grade: hidden tests also ran, outside your notebook."]
    return "\n".join(lines)
