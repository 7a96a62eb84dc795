"""python -m autograder report: one self-contained HTML page and a CSV of the same numbers."""
from __future__ import annotations

import base64
import csv
import re
from pathlib import Path

import pytest

from autograder import cli
from autograder.report import mask
# the recorded course: fixtures `template` and `course`
from tests.autograder.fixtures_gradebook import LAB, recorded_course, recorded_template  # noqa: F401


def run(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["report", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def written(course, tmp_path, capsys):
    """The report of the toy course, after 1006's submission changed and a stray file joined 1002's."""
    (course / "submitted" / "1006" / LAB / f"{LAB}.ipynb").write_text('{"changed": true}')
    (course / "submitted" / "1002" / LAB / f"{LAB}-1.ipynb").write_text("{}")
    out = tmp_path / "report.html"
    code, stdout, _ = run(capsys, LAB, "--course-dir", course, "--out", out)
    assert code == 0 and str(out) in stdout
    return out.read_text(encoding="utf-8"), rows(tmp_path / "report.csv")


def test_page_is_self_contained_and_escapes_student_text(written):
    """Does the page load nothing from elsewhere, embed real PNGs, and show a student's <script> as text?"""
    page, _ = written
    assert not re.search(r"(?:src|href)=\"(?!data:|#)", page)
    assert "http://" not in page and "https://" not in page
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 2
    assert all(base64.b64decode(image).startswith(b"\x89PNG\r\n\x1a\n") for image in images)
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_numbers_of_the_page_and_the_csv(written):
    """Pass rates, masked failure groups, score spread, grading time: the same in the CSV and on the page?"""
    page, table = written
    found = {(r["kind"], r["name"]): r for r in table}
    assert found[("pass_rate", "test_add")]["count"] == "1" and found[("pass_rate", "test_add")]["detail"] == "of 4"
    assert found[("pass_rate", "test_mul")]["value"] == "0.7500"
    assert "<td class=n>1 / 4</td><td class=n>25%</td>" in page
    failures = [(r["name"], r["count"], r["detail"]) for r in table if r["kind"] == "failure"]
    assert ("test_add", "3", "add(N, N) returned N: expected N. <script>alert(N)</script>") in failures
    assert ("test_mul", "1", "NameError: name 'mul' is not defined") in failures
    assert found[("score", "median")]["value"] == "3" and found[("score", "max")]["value"] == "5"
    assert found[("summary", "graded")]["count"] == "4"
    assert found[("grading_seconds", "median")]["value"] == "5.500"
    assert "median 5.5 s" in page
    assert found[("grading_problem", "1003")]["detail"] == "cell 3 raised NameError: name 'np' is not defined"
    bins = {r["name"]: r["count"] for r in table if r["kind"] == "score_bin"}
    assert sum(map(int, bins.values())) == 4 and bins["80-90%"] == "1"


def test_students_not_graded_and_stray_files_are_listed(written):
    """Are a submission never graded, one that changed after grading, and a file beside the notebook all named?"""
    page, table = written
    reasons = {r["name"]: r["detail"] for r in table if r["kind"] == "not_graded"}
    assert set(reasons) == {"1004", "1006"}
    assert "no grade recorded" in reasons["1004"]
    assert "changed after it was graded" in reasons["1006"]
    strays = {r["name"]: r["detail"] for r in table if r["kind"] == "file_not_graded"}
    assert strays == {"1002": f"{LAB}-1.ipynb"}
    assert "Not graded" in page and f"{LAB}-1.ipynb" in page


def test_mask_groups_messages_that_differ_in_numbers():
    """Do messages that differ only in their numbers share one key, and ones that differ in words not?"""
    assert mask("expected 0.5, got -1e-3 at index 4") == mask("expected 2.25, got 7 at index 10")
    assert mask("expected 0.5") != mask("shape (3,) vs (3, 1)")


def test_refusals_write_nothing(course, tmp_path, capsys):
    """Unknown lab and a missing output folder: exit 2 with the reason, no HTML and no CSV."""
    code, _, err = run(capsys, "07_missing", "--course-dir", course, "--out", tmp_path / "r.html")
    assert code == 2 and "unknown lab 07_missing" in err and LAB in err
    code, _, err = run(capsys, LAB, "--course-dir", course, "--out", tmp_path / "no" / "r.html")
    assert code == 2 and "does not exist" in err
    assert not list(tmp_path.glob("r.*"))


def test_not_graded_reasons_and_flags_from_autograde_are_shown(course, tmp_path, capsys):
    """Does the report give autograde's NOT GRADED reason (kept in not-graded/<lab>.json) while the file is the one it
    concerns, fall back to 'no grade recorded' once it changed, and list the flagged students with what they did?"""
    import hashlib
    import json

    import nbformat

    from autograder import gradebook

    path = course / "submitted" / "1004" / LAB / f"{LAB}.ipynb"
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    (course / "not-graded").mkdir()
    (course / "not-graded" / f"{LAB}.json").write_text(json.dumps({"lab": LAB, "students": {
        "1004": {"reason": "this is 99_other's notebook, not toy's <b>", "sha256": sha}}}))
    autograded = course / "autograded" / "1002" / LAB / f"{LAB}.ipynb"
    nb = nbformat.read(autograded, as_version=4)
    nb.metadata[gradebook.MARKER]["flags"] = [{"grade_id": "add", "problem": "retyped",
                                               "message": "cell `add` was turned into Markdown: restore it"}]
    nbformat.write(nb, autograded)
    out = tmp_path / "report.html"
    assert run(capsys, LAB, "--course-dir", course, "--out", out)[0] == 0
    page, table = out.read_text(encoding="utf-8"), rows(tmp_path / "report.csv")
    reasons = {r["name"]: r["detail"] for r in table if r["kind"] == "not_graded"}
    assert reasons["1004"] == "NOT GRADED by autograde: this is 99_other's notebook, not toy's <b>"
    assert "this is 99_other&#x27;s notebook, not toy&#x27;s &lt;b&gt;" in page
    flagged = {r["name"]: r["detail"] for r in table if r["kind"] == "flagged"}
    assert flagged == {"1002": "cell `add` was turned into Markdown: restore it"} and "Flagged" in page
    path.write_text(path.read_text() + " ")  # resubmitted since: the kept reason no longer applies
    assert run(capsys, LAB, "--course-dir", course, "--out", out)[0] == 0
    reasons = {r["name"]: r["detail"] for r in rows(tmp_path / "report.csv") if r["kind"] == "not_graded"}
    assert reasons["1004"].startswith("no grade recorded; the file changed since autograde did not grade it")
