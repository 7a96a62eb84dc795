"""autograder.feedback: the summary cell of the autograded notebook and each test cell's verdict."""
from __future__ import annotations

from autograder import feedback
from autograder.feedback import MAX_MESSAGE_CHARS, markdown_text, summary_markdown
from autograder.gradebook import Graded
from tests.autograder.fixtures_gradebook import result


def test_verdict_says_passed_or_failed_with_points_and_a_bounded_message():
    """Does a test cell's output name the verdict, the points and the message, cut at MAX_MESSAGE_CHARS?"""
    passed = feedback._verdict({"grade_id": "test_a", "passed": True, "score": 2, "max_score": 2})
    assert passed == "[autograder] PASSED test_a: 2 / 2 points\n"
    failed = feedback._verdict({"grade_id": "test_b", "passed": False, "score": 0, "max_score": 3,
                                "message": "x" * (MAX_MESSAGE_CHARS + 5)})
    assert failed.startswith("[autograder] FAILED test_b: 0 / 3 points\nxxx") and failed.endswith(" [...]\n")
    assert len(failed.splitlines()[1]) == MAX_MESSAGE_CHARS + len(" [...]")


def test_markdown_text_is_inert_and_on_one_line():
    """Is every character that can start markup written as an entity, and whitespace collapsed?"""
    assert markdown_text("<b>x</b>\n| y") == "&#60;b&#62;x&#60;/b&#62; &#124; y"
    assert markdown_text("abcdef", limit=3) == "abc [...]"


def test_summary_lists_total_changed_cells_tests_and_problems():
    """Does the summary give the total, the changed cells first, one row per test and the problems, all inert?"""
    graded = Graded("s", {**result({"test_add": 2.0, "test_mul": 0.0}, errors=["<script>boom</script>"]),
                          "flags": [{"grade_id": "mul", "problem": "deleted"}, "a flag"],
                          "locked_cells_edited": ["intro", 3]}, "0", failed="worker died")
    text = summary_markdown(graded)
    lines = text.splitlines()
    assert lines[0] == "## Autograded tests: 2 / 5 points"
    assert "- cell mul: deleted" in lines and "- a flag" in lines
    assert any(line.startswith("- locked cell &#96;intro&#96; was edited") for line in lines)
    assert "| test&#95;add | 2 / 2 | passed |  |" in lines
    assert any(line.startswith("| test&#95;mul | 0 / 3 | **failed** | test&#95;mul: expected 3") for line in lines)
    assert "<pre>worker died\n&lt;script&gt;boom&lt;/script&gt;</pre>" in text and "<script>" not in text


def test_summary_without_changes_or_problems_is_short():
    """Is a clean result's summary just the total, the table and the closing note?"""
    text = summary_markdown(Graded("s", result({"test_add": 2.0, "test_mul": 3.0}), "0"))
    assert "fix these first" not in text and "Problems while grading" not in text
    assert text.endswith("hidden tests also ran, outside your notebook.")


def test_the_report_reads_back_what_the_feedback_writes():
    """Do VERDICT and PROBLEMS (the report's readers) find the verdict, the grade_id, the message and the problems?"""
    match = feedback.VERDICT.match(feedback._verdict({"grade_id": "test_b", "passed": False, "score": 0,
                                                       "max_score": 3, "message": "got 4\nexpected 3"}))
    assert match.groups() == ("FAILED", "test_b", "got 4\nexpected 3\n")
    text = summary_markdown(Graded("s", result({"test_add": 0.0}, errors=["a < b", "c"]), "0"))
    assert feedback.PROBLEMS.search(text).group(1) == "a &lt; b\nc"
