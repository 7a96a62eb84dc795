"""python -m autograder export: Canvas's gradebook CSV and the wide CSV, read back with the csv module."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

from autograder import cli
# the recorded course: fixtures `template` and `course`
from tests.autograder.fixtures_gradebook import LAB, recorded_course, recorded_template  # noqa: F401

IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
ROSTER = [  # as Canvas exports it: a Points Possible row, read-only columns, the test student
    ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", f"{LAB} (98765)", "Current Score"],
    ["    Points Possible", "", "", "", "", "6.00", "(read only)"],
    ["Lovelace, Ada", "1001", "S-1001", "ada@uni.example", "Section A", "", "80"],
    ["Babbage, Charles", "1002", "S-1002", "charles@uni.example", "Section B", "", "70"],
    ["Noether, Emmy", "1005", "S-1005", "emmy@uni.example", "Section A", "", ""],
    ["Student, Test", "9999", "", "", "Section A", "", ""],
]


def write_roster(path: Path, rows=ROSTER) -> Path:
    with open(path, "w", newline="", encoding="utf-8-sig") as f:  # Canvas's export starts with a BOM
        csv.writer(f).writerows(rows)
    return path


def read_back(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def check_canvas_rules(rows: list[list[str]], labs: int) -> dict[str, list[str]]:
    """Canvas's import format: the identity columns first, the Points Possible row second, one row per student
    with a unique non-empty ID, and every grade empty or a number between 0 and the points possible."""
    header, points, students = rows[0], rows[1], rows[2:]
    assert header[:5] == IDENTITY
    assert len(header) == 5 + labs and len(set(header)) == len(header)
    assert points[0].strip() == "Points Possible" and all(cell == "" for cell in points[1:5])
    assert all(len(row) == len(header) for row in rows)
    ids = [row[1] for row in students]
    assert all(ids) and len(set(ids)) == len(ids)
    for row in students:
        for cell, possible in zip(row[5:], points[5:]):
            assert cell == "" or 0 <= float(cell) <= float(possible), row
    return {row[1]: row for row in students}


def run(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["export", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_canvas_csv_from_a_roster(course, tmp_path, capsys):
    """Are the roster's students filled by Canvas id, empty (not 0) without a submission, and are graded students
    missing from the roster reported on stderr and in the report file?"""
    roster = write_roster(tmp_path / "canvas_export.csv")
    out = tmp_path / "grades.csv"
    code, stdout, stderr = run(capsys, LAB, "--course-dir", course, "--roster", roster, "--out", out)
    assert code == 0
    rows = read_back(out)
    assert rows[0] == IDENTITY + [f"{LAB} (98765)"]  # the roster's header: Canvas updates that assignment
    assert rows[1][5] == "6"
    students = check_canvas_rules(rows, labs=1)
    assert students["1001"] == ["Lovelace, Ada", "1001", "S-1001", "ada@uni.example", "Section A", "5"]
    assert students["1002"][5] == "3"
    assert students["1005"][5] == "" and students["9999"][5] == ""
    assert set(students) == {"1001", "1002", "1005", "9999"}
    assert "1003, 1006" in stderr and "not in the roster" in stderr
    report = (tmp_path / "grades-report.txt").read_text()
    assert "1003, 1006" in report and "1 score(s)" not in report and "2 score(s), 2 empty" in report
    assert "2 score(s), 2 empty" in stdout


def test_canvas_csv_without_a_roster_and_the_wide_csv(course, tmp_path, capsys):
    """Without a roster, is every gradebook student a row keyed by their id, and does the wide CSV carry each
    test's score (empty where a cell has no score yet)?"""
    out, wide = tmp_path / "grades.csv", tmp_path / "wide.csv"
    code, _, stderr = run(capsys, LAB, "--course-dir", course, "--out", out, "--wide", wide)
    assert code == 0 and stderr == ""
    students = check_canvas_rules(read_back(out), labs=1)
    assert {k: v[5] for k, v in students.items()} == {"1001": "5", "1002": "3", "1003": "0", "1006": "3"}
    rows = read_back(wide)
    assert rows[0] == ["student_id", "name", LAB, f"{LAB}/test_add", f"{LAB}/test_mul", f"{LAB}/explain"]
    by_id = {row[0]: row for row in rows[1:]}
    assert by_id["1001"][2:] == ["5", "2", "3", ""]
    assert by_id["1002"][2:] == ["3", "0", "3", ""]
    assert len(rows) == 1 + 4


def test_late_penalty_and_manual_grade_count_as_nbgrader_counts_them(course, tmp_path, capsys):
    """Does a manual score replace the automatic one, and a late penalty come off (never below 0)?"""
    import sqlite3

    db = sqlite3.connect(course / "gradebook.db")
    with db:
        db.execute("update grade set manual_score = 1 where notebook_id in (select sn.id from submitted_notebook sn "
                   "join submitted_assignment sa on sn.assignment_id = sa.id where sa.student_id = '1001') "
                   "and cell_id in (select id from base_cell where name = 'explain')")
        db.execute("update submitted_notebook set late_submission_penalty = 2 where assignment_id in "
                   "(select id from submitted_assignment where student_id = '1002')")
        db.execute("update submitted_notebook set late_submission_penalty = 2 where assignment_id in "
                   "(select id from submitted_assignment where student_id = '1003')")
    db.close()
    out = tmp_path / "grades.csv"
    assert run(capsys, LAB, "--course-dir", course, "--out", out)[0] == 0
    students = check_canvas_rules(read_back(out), labs=1)
    assert {k: v[5] for k, v in students.items()} == {"1001": "6", "1002": "1", "1003": "0", "1006": "3"}


def test_refusals_write_nothing(course, tmp_path, capsys):
    """Unknown lab, no gradebook, no nbgrader_config.py, a roster that is not Canvas's: exit 2, the reason, and
    neither a CSV nor a gradebook.db created."""
    out = tmp_path / "grades.csv"
    code, _, err = run(capsys, "07_missing", "--course-dir", course, "--out", out)
    assert code == 2 and "unknown lab 07_missing" in err and LAB in err

    bare = tmp_path / "bare"
    shutil.copytree(course, bare, ignore=shutil.ignore_patterns("gradebook.db"))
    code, _, err = run(capsys, LAB, "--course-dir", bare, "--out", out)
    assert code == 2 and "gradebook.db does not exist" in err and "autograde" in err
    assert not (bare / "gradebook.db").exists()

    code, _, err = run(capsys, LAB, "--course-dir", tmp_path, "--out", out)
    assert code == 2 and "has no nbgrader_config.py" in err

    roster = write_roster(tmp_path / "roster.csv", [["Name", "Email"], ["Ada", "ada@uni.example"]])
    code, _, err = run(capsys, LAB, "--course-dir", course, "--roster", roster, "--out", out)
    assert code == 2 and "not a Canvas gradebook export" in err and "Student or ID" in err

    code, _, err = run(capsys, LAB, "--course-dir", course, "--out", tmp_path / "nowhere" / "grades.csv")
    assert code == 2 and "does not exist" in err
    assert not out.exists() and not (tmp_path / "grades-report.txt").exists()


def test_text_that_a_spreadsheet_would_run_is_written_as_text(tmp_path):
    """Does a cell that starts like a formula (a student named =HYPERLINK(...), @SUM, +cmd, a tab) come back from
    the CSV with a leading apostrophe, while numbers, negative numbers and ordinary names are written unchanged?"""
    from autograder.export import write_csv

    path = tmp_path / "out.csv"
    cells = ['=HYPERLINK("http://x","y")', "@SUM(A1)", "+cmd|' /C calc'!A0", "\tTab", "-2+3", "-1.5", "3", "Ada", ""]
    write_csv(path, ["Student", "=header"], [cells])
    with open(path, newline="", encoding="utf-8") as f:
        header, row = list(csv.reader(f))
    assert header == ["Student", "'=header"]
    assert row == ["'" + cells[0], "'@SUM(A1)", "'+cmd|' /C calc'!A0", "'\tTab", "'-2+3", "-1.5", "3", "Ada", ""]
