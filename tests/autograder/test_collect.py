"""python -m autograder collect: from an LMS download to submitted/<student>/<lab>/<lab>.ipynb."""
from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

from autograder import cli
from autograder.collect import notebook_key
from tests.conftest import ROOT

LAB = "05_minibatch_sgd"
OTHER = "01_perceptron"


def nb(tag: str) -> bytes:
    return ('{"cells": [], "metadata": {"tag": "%s"}, "nbformat": 4, "nbformat_minor": 5}' % tag).encode()


@pytest.fixture
def course(tmp_path) -> Path:
    """A course directory with the repository's config and two labs' source notebooks (no gradebook)."""
    root = tmp_path / "course"
    (root / "solutions").mkdir(parents=True)
    (root / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    for lab in (LAB, OTHER):
        (root / "solutions" / lab).mkdir()
        (root / "solutions" / lab / f"{lab}.ipynb").write_bytes(nb("source"))
    return root


def make_zip(path: Path, members: dict[str, bytes], times: dict[str, tuple] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(times or {}).get(name, (2026, 3, 1, 12, 0, 0)))
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            archive.writestr(info, data)
    return path


def run(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["collect", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def submitted(course: Path) -> dict[str, bytes]:
    return {p.relative_to(course / "submitted").as_posix(): p.read_bytes()
            for p in sorted((course / "submitted").rglob("*")) if p.is_file()}


CANVAS = {
    "fox_12345_67890_05_minibatch_sgd.ipynb": nb("fox first"),
    "fox_12345_67891_05_minibatch_sgd-1.ipynb": nb("fox resubmitted"),
    "ant_LATE_222_555_Copy of 05_minibatch_sgd.ipynb": nb("ant"),
    "bee_333_556_05_minibatch_sgd (1).ipynb": nb("bee"),
    "eel_777_559_05_minibatch_sgd.ipynb": b"<html>Sign in to Google</html>",
    "cat_444_557_01_perceptron.ipynb": nb("cat wrong lab"),
    "dog_666_558_report.pdf": b"%PDF",
    "notes.txt": b"not a submission",
    "__MACOSX/._fox_12345_67890_05_minibatch_sgd.ipynb": b"\x00",
}


def test_canvas_zip_collects_latest_per_student_and_lists_the_rest(course, tmp_path, capsys):
    """Do resubmission, 'Copy of' and ' (1)' names reach <lab>.ipynb under the Canvas id, with every skip explained?"""
    download = make_zip(tmp_path / "submissions.zip", CANVAS)
    code, out, _ = run(capsys, LAB, download, "--course-dir", course)
    assert code == 0
    assert submitted(course) == {
        f"12345/{LAB}/{LAB}.ipynb": nb("fox resubmitted"),
        f"222/{LAB}/{LAB}.ipynb": nb("ant"),
        f"333/{LAB}/{LAB}.ipynb": nb("bee"),
        f"777/{LAB}/{LAB}.ipynb": b"<html>Sign in to Google</html>",  # what the student handed in, flagged
    }
    assert "warning: this file is not a readable notebook (not valid JSON" in out
    assert "fox_12345_67890_05_minibatch_sgd.ipynb: an older version of student 12345's notebook" in out
    assert "cat_444_557_01_perceptron.ipynb: this is 01_perceptron's notebook, not 05_minibatch_sgd's" in out
    assert "dog_666_558_report.pdf: not a notebook (.pdf)" in out
    assert "notes.txt: not named as Canvas names submissions" in out
    assert "__MACOSX/._fox_12345_67890_05_minibatch_sgd.ipynb: operating-system metadata" in out
    assert "4 student(s) collected (4 new, 0 unchanged, 0 replaced), 5 file(s) not collected" in out
    assert "(late)" in next(line for line in out.splitlines() if line.strip().startswith("222"))


def test_rerun_is_idempotent_and_a_changed_file_is_backed_up(course, tmp_path, capsys):
    """Does a rerun rewrite nothing, and does a changed download replace a file only after backing it up?"""
    download = make_zip(tmp_path / "submissions.zip", CANVAS)
    assert run(capsys, LAB, download, "--course-dir", course)[0] == 0
    before = submitted(course)
    mtimes = {p: p.stat().st_mtime_ns for p in (course / "submitted").rglob("*.ipynb")}
    code, out, _ = run(capsys, LAB, download, "--course-dir", course)
    assert code == 0 and "0 new, 4 unchanged, 0 replaced" in out
    assert submitted(course) == before
    assert {p: p.stat().st_mtime_ns for p in (course / "submitted").rglob("*.ipynb")} == mtimes
    assert not (course / "collect-backup").exists()

    changed = make_zip(tmp_path / "again.zip", {**CANVAS, "fox_12345_67892_05_minibatch_sgd-2.ipynb": nb("fox v3")})
    code, out, _ = run(capsys, LAB, changed, "--course-dir", course)
    assert code == 0 and "0 new, 3 unchanged, 1 replaced" in out
    assert submitted(course)[f"12345/{LAB}/{LAB}.ipynb"] == nb("fox v3")
    backups = list((course / "collect-backup").rglob("*.ipynb"))
    assert [p.read_bytes() for p in backups] == [nb("fox resubmitted")]
    assert backups[0].relative_to(course / "collect-backup").parts[1:] == ("12345", LAB, f"{LAB}.ipynb")
    assert str(backups[0].relative_to(course)) in out


def test_same_version_number_newest_time_wins(course, tmp_path, capsys):
    """With no resubmission number to tell them apart, is the newest modification time kept?"""
    members = {"fox_12345_1_05_minibatch_sgd.ipynb": nb("old"), "fox_12345_2_Copy of 05_minibatch_sgd.ipynb": nb("new")}
    times = {"fox_12345_1_05_minibatch_sgd.ipynb": (2026, 3, 2, 9, 0, 0),
             "fox_12345_2_Copy of 05_minibatch_sgd.ipynb": (2026, 3, 1, 9, 0, 0)}
    download = make_zip(tmp_path / "s.zip", members, times)
    assert run(capsys, LAB, download, "--course-dir", course)[0] == 0
    assert submitted(course) == {f"12345/{LAB}/{LAB}.ipynb": nb("old")}


def test_hostile_zip_members_are_never_extracted(course, tmp_path, capsys):
    """Are absolute paths, '..', symlinks and a member over the size bound refused with a reason, and nothing
    written outside submitted/?"""
    download = tmp_path / "hostile.zip"
    with zipfile.ZipFile(download, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("/tmp/abs_1_2_05_minibatch_sgd.ipynb", nb("abs"))
        archive.writestr("../up_3_4_05_minibatch_sgd.ipynb", nb("up"))
        link = zipfile.ZipInfo("link_5_6_05_minibatch_sgd.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
        archive.writestr("bomb_7_8_05_minibatch_sgd.ipynb", b"0" * (3 << 20))  # compresses to a few kB
        archive.writestr("ok_9_10_05_minibatch_sgd.ipynb", nb("ok"))
    import autograder.collect as collect_module

    bound = collect_module.MAX_FILE_MB
    collect_module.MAX_FILE_MB = 1
    try:
        code, out, _ = run(capsys, LAB, download, "--course-dir", course)
    finally:
        collect_module.MAX_FILE_MB = bound
    assert code == 0
    assert submitted(course) == {f"9/{LAB}/{LAB}.ipynb": nb("ok")}
    assert "/tmp/abs_1_2_05_minibatch_sgd.ipynb: an absolute path inside the zip" in out
    assert "../up_3_4_05_minibatch_sgd.ipynb: a path with '..' inside the zip" in out
    assert "link_5_6_05_minibatch_sgd.ipynb: a symbolic link inside the zip" in out
    assert "bomb_7_8_05_minibatch_sgd.ipynb: larger than 1 MB: not read" in out
    assert sorted(p.name for p in course.iterdir()) == ["nbgrader_config.py", "solutions", "submitted"]
    assert not (tmp_path / "up_3_4_05_minibatch_sgd.ipynb").exists()


def test_corrupt_zip_member_is_listed_and_an_older_version_collected(course, tmp_path, capsys):
    """Is a member whose data is damaged listed as unreadable, with the student's older readable version kept?"""
    download = make_zip(tmp_path / "s.zip", {"fox_12345_1_05_minibatch_sgd.ipynb": nb("old"),
                                             "fox_12345_2_05_minibatch_sgd-1.ipynb": nb("new-and-broken")})
    data = bytearray(download.read_bytes())
    at = data.find(nb("new-and-broken"))
    data[at:at + 5] = b"XXXXX"  # stored (not compressed): the CRC check fails on read
    download.write_bytes(bytes(data))
    code, out, _ = run(capsys, LAB, download, "--course-dir", course)
    assert code == 0
    assert "fox_12345_2_05_minibatch_sgd-1.ipynb: unreadable zip member" in out
    assert submitted(course) == {f"12345/{LAB}/{LAB}.ipynb": nb("old")}


def test_moodle_folders_and_generic_layout(course, tmp_path, capsys):
    """Does Moodle's Full Name_<id>_assignsubmission_file_/ layout give the Moodle id, and generic the folder?"""
    moodle = tmp_path / "moodle"
    (moodle / "Ada Lovelace_4711_assignsubmission_file_").mkdir(parents=True)
    (moodle / "Ada Lovelace_4711_assignsubmission_file_" / "05_minibatch_sgd (2).ipynb").write_bytes(nb("ada"))
    (moodle / "Alan Turing_4712_assignsubmission_onlinetext_").mkdir()
    (moodle / "Alan Turing_4712_assignsubmission_onlinetext_" / "onlinetext.html").write_text("<p>hi</p>")
    code, out, _ = run(capsys, LAB, moodle, "--course-dir", course, "--lms", "moodle")
    assert code == 0
    assert submitted(course) == {f"4711/{LAB}/{LAB}.ipynb": nb("ada")}
    assert "Moodle's onlinetext submission, not a file" in out

    generic = tmp_path / "generic"
    (generic / "grace").mkdir(parents=True)
    (generic / "wrapper" / "linus" / LAB).mkdir(parents=True)  # nbgrader's layout inside a wrapping folder
    (generic / "wrapper" / "linus" / LAB / f"{LAB}.ipynb").write_bytes(nb("linus"))
    (generic / "grace" / "Copy of 05_minibatch_sgd.ipynb").write_bytes(nb("grace"))
    (generic / "loose.ipynb").write_bytes(nb("loose"))
    os.symlink(generic / "grace" / "Copy of 05_minibatch_sgd.ipynb", generic / "grace" / "05_minibatch_sgd-3.ipynb")
    code, out, _ = run(capsys, LAB, generic, "--course-dir", course, "--lms", "generic")
    assert code == 0
    assert submitted(course)[f"grace/{LAB}/{LAB}.ipynb"] == nb("grace")
    assert submitted(course)[f"linus/{LAB}/{LAB}.ipynb"] == nb("linus")
    assert "loose.ipynb: not inside a student's folder" in out
    assert "grace/05_minibatch_sgd-3.ipynb: a symbolic link: not followed" in out


def test_nothing_collected_exits_nonzero_and_writes_nothing(course, tmp_path, capsys):
    """Does a download with no notebook of the lab exit 1, hint at --lms, and create no folder?"""
    moodle_name = "Ada Lovelace_4711_assignsubmission_file_/05_minibatch_sgd.ipynb"
    download = make_zip(tmp_path / "s.zip", {moodle_name: nb("a")})
    code, out, err = run(capsys, LAB, download, "--course-dir", course)
    assert code == 1
    assert "no notebook of 05_minibatch_sgd was collected" in err and "--lms moodle" in err
    assert not (course / "submitted").exists()


def test_refusals_name_the_problem_and_create_nothing(course, tmp_path, capsys):
    """Unknown lab, a folder without nbgrader_config.py, a file that is not a zip: a clear error, exit 2, no
    folder created."""
    download = make_zip(tmp_path / "s.zip", CANVAS)
    code, _, err = run(capsys, "07_missing", download, "--course-dir", course)
    assert code == 2 and "unknown lab 07_missing" in err and f"{OTHER}, {LAB}" in err

    code, _, err = run(capsys, LAB, download, "--course-dir", tmp_path)
    assert code == 2 and "has no nbgrader_config.py" in err

    (tmp_path / "not.zip").write_text("hello")
    code, _, err = run(capsys, LAB, tmp_path / "not.zip", "--course-dir", course)
    assert code == 2 and "not a readable zip file" in err

    code, _, err = run(capsys, LAB, tmp_path / "absent.zip", "--course-dir", course)
    assert code == 2 and "no such file or folder" in err
    assert sorted(p.name for p in course.iterdir()) == ["nbgrader_config.py", "solutions"]


@pytest.mark.parametrize("name, key", [
    ("05_minibatch_sgd.ipynb", ("05_minibatch_sgd", (0, 0))),
    ("05_minibatch_sgd-1.ipynb", ("05_minibatch_sgd", (1, 0))),
    ("05_minibatch_sgd (2).ipynb", ("05_minibatch_sgd", (0, 2))),
    ("Copy of 05_minibatch_sgd.ipynb", ("05_minibatch_sgd", (0, 0))),
    ("Copy of Copy of 05_minibatch_sgd (1)-3.ipynb", ("05_minibatch_sgd", (3, 1))),
    ("Copy+of+05_minibatch_sgd.IPYNB", ("05_minibatch_sgd", (0, 0))),
    ("05_minibatch_sgd.pdf", None),
])
def test_notebook_key(name, key):
    """Are the LMS's and Colab's suffixes removed and their numbers kept for ordering?"""
    assert notebook_key(name) == key


def test_collect_and_grading_agree_on_the_path(course, tmp_path, capsys):
    """Is what collect writes exactly where autograde looks (Course.students)?"""
    from autograder.gradebook import load_course

    assert run(capsys, LAB, make_zip(tmp_path / "s.zip", CANVAS), "--course-dir", course)[0] == 0
    assert load_course(course, LAB).students(LAB) == ["12345", "222", "333", "777"]
