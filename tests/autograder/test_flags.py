"""Graded cells a submission deleted or retyped (`flags`), and the feedback summary a student reads in ten seconds."""
from __future__ import annotations

import re

import nbformat

from autograder import gradebook
from autograder.gradebook import Graded, markdown_text, summary_markdown
from autograder.grading import grade_notebook
from tests.files import fixture_lab


def test_grade_notebook_reports_flags_in_its_result(source, tmp_path):
    """Does the grader's JSON result carry the retyped cell under "flags", while grading the rest as usual?"""
    nb = fixture_lab.source_notebook()
    nb.cells[4] = nbformat.v4.new_markdown_cell(nb.cells[4].source, metadata=nb.cells[4].metadata)
    path = tmp_path / "submission.ipynb"
    nbformat.write(nb, path)
    result = grade_notebook(fixture_lab.LAB, path, source=source, seed=1, confine=False)
    assert [(f["grade_id"], f["problem"]) for f in result["flags"]] == [("perceptron", "retyped")]
    assert {t["grade_id"]: t["passed"] for t in result["tests"]} == {"test_sigmoid": True, "test_perceptron": False}


def test_summary_gives_each_failed_message_and_the_changed_cells_inertly():
    """Does the summary table put each failed test's message beside its verdict, list the retyped and the edited
    locked cells first, and keep every student string inert (no tag, link or table bar of its own)?"""
    hostile = "expected 3 | got <script>alert(1)</script> [click](javascript:alert(1)) `code` *x*\nsecond line"
    result = {"score": 2.0, "max_score": 5.0, "errors": [], "locked_cells_edited": ["setup"],
              "flags": [{"grade_id": "perceptron", "problem": "retyped",
                         "message": "cell `perceptron` was turned into Markdown: restore it from the release"}],
              "tests": [{"grade_id": "test_sigmoid", "score": 2.0, "max_score": 2.0, "passed": True, "message": "ok"},
                        {"grade_id": "test_perceptron", "score": 0.0, "max_score": 3.0, "passed": False,
                         "message": hostile}]}
    text = summary_markdown(Graded("s", result, "0"))
    lines = text.splitlines()
    changed = lines.index("**Cells you changed that the grader needs as released** (fix these first):")
    table = lines.index("| test | points | result | why it failed |")
    assert changed < table
    assert "turned into Markdown" in text and "locked cell &#96;setup&#96; was edited" in text
    passed_row, failed_row = lines[table + 2], lines[table + 3]
    assert passed_row.endswith("| passed |  |")
    assert failed_row.count("|") == 5 and "**failed**" in failed_row
    assert "expected 3 &#124; got &#60;script&#62;alert&#40;1&#41;&#60;/script&#62;" in failed_row
    assert "second line" in failed_row  # one line
    assert not re.search(r"<(?!pre>|/pre>)", text) and "](" not in text and "`" not in text
    assert markdown_text("a" * 400).endswith(" [...]") and len(markdown_text("a" * 400)) == 306


def test_autograded_notebook_opens_with_the_summary(tmp_path):
    """Does the autograded notebook's first cell (what nbgrader's feedback shows first) hold the summary, after the
    sanitiser that cleans what instructors open?"""
    nb = fixture_lab.release(fixture_lab.source_notebook())
    result = {"score": 0.0, "max_score": 2.0, "errors": [], "tests": [
        {"grade_id": "test_sigmoid", "score": 0.0, "max_score": 2.0, "passed": False,
         "message": "sigmoid(z) returned <b>0</b>"}]}
    out = gradebook.autograded_notebook(nb, nb, Graded("s", result, "0"))
    assert out.cells[0].cell_type == "markdown"
    assert "sigmoid&#40;z&#41; returned &#60;b&#62;0&#60;/b&#62;" in out.cells[0].source


def test_the_retyped_cell_says_so_where_it_stands(tmp_path):
    """In the autograded notebook, is the retyped answer shown as code again with the flag as its output?"""
    release = fixture_lab.release(fixture_lab.source_notebook())
    submitted = nbformat.from_dict(release)
    submitted.cells[4] = nbformat.v4.new_markdown_cell(submitted.cells[4].source, metadata=submitted.cells[4].metadata)
    flag = {"grade_id": "perceptron", "problem": "retyped",
            "message": "cell `perceptron` was turned into Markdown: restore it from the release"}
    result = {"score": 0.0, "max_score": 5.0, "errors": [], "flags": [flag], "tests": []}
    out = gradebook.autograded_notebook(release, submitted, Graded("s", result, "0"))
    cell = next(c for c in out.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "perceptron")
    assert cell.cell_type == "code"
    assert cell.outputs[0].text == f"[autograder] {flag['message']}\n"
    assert out.metadata["autograder"]["flags"] == [flag]
