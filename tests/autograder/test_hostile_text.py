"""Hostile text and hostile students: lone surrogates in cells, ids that attack the terminal, a task that never ends.

Each attack must cost at most the attacker's own grade: `grade --json` prints one valid JSON object and exits 0,
a batch completes with every honest classmate graded, nothing printed carries a control character, look-alike
ids are flagged (never merged), and the gradebook and autograded/ agree on who is graded.
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import sqlite3
import time
from pathlib import Path

import nbformat
import pytest

from autograder import batch, gradebook, grading
from tests.files import fixture_lab
from tests.autograder.hanging import never_ends
from tests.autograder.test_batch import _threaded_client, fake_grade, run_cli
from tests.autograder.fixtures_gradebook import LAB, TESTS, graded, make_course, row_counts, solved

#: What no printed line may hold: C0 controls but the line end, DEL, C1 controls, bidirectional overrides and
#: isolates, zero-width characters, lone surrogates.
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")
SURROGATE_MD = "Notes \ud800 pasted from a PDF \udcff, and \x1b]0;owned\x07 a title"


def with_surrogates(nb: nbformat.NotebookNode, code_at: int) -> str:
    """`nb` as the JSON text a tampered file holds: a Markdown cell and the code cell at `code_at` carry lone
    surrogates (JSON's "\\ud800" escapes, which json.loads accepts and no encoder writes)."""
    nb = nbformat.from_dict(nb)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(SURROGATE_MD))
    nb.cells[code_at + 1].source += "\nlabel = 'caf\udce9'  # a Latin-1 byte read with surrogateescape"
    return json.dumps(nb)  # ensure_ascii: every surrogate is written as an escape


# ---------------------------------------------------------------- item 2: lone surrogates in cells


def test_grade_json_with_lone_surrogates_in_cells(tmp_path, monkeypatch, capsys):
    """Does `grade --json` on a notebook whose Perceptron cell and a Markdown cell hold lone surrogates exit 0 with
    one valid JSON object, the surrogate cell erroring with its line and the fix, the rest graded (sigmoid 2/2)?"""
    source = fixture_lab.write_lab(tmp_path / "course")
    monkeypatch.setattr(grading, "find_source", lambda lab: source)
    cells = fixture_lab.source_notebook().cells
    perceptron = next(i for i, c in enumerate(cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "perceptron")
    path = tmp_path / "submission.ipynb"
    path.write_text(with_surrogates(fixture_lab.source_notebook(), perceptron))
    from autograder.cli import main

    rc = main(["grade", fixture_lab.LAB, str(path), "--json", "--seed", "0", "--unconfined"])
    out = capsys.readouterr().out
    assert rc == 0 and out.count("\n") == 1, out
    result = json.loads(out)
    assert {t["grade_id"]: t["score"] for t in result["tests"]} == {"test_sigmoid": 2.0, "test_perceptron": 0.0}
    errors = " | ".join(result["errors"])
    assert re.search(rf"cell {perceptron + 1} \(perceptron\): not run: line \d+, column 13 holds a lone surrogate "
                     r"\(U\+DCE9\).*delete that character", errors), errors
    assert not CONTROL.search(out)


def test_unsendable_text_names_the_place():
    """Is a cell with a lone surrogate refused with its line and column, and a clean cell (tabs, CRLF) accepted?"""
    assert grading.unsendable_text("x = 1\r\n\ty = '\u00e9'\n") is None
    why = grading.unsendable_text("a = 1\nb = '\ud83d'\n")
    assert why.startswith("line 2, column 6 holds a lone surrogate (U+D83D)"), why


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A toy course whose bob submitted cells with lone surrogates, the lab in its gradebook (copied per test)."""
    root = make_course(tmp_path_factory.mktemp("hostile") / "course",
                       {"alice": solved(), "bob": with_surrogates(solved(), 1)})
    course = gradebook.load_course(root, LAB)
    gradebook.ensure_assignment(course, LAB, gradebook.release_notebook(course, LAB))
    return root


@pytest.fixture
def course(template, tmp_path):
    course = gradebook.load_course(shutil.copytree(template, tmp_path / "course"), LAB)
    return course, gradebook.release_notebook(course, LAB)


def consistent(course, students) -> dict[str, bool]:
    """{student: graded}, asserting that the gradebook and autograded/ agree: a student has auto scores exactly when
    their autograded notebook exists and names the submission it was graded from."""
    db = sqlite3.connect(course.root / "gradebook.db")
    try:
        scored = {s for (s,) in db.execute(
            "select distinct sa.student_id from grade g join submitted_notebook sn on g.notebook_id = sn.id "
            "join submitted_assignment sa on sn.assignment_id = sa.id where g.auto_score is not null")}
    finally:
        db.close()
    state = {}
    for student in students:
        path = course.autograded(student, LAB)
        written = path.is_file() and gradebook._marker(path).get("submission_sha256") == gradebook.file_sha256(
            course.submitted(student, LAB))
        assert written == (student in scored), (student, written, scored)
        state[student] = written
    return state


def test_markdown_surrogate_is_recorded_in_both_places(course):
    """Does a submission with lone surrogates and terminal escapes in its cells get its gradebook row AND an
    autograded notebook of valid UTF-8 (surrogates as U+FFFD), so that it counts as complete?"""
    course, release = course
    gradebook.record(course, LAB, graded(course, "bob", {"test_add": 2.0, "test_mul": 3.0}), release)
    raw = course.autograded("bob", LAB).read_bytes()
    text = raw.decode("utf-8")  # strict: valid UTF-8
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    sources = "".join(c.source for c in nb.cells)
    assert "Notes \ufffd pasted from a PDF \ufffd" in sources and "caf\ufffd" in sources
    assert not re.search("[\x1b\x07\ud800-\udfff]", sources)
    assert consistent(course, ["bob"]) == {"bob": True}
    assert gradebook.completed(course, LAB, TESTS, ["bob"]) == {"bob"}


def test_a_failure_before_the_commit_writes_neither(course, monkeypatch):
    """When the autograded notebook cannot be written (disk full), is nothing committed either?"""
    course, release = course
    before = row_counts(course)

    def full(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gradebook, "_stage", full)
    with pytest.raises(OSError, match="No space left"):
        gradebook.record(course, LAB, graded(course, "bob", {"test_add": 2.0, "test_mul": 3.0}), release)
    assert row_counts(course) == before
    assert consistent(course, ["bob"]) == {"bob": False}
    assert not list(course.autograded("bob", LAB).parent.glob(".*.tmp"))


def test_a_failure_after_the_commit_withdraws_the_scores(course, monkeypatch):
    """When the final rename fails after the commit, are the new scores withdrawn (no score without its notebook), no
    temporary file left, and does the next record complete the student?"""
    course, release = course
    real = os.replace

    def broken(src, dst):
        if str(dst).endswith(".ipynb"):
            raise OSError(5, "Input/output error")
        return real(src, dst)

    monkeypatch.setattr(gradebook.os, "replace", broken)
    with pytest.raises(OSError, match="Input/output error"):
        gradebook.record(course, LAB, graded(course, "bob", {"test_add": 2.0, "test_mul": 3.0}), release)
    assert consistent(course, ["bob"]) == {"bob": False}
    assert not list(course.autograded("bob", LAB).parent.glob(".*.tmp"))
    assert gradebook.completed(course, LAB, TESTS, ["bob"]) == set()
    monkeypatch.setattr(gradebook.os, "replace", real)
    gradebook.record(course, LAB, graded(course, "bob", {"test_add": 2.0, "test_mul": 3.0}), release)
    assert consistent(course, ["bob"]) == {"bob": True}


def test_record_refuses_an_id_of_raw_bytes(course):
    """Is a student id that is not valid UTF-8 refused with the folder named and the fix, before anything is written?"""
    course, release = course
    before = row_counts(course)
    bad = os.fsdecode(b"bob\xff")
    with pytest.raises(gradebook.CourseError, match=r"folder name b'bob\\xff' is not valid UTF-8.*rename"):
        gradebook.record(course, LAB, gradebook.Graded(bad, {"tests": []}, "0" * 64), release)
    assert row_counts(course) == before


# ---------------------------------------------------------------- item 3: student ids


def test_printable_id_escapes_what_a_terminal_would_obey():
    """Are escape sequences, newlines, direction overrides, zero-width characters and raw bytes shown as escapes (one
    printable line naming one folder), and printable ids unchanged?"""
    assert batch.printable_id("alice") == "alice" and batch.printable_id("Zoë") == "Zoë"
    assert batch.printable_id("\x1b]0;owned\x07eve") == "\\x1b]0;owned\\x07eve"
    assert batch.printable_id("bob\n11 / 11") == "bob\\n11 / 11"
    assert batch.printable_id("ev\u202eil\u200b") == "ev\\u202eil\\u200b"
    assert batch.printable_id(os.fsdecode(b"bob\xff")) == "bob\\xff"
    assert batch.printable_id("a\\x1b") == "a\\\\x1b"  # a typed backslash is not an escape
    assert batch.ascii_id("\u0430lice") == "\\u0430lice"


def test_confusable_ids_are_grouped():
    """Are ids alike after NFKC, case folding, invisible characters and Cyrillic/Greek look-alikes grouped, and ids
    that only share letters not?"""
    groups = batch.confusable_groups(["alice", "\u0430lice", "ALICE", "alice\u200b", "\uff41lice",
                                      "bob", "\u0412\u043e\u0432", "carol", "carl", "\u03bf\u03c1\u03b1"])
    assert groups == [("ALICE", "alice", "alice\u200b", "\u0430lice", "\uff41lice"), ("bob", "\u0412\u043e\u0432")]
    assert batch.confusable_groups(["alice", "bob", "dmitri", "\u0434\u043c\u0438\u0442\u0440\u0438\u0439"]) == []


HOSTILE_IDS = {
    "alice": solved(),
    "\u0430lice": solved(),  # Cyrillic a
    "bob\n  bob  11 \u2215 11": solved("WRONG_test_add"),  # would forge a summary line
    "\x1b]0;owned\x07\x1b[31meve": solved(),  # sets the terminal's title and colour
    "mallory": with_surrogates(solved(), 1),
}


def test_batch_with_hostile_ids_prints_clean_lines_and_flags_look_alikes(tmp_path, monkeypatch):
    """Does a batch with ids that carry escape sequences, a newline, raw bytes and a Cyrillic look-alike finish,
    grade every student it can store (two look-alikes separately, flagged), refuse the raw-bytes folder with the fix,
    print no control character and no forged line, and leave the gradebook and autograded/ in agreement?"""
    root = make_course(tmp_path / "course", HOSTILE_IDS)
    raw = os.fsencode(root / "submitted") + b"/bob\xff/" + LAB.encode()
    os.makedirs(raw)
    shutil.copy(root / "submitted" / "alice" / LAB / f"{LAB}.ipynb", os.fsdecode(raw + f"/{LAB}.ipynb".encode()))
    monkeypatch.setattr(batch, "GRADE_FN", fake_grade)
    monkeypatch.setattr(batch, "dask_client", _threaded_client)
    rc, out, err = run_cli(["autograde", LAB, "--course-dir", str(root), "--workers", "1", "--seed", "3"])
    assert rc == 1, (out, err)  # the raw-bytes folder is not graded
    assert not CONTROL.search(out), ascii(out)
    assert not re.search("[\x1b\x07]", err), ascii(err)
    lines = out.splitlines()
    assert lines[0] == "graded 5, skipped 0 already graded, 1 NOT graded (see why below; run again once fixed)"
    assert len(lines) == 1 + 6 + 1, out  # the line, one per student, one warning
    assert not any(line.lstrip().startswith("bob ") for line in lines), out  # nothing forged
    assert re.search(r"^  bob\\n  bob  11 \u2215 11\s+3 / 6$", out, re.M), out
    assert re.search(r"^  \\x1b\]0;owned\\x07\\x1b\[31meve\s+5 / 6$", out, re.M), out
    assert re.search(r"^  bob\\xff\s+NOT GRADED: the folder name b'bob\\xff' under submitted/ is not valid UTF-8.*"
                     r"rename the folder", out, re.M), out
    assert re.search(r"^  \u0430lice\s+5 / 6$", out, re.M) and re.search(r"^  alice\s+5 / 6$", out, re.M), out
    assert lines[-1].startswith("  warning: the ids alice, \\u0430lice look alike"), out
    course = gradebook.load_course(root, LAB)
    storable = list(HOSTILE_IDS)
    assert consistent(course, storable) == dict.fromkeys(storable, True)
    assert "\ufffd" in course.autograded("mallory", LAB).read_text(encoding="utf-8")
    assert not os.path.exists(os.fsencode(root / "autograded") + b"/bob\xff")
    # A second run: everyone stored is complete, the raw-bytes folder is refused again, nothing raises.
    rc, out, _ = run_cli(["autograde", LAB, "--course-dir", str(root), "--workers", "1"])
    assert rc == 1 and out.splitlines()[0].startswith("graded 0, skipped 5 already graded, 1 NOT graded"), out


# ---------------------------------------------------------------- the batch watchdog


def test_watchdog_finishes_the_batch_when_tasks_never_end(tmp_path):
    """With two workers both held by tasks that never end (one looping in Python, one holding the GIL in C), does
    the batch finish soon after the watchdog's limit, those students NOT GRADED with the reason (nothing recorded),
    and every honest classmate graded on the restarted workers?"""
    root = make_course(tmp_path / "course", {"aaron": solved("SPINS"), "abby": solved("HOLDS_GIL"), "bea": solved(),
                                             "cal": solved("WRONG_test_mul")})
    out = io.StringIO()
    start = time.monotonic()
    summary = batch.autograde(LAB, root, workers=2, grade_fn=never_ends, progress=False, out=out, watchdog_s=30)
    elapsed = time.monotonic() - start
    print(f"the batch took {elapsed:.1f} s")
    assert sorted(summary.graded) == ["bea", "cal"] and sorted(summary.ungraded) == ["aaron", "abby"], out.getvalue()
    for student in ("aaron", "abby"):
        assert re.search(rf"^  {student}\s+NOT GRADED: grading did not finish within 30 s \(the per-notebook wall "
                         r"limit plus a margin; stopped after \d+ s\).*its worker \S+ was restarted; run again",
                         out.getvalue(), re.M), out.getvalue()
    assert summary.scores["bea"] == (5.0, 6.0) and summary.scores["cal"] == (2.0, 6.0)
    course = gradebook.load_course(root, LAB)
    assert consistent(course, ["aaron", "abby", "bea", "cal"]) == {"aaron": False, "abby": False, "bea": True,
                                                                    "cal": True}
    # the watchdog's limit, one restart of both workers (its own timeout: 60 s), the cluster's start and close
    assert elapsed < 30 + 60 + 60, f"took {elapsed:.0f} s"


def test_watchdog_limit_covers_every_limit_of_one_notebook():
    """Is the default limit at least the longest grading the Limits allow (every kernel's start, notebook and helpers
    with their interrupt grace, every test cell), and does it grow with the number of test cells?"""
    from autograder.sandbox import Limits

    limits = Limits()
    kernel = limits.startup_timeout_s + limits.notebook_timeout_s + limits.cell_timeout_s + 2 * limits.interrupt_grace_s
    longest = (limits.max_restarts + 1) * kernel + 4 * (limits.test_timeout_s + limits.interrupt_grace_s)
    assert longest < batch.watchdog_limit(4) <= longest * 1.1 + 60
    assert batch.watchdog_limit(5) > batch.watchdog_limit(4)


def test_grade_output_keeps_a_message_from_forging_lines(tmp_path, monkeypatch, capsys):
    """Does `grade` (without --json) print a message's further lines marked with '|', so that a line break in what
    a submission returned cannot print a PASS line or an error line of the grader's own?"""
    from autograder.cli import main

    forged = {"lab": "toy", "score": 0.0, "max_score": 3.0, "seed": 1, "errors": ["cell 2: boom\n  error: none"],
              "tests": [{"grade_id": "test_add", "score": 0.0, "max_score": 3.0, "passed": False,
                         "message": "wrong\n  PASS  test_add  3 / 3\ntoy: 3 / 3"}]}
    monkeypatch.setattr(grading, "grade_notebook", lambda *args, **kwargs: forged)
    path = tmp_path / "toy.ipynb"
    path.write_text("{}")
    assert main(["grade", "toy", str(path), "--unconfined"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["toy: 0 / 3   (seed 1)", "  FAIL  test_add  0 / 3   wrong", "      |   PASS  test_add  3 / 3",
                     "      | toy: 3 / 3", "  error: cell 2: boom", "      |   error: none"], lines


def test_time_limit_option_reaches_the_watchdog(tmp_path, monkeypatch):
    """Does `autograde --time-limit S` become the watchdog's limit, and is a limit that is not positive refused with
    the option named, before anything is graded?"""
    seen = {}

    def fake_labs(labs, course_dir, **options):
        seen.update(options)
        return {}

    monkeypatch.setattr(batch, "autograde_labs", fake_labs)
    assert run_cli(["autograde", LAB, "--course-dir", str(tmp_path), "--time-limit", "90"])[0] == 0
    assert seen["watchdog_s"] == 90.0
    monkeypatch.undo()
    rc, out, err = run_cli(["autograde", LAB, "--course-dir", str(tmp_path), "--time-limit", "0"])
    assert rc == 2 and out == "" and err == "error: --time-limit must be a positive number of seconds (got 0)\n"
