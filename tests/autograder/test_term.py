"""A whole term of the TA's loop, on two small labs: download -> collect -> autograde -> rerun -> feedback -> report
-> export, with every kind of submission a class hands in.

Ten Canvas students (ids 1001 to 1010) and two labs: 99_fixture (tests/files/fixture_lab.py: sigmoid 2 points,
perceptron 3) and 97_scale (one exercise, 2 points). Each lab is one Canvas-style zip. The students:

=====  ==============================================  ======================================================
id     99_fixture                                      97_scale
=====  ==============================================  ======================================================
1001   correct                                         correct
1002   empty (the release, untouched)                  empty
1003   one mistake (sigmoid)                           correct
1004   a wrong first version, then a correct ``-1``    correct
1005   ``Copy of 99_fixture.ipynb``                    ``97_scale (1).ipynb``
1006   saved by Colab (its metadata and ids)           saved by Colab
1007   the perceptron cell retyped as Markdown         correct
1008   correct                                         99_fixture's notebook saved as 97_scale.ipynb
1009   not JSON (a sign-in page)                       correct, and a stray notes.txt beside it
1010   nothing handed in (only in the roster)          nothing
=====  ==============================================  ======================================================

Kernels run unconfined (`unconfined_grade`, as the other batch tests' fake graders do without any kernel), so the
term takes about a minute on two cores; confinement has tests of its own.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import batch
from autograder.cli import main
from tests.conftest import ROOT
from tests.files import fixture_lab
from tests.files.cells import nbgrader_cell

A = fixture_lab.LAB  # 99_fixture
B = "97_scale"
MAX = {A: 5.0, B: 2.0}
STUDENTS = [str(n) for n in range(1001, 1011)]
MISSING = "1010"

SCALE = '''\
import numpy as np

def scale(x):
    """Twice x, elementwise."""
    ### BEGIN SOLUTION
    return 2 * np.asarray(x)
    ### END SOLUTION'''

TEST_SCALE = '''\
assert scale(1) == 2
### BEGIN HIDDEN TESTS
def hidden_test_scale(student, rng):
    """Random vectors: twice each entry."""
    import numpy as np
    x = rng.normal(size=4)
    assert np.allclose(student.scale(x.copy()), 2 * x), "scale(x) should return 2 * x"

from course_utils.checks import run_hidden_test
run_hidden_test(hidden_test_scale)
### END HIDDEN TESTS'''


def unconfined_grade(lab, submission, **kwargs):
    """The real grader with an unconfined kernel (importable by the Dask workers)."""
    from autograder.grading import grade_notebook

    return grade_notebook(lab, submission, confine=False, **kwargs)


def scale_source() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# Scale lab"),
                nbgrader_cell(SCALE, "scale", solution=True),
                nbgrader_cell(TEST_SCALE, "test_scale", grade=True, locked=True, points=2)]
    return nb


SOURCES = {A: fixture_lab.source_notebook, B: scale_source}


def handed_in(nb) -> nbformat.NotebookNode:
    """A solved notebook as a student hands it in: the public checks without the hidden tests."""
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        cell.source = fixture_lab._HIDDEN.sub("", cell.source).rstrip()
    return nb


def data(nb) -> bytes:
    return nbformat.writes(nb).encode()


def colab(nb, lab: str) -> bytes:
    """`nb` as Colab saves it: nbformat 4.0 without cell ids, Colab's notebook metadata, an id per cell's metadata,
    outputs kept."""
    raw = json.loads(nbformat.writes(nb))
    raw["nbformat_minor"] = 0
    raw["metadata"] = {"colab": {"provenance": [], "name": f"{lab}.ipynb"},
                       "kernelspec": {"name": "python3", "display_name": "Python 3"},
                       "language_info": {"name": "python"}}
    for i, cell in enumerate(raw["cells"]):
        cell.pop("id", None)
        cell["metadata"]["id"] = f"c0lAb{i:03d}xyz"
        if cell["cell_type"] == "code":
            cell["metadata"]["colab"] = {"base_uri": "https://localhost:8080/"}
            cell["metadata"]["outputId"] = f"0a1b2c3d-{i:04d}"
            cell["execution_count"] = i + 1
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["ran\n"]}]
    return json.dumps(raw, indent=2).encode()


def retyped(nb, grade_id: str) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(nb)
    for i, cell in enumerate(nb.cells):
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            nb.cells[i] = nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata)
    return nb


def downloads() -> dict[str, dict[str, bytes]]:
    """Each lab's Canvas zip: {member name: bytes}."""
    solved_a, solved_b = handed_in(SOURCES[A]()), handed_in(SOURCES[B]())
    empty_a, empty_b = fixture_lab.release(SOURCES[A]()), fixture_lab.release(SOURCES[B]())
    mistake = handed_in(fixture_lab.with_solution(SOURCES[A](), "sigmoid", "return 1 / (1 + np.exp(z))"))
    return {
        A: {
            f"doe_1001_5001_{A}.ipynb": data(solved_a),
            f"roe_1002_5002_{A}.ipynb": data(empty_a),
            f"poe_1003_5003_{A}.ipynb": data(mistake),
            f"fox_1004_5004_{A}.ipynb": data(mistake),
            f"fox_1004_5104_{A}-1.ipynb": data(solved_a),
            f"ant_1005_5005_Copy of {A}.ipynb": data(solved_a),
            f"cole_1006_5006_{A}.ipynb": colab(solved_a, A),
            f"kay_1007_5007_{A}.ipynb": data(retyped(solved_a, "perceptron")),
            f"lee_1008_5008_{A}.ipynb": data(solved_a),
            f"eel_1009_5009_{A}.ipynb": b"<html><title>Sign in - Google Accounts</title></html>",
        },
        B: {
            f"doe_1001_6001_{B}.ipynb": data(solved_b),
            f"roe_1002_6002_{B}.ipynb": data(empty_b),
            f"poe_1003_6003_{B}.ipynb": data(solved_b),
            f"fox_1004_6004_{B}.ipynb": data(solved_b),
            f"ant_1005_6005_{B} (1).ipynb": data(solved_b),
            f"cole_1006_6006_{B}.ipynb": colab(solved_b, B),
            f"kay_1007_6007_{B}.ipynb": data(solved_b),
            f"lee_1008_6008_{B}.ipynb": data(solved_a),  # Lab 99's notebook under Lab 97's name
            f"eel_1009_6009_{B}.ipynb": data(solved_b),
        },
    }


#: What each student's line in the autograde summary says, per lab (None: not in submitted/).
EXPECTED = {
    A: {"1001": "5 / 5", "1002": "0 / 5", "1003": "3 / 5", "1004": "5 / 5", "1005": "5 / 5", "1006": "5 / 5",
        "1007": "2 / 5", "1008": "5 / 5", "1009": "NOT GRADED", MISSING: None},
    B: {"1001": "2 / 2", "1002": "0 / 2", "1003": "2 / 2", "1004": "2 / 2", "1005": "2 / 2", "1006": "2 / 2",
        "1007": "2 / 2", "1008": "NOT GRADED", "1009": "2 / 2", MISSING: None},
}


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 10, 1, 12, 0, 0))
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            archive.writestr(info, content)
    return path


def run_cli(argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def lab_lines(out: str, lab: str) -> dict[str, str]:
    """{student: what the autograde summary says of them} in `lab`'s block of a multi-lab summary."""
    block = out.split(f"{lab}: ", 1)[1]
    found = {}
    for line in block.splitlines()[1:]:
        match = re.match(r"^  (\S+)\s+(NOT GRADED|\d+(?:\.\d+)? / \d+(?:\.\d+)?)", line)
        if match:
            assert match.group(1) not in found, f"{match.group(1)} listed twice in {lab}"
            found[match.group(1)] = match.group(2)
        elif not line.startswith("    ") and line.strip():
            break
    return found


def write_roster(path: Path) -> Path:
    rows = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", f"{A} (7001)", f"{B} (7002)"],
            ["    Points Possible", "", "", "", "", "5.00", "2.00"]]
    rows += [[f"Student {s}", s, f"S-{s}", f"s{s}@uni.example", "Section A", "", ""] for s in STUDENTS]
    with open(path, "w", newline="", encoding="utf-8-sig") as f:
        csv.writer(f).writerows(rows)
    return path


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    """The course after the download was collected (two zips), with a stray notes.txt in one folder."""
    tmp = tmp_path_factory.mktemp("term")
    root = tmp / "course"
    (root / "solutions").mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    for lab, build in SOURCES.items():
        (root / "solutions" / lab).mkdir()
        nbformat.write(build(), root / "solutions" / lab / f"{lab}.ipynb")
    outputs = {}
    for lab, members in downloads().items():
        zipped = make_zip(tmp / f"{lab}_submissions.zip", members)
        outputs[lab] = run_cli(["collect", lab, zipped, "--course-dir", root])
        outputs[f"{lab} again"] = run_cli(["collect", lab, zipped, "--course-dir", root])
    (root / "submitted" / "1009" / B / "notes.txt").write_text("my notes")
    return root, tmp, outputs


def test_collect_puts_every_student_in_place_once(term):
    """Does collect place one notebook per student and lab (the -1 resubmission, 'Copy of', ' (1)', Colab's file),
    flag the sign-in page, and leave everything unchanged on a rerun?"""
    root, _, outputs = term
    for lab in (A, B):
        rc, out, err = outputs[lab]
        assert rc == 0, err
        present = sorted(p.parent.parent.name for p in (root / "submitted").glob(f"*/{lab}/{lab}.ipynb"))
        assert present == [s for s in STUDENTS if s != MISSING]
        listed = re.findall(r"^  (\d{4})  ", out, re.M)
        assert sorted(listed) == present  # each collected student listed once
        rc, out, _ = outputs[f"{lab} again"]
        assert rc == 0 and "0 new, 9 unchanged, 0 replaced" in out
    out = outputs[A][1]
    assert f"fox_1004_5004_{A}.ipynb: an older version of student 1004's notebook" in out
    assert "warning: this file is not a readable notebook" in out.split("  1009 ", 1)[1].split("\n  10", 1)[0]
    assert "np.exp(-z)" in (root / "submitted" / "1004" / A / f"{A}.ipynb").read_text()  # the -1, correct version


@pytest.fixture(scope="module")
def graded(term):
    """A preflight in a broken environment, then the real autograde of both labs and a rerun."""
    root, tmp, _ = term
    runs = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(batch, "GRADE_FN", unconfined_grade)
        source = root / "solutions" / A / f"{A}.ipynb"
        good = source.read_bytes()
        broken = SOURCES[A]()  # what a grading environment without a package does to the setup cell
        broken.cells[1].source = "import course_utils_not_installed\n" + broken.cells[1].source
        nbformat.write(broken, source)
        runs["broken"] = run_cli(["autograde", A, B, "--course-dir", root, "--workers", "2", "--seed", "5"])
        runs["broken files"] = sorted(p.name for p in root.iterdir())
        source.write_bytes(good)
        runs["first"] = run_cli(["autograde", A, B, "--course-dir", root, "--workers", "2", "--seed", "5"])
        runs["rows"] = gradebook_rows(root)
        runs["second"] = run_cli(["autograde", A, B, "--course-dir", root, "--workers", "2", "--seed", "5"])
    return root, tmp, runs


def gradebook_rows(root: Path) -> list[tuple]:
    import sqlite3

    db = sqlite3.connect(root / "gradebook.db")
    try:
        return sorted(db.execute(
            "select a.name, sa.student_id, bc.name, g.auto_score from grade g "
            "join submitted_notebook sn on g.notebook_id = sn.id "
            "join submitted_assignment sa on sn.assignment_id = sa.id "
            "join assignment a on sa.assignment_id = a.id "
            "join base_cell bc on g.cell_id = bc.id").fetchall())
    finally:
        db.close()


def test_a_broken_environment_stops_before_the_first_student(graded):
    """With a setup cell that cannot import a module, does the preflight stop the batch (exit 3) with the reference's
    error and the likely cause, before anything is written (no gradebook.db, no autograded/)?"""
    _, _, runs = graded
    rc, out, err = runs["broken"]
    assert rc == 3 and out == "", err
    assert "preflight failed" in err and f"{A} (solutions/{A}/{A}.ipynb)" in err
    assert "No module named 'course_utils_not_installed'" in err
    assert "likely cause: the grading environment cannot import course_utils_not_installed: check the virtual " \
           "environment (`pip install -e .`" in err
    assert f"{B} (solutions" not in err  # the other lab's reference passed
    assert runs["broken files"] == ["nbgrader_config.py", "solutions", "submitted"]


def test_autograde_accounts_for_every_student_once(graded):
    """Is every student of each lab graded with the right score, or NOT GRADED with the reason (non-JSON, another
    lab's notebook), each listed once, the retyped cell flagged and the stray file listed, after a preflight?"""
    root, _, runs = graded
    rc, out, err = runs["first"]
    assert rc == 1, err
    assert re.search(rf"preflight: {A}'s reference solution scored 5 / 5 \(\d+\.\d s on its worker\)", err), err
    assert re.search(rf"preflight: {B}'s reference solution scored 2 / 2", err)
    for lab in (A, B):
        assert f"{lab}: graded 8, skipped 0 already graded, 1 NOT graded" in out
        assert lab_lines(out, lab) == {s: v for s, v in EXPECTED[lab].items() if v is not None}, out
    block_a, block_b = out.split(f"{B}: ", 1)[0], out.split(f"{B}: ", 1)[1]
    assert re.search(r"1009\s+NOT GRADED: 99_fixture.ipynb cannot be graded: the submission is not a valid notebook "
                     r"file \(not JSON", block_a)
    assert re.search(rf"1008\s+NOT GRADED: this is {A}'s notebook, not {B}'s", block_b)
    assert "flagged: cell `perceptron` was turned into Markdown: restore it from the release" in block_a
    assert "ignored: notes.txt (not the lab's notebook)" in block_b
    assert "1 flagged" in block_a.splitlines()[0] and "files ignored in 1 folder(s)" in block_b
    graded_students = {(lab, s) for lab, s, _, _ in runs["rows"]}
    assert graded_students == {(lab, s) for lab in (A, B) for s, v in EXPECTED[lab].items() if v and "/" in v}
    for lab, student in ((A, "1009"), (B, "1008")):
        assert not (root / "autograded" / student / lab).exists()
    result = nbformat.read(root / "autograded" / "1007" / A / f"{A}.ipynb", as_version=4)
    assert [f["problem"] for f in result.metadata["autograder"]["flags"]] == ["retyped"]


def test_rerun_grades_nothing_again(graded):
    """Does a rerun skip every graded submission (no preflight: nothing to grade), say the same of the rest and
    leave the gradebook's rows as they were?"""
    root, _, runs = graded
    rc, out, err = runs["second"]
    assert rc == 1 and "preflight" not in err
    for lab in (A, B):
        assert f"{lab}: graded 0, skipped 8 already graded, 1 NOT graded" in out
        assert lab_lines(out, lab) == {s: v for s, v in EXPECTED[lab].items() if v is not None}
    assert gradebook_rows(root) == runs["rows"]
    assert "flagged: cell `perceptron` was turned into Markdown" in out.split(f"{B}: ", 1)[0]  # from the notebook
    kept = {lab: json.loads((root / "not-graded" / f"{lab}.json").read_text())["students"] for lab in (A, B)}
    assert sorted(kept[A]) == ["1009"] and sorted(kept[B]) == ["1008"]


@pytest.fixture(scope="module")
def closed(graded, tmp_path_factory):
    """Feedback, the report and the export after the term was graded."""
    from tests.conftest import child_environment

    root, tmp, _ = graded
    feedback = {lab: subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", lab], cwd=root,
                                    env=child_environment(), capture_output=True, text=True, timeout=300)
                for lab in (A, B)}
    report = run_cli(["report", A, B, "--course-dir", root, "--out", tmp / "report.html"])
    roster = write_roster(tmp / "roster.csv")
    export = run_cli(["export", A, B, "--course-dir", root, "--roster", roster, "--out", tmp / "grades.csv",
                      "--wide", tmp / "wide.csv"])
    return root, tmp, feedback, report, export


def test_feedback_for_every_graded_student_says_what_went_wrong(closed):
    """Does nbgrader's feedback exist for exactly the graded students, with the failed test's message in the summary
    table and the retyped cell named?"""
    root, _, feedback, _, _ = closed
    for lab in (A, B):
        assert feedback[lab].returncode == 0, feedback[lab].stderr[-2000:]
        have = sorted(p.parent.parent.name for p in (root / "feedback").glob(f"*/{lab}/{lab}.html"))
        assert have == [s for s, v in EXPECTED[lab].items() if v and "/" in v]
    page = (root / "feedback" / "1007" / A / f"{A}.html").read_text()
    assert "was turned into Markdown" in page and "perceptron" in page and "restore it from the release" in page
    summary = nbformat.read(root / "autograded" / "1003" / A / f"{A}.ipynb", as_version=4).cells[0].source
    failed = next(line for line in summary.splitlines() if line.startswith("| test&#95;sigmoid"))
    assert "**failed**" in failed and "sigmoid" in failed.split("|")[4]


def test_report_lists_every_student_once_with_the_reason(closed):
    """Does the report count 8 graded per lab, give autograde's reason for each NOT GRADED student, and list the
    flagged student and the stray file, each student once?"""
    _, tmp, _, (rc, out, err), _ = closed
    assert rc == 0, err
    with open(tmp / "report.csv", newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    for lab in (A, B):
        found = {(r["kind"], r["name"]): r for r in table if r["lab"] == lab}
        assert found[("summary", "graded")]["count"] == "8" and found[("summary", "submitted")]["count"] == "9"
        assert found[("summary", "not_graded")]["count"] == "1"
    reasons = {(r["lab"], r["name"]): r["detail"] for r in table if r["kind"] == "not_graded"}
    assert set(reasons) == {(A, "1009"), (B, "1008")}
    assert reasons[(A, "1009")].startswith("NOT GRADED by autograde: 99_fixture.ipynb cannot be graded: the "
                                           "submission is not a valid notebook file")
    assert reasons[(B, "1008")].startswith(f"NOT GRADED by autograde: this is {A}'s notebook, not {B}'s")
    assert {(r["lab"], r["name"]) for r in table if r["kind"] == "flagged"} == {(A, "1007")}
    assert {(r["lab"], r["name"], r["detail"]) for r in table if r["kind"] == "file_not_graded"} == {
        (B, "1009", "notes.txt")}


def test_export_has_every_roster_student_once_and_no_zero_for_the_missing(closed):
    """Does the Canvas CSV hold each roster student once, the score of each graded submission, and an empty cell
    (not 0) for the NOT GRADED submissions and the student who handed nothing in?"""
    _, tmp, _, _, (rc, out, err) = closed
    assert rc == 0, err
    with open(tmp / "grades.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, points, students = rows[0], rows[1], rows[2:]
    assert header[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert header[5:] == [f"{A} (7001)", f"{B} (7002)"] and points[5:] == ["5", "2"]
    ids = [row[1] for row in students]
    assert sorted(ids) == STUDENTS and len(set(ids)) == len(ids)
    for row in students:
        for lab, cell in zip((A, B), row[5:]):
            want = EXPECTED[lab][row[1]]
            if want is None or want == "NOT GRADED":
                assert cell == "", (lab, row)
            else:
                assert float(cell) == float(want.split(" / ")[0]), (lab, row)
    assert "not in the roster" not in err
