"""autograder.summary: what a batch run did, printed without anything a student controls forging a line."""
from __future__ import annotations

import io
from types import SimpleNamespace

from autograder import batch
from autograder.summary import Summary, flag_text, one_line, print_summary, printable


def test_summary_line_counts_what_happened():
    """Does the one-line summary count graded, skipped, NOT graded, flagged and ignored, naming only what happened?"""
    assert batch.Summary is Summary
    summary = Summary(graded=["a", "b"], skipped=["c"])
    assert summary.line() == "graded 2, skipped 1 already graded"
    summary.ungraded, summary.flags, summary.ignored = {"d": "why"}, {"a": ["x"]}, {"b": [("f", "why")]}
    assert summary.line() == ("graded 2, skipped 1 already graded, 1 NOT graded (see why below; run again once "
                              "fixed), 1 flagged (graded cells deleted or retyped), files ignored in 1 folder(s)")


def test_reasons_and_flags_stay_on_one_printable_line():
    """Is a reason cut to one line of printable text, and a flag its message (or grade_id) cut at 500 characters?"""
    assert one_line("a\x1b]0;x\x07\n  b\tc\ud800") == "a?]0;x? b c?"
    assert printable("x" * 3000) == "x" * 2000
    assert flag_text({"grade_id": "g", "message": "m" * 600}) == "m" * 500 and flag_text({"grade_id": "g"}) == "g"
    assert flag_text("plain") == "plain"


def test_print_summary_aligns_ids_and_escapes_them():
    """Does each student get one line (score, NOT GRADED and why, or no notebook), with flags and ignored files
    under it, ids escaped and aligned, look-alike ids warned about in ASCII?"""
    summary = Summary(graded=["al"], ungraded={"b\nob": "it broke\nbadly", "carol": "no notebook"},
                      scores={"al": (3.0, 6.0)}, flags={"al": ["cell gone"]}, ignored={"carol": [("x\x1b", "stray")]},
                      confusable=[("al", "\u0430l")])
    lab = SimpleNamespace(name="toy", students=["al", "b\nob"], summary=summary)
    out = io.StringIO()
    print_summary(lab, out, named=True)
    assert out.getvalue().splitlines() == [
        "toy: " + summary.line(),
        "  al     3 / 6",
        "           flagged: cell gone",
        "  b\\nob  NOT GRADED: it broke badly",
        "  carol  NOT GRADED: no notebook",
        "           ignored: x\\x1b (stray)",
        "  warning: the ids al, \\u0430l look alike (one after NFKC, case folding and look-alike letters) and were "
        "graded as different students: check that they are not one student's two folders",
    ]
