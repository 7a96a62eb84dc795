"""autograder.batch: `python -m autograder autograde` grades a course on Dask workers, resumably.

Most tests use fake grade functions (fast, and they read markers that the
submissions carry); one integration test runs the real grader on Lab 01.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder import batch, dispatch, plan
from autograder.cli import main
from tests.conftest import ROOT
from tests.autograder.fixtures_gradebook import HIDDEN, LAB, make_course, solved

GRADE_CELLS = 3  # test_add, test_mul and the manually graded answer


def fake_grade(lab, submission, *, source=None, limits=None, seed=None, hide=()):
    """Full marks, except: FAKE_RAISE raises, FAKE_EXIT kills the worker, FAKE_SLEEP=<s> sleeps, FAKE_WAIT=<path>=END
    waits for the file at <path>, WRONG_<test> fails it."""
    text = Path(submission).read_text(errors="replace")
    if "FAKE_RAISE" in text:
        raise RuntimeError("fake grader exploded")
    if "FAKE_EXIT" in text:
        os._exit(3)
    sleep = re.search(r"FAKE_SLEEP=([0-9.]+)", text)
    if sleep:
        time.sleep(float(sleep.group(1)))
    wait = re.search(r"FAKE_WAIT=(\S+?)=END", text)
    if wait:  # held until the file exists (at most 120 s)
        deadline = time.monotonic() + 120
        while not os.path.exists(wait.group(1)) and time.monotonic() < deadline:
            time.sleep(0.05)
    nasty = "\x1b]0;owned\x07\x1b[2J\ud800 \u202e" if "FAKE_NASTY" in text else ""
    tests = []
    for cell in nbformat.read(source, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            ok = f"WRONG_{meta['grade_id']}" not in text
            tests.append({"grade_id": meta["grade_id"], "score": float(meta["points"]) if ok else 0.0,
                          "max_score": float(meta["points"]), "passed": ok, "message": nasty or ("" if ok else "wrong")})
    return {"lab": lab, "score": sum(t["score"] for t in tests), "max_score": sum(t["max_score"] for t in tests),
            "tests": tests, "errors": [f"{nasty}Error{nasty}: {nasty}"] if nasty else []}


def run_cli(argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


def gradebook_rows(root: Path) -> list[tuple]:
    """(student, cell, auto_score) of every grade row of the lab."""
    db = sqlite3.connect(root / "gradebook.db")
    try:
        return db.execute(
            "select sa.student_id, bc.name, g.auto_score from grade g "
            "join submitted_notebook sn on g.notebook_id = sn.id "
            "join submitted_assignment sa on sn.assignment_id = sa.id "
            "join base_cell bc on g.cell_id = bc.id").fetchall()
    finally:
        db.close()


def scores(root: Path) -> dict[str, float]:
    totals: dict[str, float] = {}
    for student, _, score in gradebook_rows(root):
        totals[student] = totals.get(student, 0.0) + (score or 0.0)
    return totals


@pytest.fixture(scope="module")
def batch_run(tmp_path_factory):
    """One CLI run over five submissions: right, one test wrong, grader raises, not JSON, worker killed."""
    root = make_course(tmp_path_factory.mktemp("batch") / "course", {
        "alice": solved(), "bob": solved("WRONG_test_add"), "carol": solved("FAKE_RAISE"),
        "dave": "{not json", "erin": solved("FAKE_EXIT"),
    })
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(batch, "GRADE_FN", fake_grade)
        rc, out, err = run_cli(["autograde", LAB, "--course-dir", str(root), "--workers", "2", "--seed", "7"])
    return root, rc, out, err


def test_batch_completes_with_a_one_line_summary(batch_run):
    """Does a batch with broken submissions and a failing grader still complete, print the summary and every score,
    and exit 1 because some students are not graded?"""
    _, rc, out, err = batch_run
    assert rc == 1, err
    lines = out.splitlines()
    assert lines[0] == "graded 2, skipped 0 already graded, 3 NOT graded (see why below; run again once fixed)"
    assert re.search(r"^\s+alice\s+5 / 6$", out, re.M) and re.search(r"^\s+bob\s+3 / 6$", out, re.M)
    assert "autograde toy" in err and "seeds from secret 7" in err  # the progress bar and the header go to stderr


def test_grades_are_written_once_per_cell(batch_run):
    """Is every graded student's every graded cell one gradebook row, with the fake grader's scores, and no one else's?"""
    root, *_ = batch_run
    rows = gradebook_rows(root)
    assert len(rows) == 2 * GRADE_CELLS and len({(s, c) for s, c, _ in rows}) == len(rows)
    assert scores(root) == {"alice": 5.0, "bob": 3.0}


def test_machinery_failures_leave_the_student_ungraded(batch_run):
    """Do a grade function that raises and a worker that dies leave the student ungraded (no row, no notebook),
    with the reason in the summary, instead of a 0?"""
    root, _, out, _ = batch_run
    assert re.search(r"carol\s+NOT GRADED: worker .*grading raised RuntimeError: fake grader exploded", out)
    assert re.search(r"erin\s+NOT GRADED: the grading worker died", out)
    for student in ("carol", "erin"):
        assert not (root / "autograded" / student).exists()
        assert student not in {s for s, _, _ in gradebook_rows(root)}
    for student in ("alice", "bob"):
        text = (root / "autograded" / student / LAB / f"{LAB}.ipynb").read_text()
        assert HIDDEN not in text


def test_a_file_that_is_no_notebook_is_not_graded_and_run_nowhere(batch_run):
    """Is a submitted file that is not JSON NOT GRADED with the reason and the fix (no 0, no kernel run, no row),
    and is the reason kept in not-graded/<lab>.json for `report`, with the other NOT GRADED students?"""
    root, _, out, _ = batch_run
    assert re.search(r"^\s+dave\s+NOT GRADED: toy.ipynb cannot be graded: the submission is not a valid notebook "
                     r"file \(not JSON: .*Nothing was run; ask the student to download the notebook again", out, re.M)
    assert not (root / "autograded" / "dave").exists() and "dave" not in scores(root)
    kept = json.loads((root / "not-graded" / f"{LAB}.json").read_text())
    assert sorted(kept["students"]) == ["carol", "dave", "erin"]
    assert "not a valid notebook" in kept["students"]["dave"]["reason"] and kept["students"]["dave"]["sha256"]


def test_seeds_differ_per_student_and_follow_the_secret(batch_run):
    """Is each student's seed derived from the run's secret and their id: different per student, reproducible?"""
    root, *_ = batch_run
    seeds = {s: nbformat.read(root / "autograded" / s / LAB / f"{LAB}.ipynb", as_version=4).metadata["autograder"]
             .get("seed") for s in ("alice", "bob")}
    assert len(set(seeds.values())) == 2
    assert seeds == {s: batch.student_seed(b"7", s) for s in seeds}
    assert batch.student_seed(b"8", "alice") != seeds["alice"]


def test_second_run_grades_only_what_changed_and_what_was_not_graded(batch_run, monkeypatch):
    """Does a rerun skip every graded submission, regrade a resubmission, try the ungraded again, duplicate no row,
    and grade them once the grader works?"""
    root, *_ = batch_run
    monkeypatch.setattr(batch, "GRADE_FN", fake_grade)
    nbformat.write(solved("resubmitted"), root / "submitted" / "bob" / LAB / f"{LAB}.ipynb")
    rc, out, _ = run_cli(["autograde", LAB, "--course-dir", str(root), "--workers", "1"])
    assert rc == 1
    assert out.splitlines()[0].startswith("graded 1, skipped 1 already graded, 3 NOT graded")
    assert len(gradebook_rows(root)) == 2 * GRADE_CELLS and scores(root)["bob"] == 5.0
    for student in ("carol", "erin", "dave"):  # what broke the grader is gone: the next run grades them
        nbformat.write(solved(), root / "submitted" / student / LAB / f"{LAB}.ipynb")
    monkeypatch.setattr(batch, "dask_client", _threaded_client)  # nothing kills its worker now: threads will do
    rc, out, _ = run_cli(["autograde", LAB, "--course-dir", str(root), "--workers", "1"])
    assert rc == 0 and out.splitlines()[0] == "graded 3, skipped 2 already graded"
    assert len(gradebook_rows(root)) == 5 * GRADE_CELLS and scores(root)["carol"] == 5.0


@contextlib.contextmanager
def _threaded_client(workers, scheduler):
    """A Client on a one-thread, in-process cluster (starts in a fraction of a second; for fake grade functions)."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client


def test_unreadable_submission_stays_ungraded_and_a_rerun_grades_it(tmp_path, monkeypatch):
    """Does a submission the coordinator cannot read leave that student ungraded (no 0, the reason in the summary)
    while the others are graded, and does a rerun grade them once the file is readable?"""
    root = make_course(tmp_path / "course", {"alice": solved(), "bob": solved()})
    real_read = plan.read_submitted

    def flaky(course, lab, student):
        if student == "bob":
            return None, f"cannot read {course.submitted(student, lab)}: Input/output error", 0
        return real_read(course, lab, student)

    monkeypatch.setattr(plan, "read_submitted", flaky)
    monkeypatch.setattr(batch, "dask_client", _threaded_client)
    out = io.StringIO()
    summary = batch.autograde(LAB, root, workers=1, grade_fn=fake_grade, progress=False, out=out)
    assert summary.graded == ["alice"] and "Input/output error" in summary.ungraded["bob"]
    assert re.search(r"^\s+bob\s+NOT GRADED: cannot read", out.getvalue(), re.M) and not (root / "autograded" / "bob").exists()
    monkeypatch.setattr(plan, "read_submitted", real_read)
    summary = batch.autograde(LAB, root, workers=1, grade_fn=fake_grade, progress=False, out=io.StringIO())
    assert summary.graded == ["bob"] and summary.skipped == ["alice"] and not summary.ungraded


def test_a_failure_while_recording_one_student_never_stops_the_others(tmp_path, monkeypatch):
    """Are hostile strings (terminal escapes, a lone surrogate) recorded harmlessly, and does a gradebook write that
    fails for one student leave only that student ungraded, the next run grading them?"""
    root = make_course(tmp_path / "course", {"ann": solved("FAKE_NASTY"), "bea": solved(), "cal": solved()})
    monkeypatch.setattr(batch, "dask_client", _threaded_client)
    real_record = dispatch.record

    def failing(course, lab, graded, release):
        if graded.student == "bea":
            raise sqlite3.OperationalError("database is locked")
        return real_record(course, lab, graded, release)

    monkeypatch.setattr(dispatch, "record", failing)
    out = io.StringIO()
    summary = batch.autograde(LAB, root, workers=1, grade_fn=fake_grade, progress=False, out=out)
    assert sorted(summary.graded) == ["ann", "cal"] and "database is locked" in summary.ungraded["bea"]
    assert all(c.isprintable() or c == "\n" for c in out.getvalue())
    autograded = (root / "autograded" / "ann" / LAB / f"{LAB}.ipynb").read_text(encoding="utf-8")
    for bad in ("\x1b", "\\u001b", "\\ud800", "\u202e", "\\u202e"):
        assert bad not in autograded, bad
    monkeypatch.setattr(dispatch, "record", real_record)
    summary = batch.autograde(LAB, root, workers=1, grade_fn=fake_grade, progress=False, out=io.StringIO())
    assert summary.graded == ["bea"] and sorted(summary.skipped) == ["ann", "cal"] and not summary.ungraded
    assert scores(root) == {"ann": 5.0, "bea": 5.0, "cal": 5.0}


def test_unknown_lab_is_a_one_line_error(tmp_path):
    """Does a lab without a source notebook exit non-zero with one line naming the problem?"""
    root = make_course(tmp_path / "course", {})
    rc, out, err = run_cli(["autograde", "nolab", "--course-dir", str(root)])
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: unknown lab nolab")


def test_a_lab_without_hidden_tests_stops_before_grading(tmp_path):
    """With the real grader, does a source without hidden tests stop the batch with the fix, grading no one 0?"""
    root = make_course(tmp_path / "course", {"alice": solved()})
    rc, out, err = run_cli(["autograde", LAB, "--course-dir", str(root)])
    assert rc == 2 and "no hidden tests" in err and err.startswith("error: cannot grade toy")
    assert not (root / "autograded").exists()


def test_kill_9_midway_then_rerun_loses_and_duplicates_nothing(tmp_path, child_env):
    """After `kill -9` of a running batch, does a rerun grade exactly the missing submissions, each once?"""
    students = [f"s{i:02d}" for i in range(8)]
    go = tmp_path / "go"  # the last five are held until it exists: the kill always comes after exactly three
    root = make_course(tmp_path / "course", {s: solved("FAKE_SLEEP=0.2" if i < 3 else f"FAKE_WAIT={go}=END")
                                             for i, s in enumerate(students)})
    script = ("import sys; from autograder.batch import autograde; from tests.autograder.test_batch import fake_grade; "
              f"autograde({LAB!r}, {str(root)!r}, workers=2, grade_fn=fake_grade)")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=child_env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    autograded = root / "autograded"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(list(autograded.glob(f"*/{LAB}/{LAB}.ipynb"))) < 3:
            assert proc.poll() is None, "the batch ended before it could be killed"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # its Dask workers, should any outlive it
    done_before = len(list(autograded.glob(f"*/{LAB}/{LAB}.ipynb")))
    assert done_before == 3
    go.touch()

    summary = batch.autograde(LAB, root, workers=2, grade_fn=fake_grade, progress=False, out=io.StringIO())
    assert len(summary.skipped) >= done_before and not summary.ungraded
    assert sorted(summary.graded + summary.skipped) == students
    rows = gradebook_rows(root)
    assert len(rows) == len(students) * GRADE_CELLS and len({(s, c) for s, c, _ in rows}) == len(rows)
    assert scores(root) == dict.fromkeys(students, 5.0)
    db = sqlite3.connect(root / "gradebook.db")
    assert db.execute("select count(*), count(distinct student_id) from submitted_assignment").fetchone() == (8, 8)
    db.close()


LAB01 = "01_perceptron"


@pytest.mark.slow
def test_real_grading_of_lab01(tmp_path, child_env):
    """With the real grader, does the solution get full marks and the untouched release 0, in a course outside the repository?"""
    import shutil

    root = tmp_path / "course"
    shutil.copytree(ROOT / "solutions" / LAB01, root / "solutions" / LAB01)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    for student, path in {"sol": ROOT / "solutions" / LAB01 / f"{LAB01}.ipynb",
                          "rel": ROOT / "notebooks" / f"{LAB01}.ipynb"}.items():
        (root / "submitted" / student / LAB01).mkdir(parents=True)
        shutil.copy(path, root / "submitted" / student / LAB01 / f"{LAB01}.ipynb")
    summary = batch.autograde(LAB01, root, workers=2, seed=1, progress=False, out=io.StringIO())
    assert sorted(summary.graded) == ["rel", "sol"] and not summary.ungraded
    score, max_score = summary.scores["sol"]
    assert max_score > 0 and score == pytest.approx(max_score - _manual_points(root))
    assert summary.scores["rel"][0] == 0
    done = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", LAB01], cwd=root, env=child_env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (root / "feedback" / "sol" / LAB01 / f"{LAB01}.html").is_file()
    release = (ROOT / "notebooks" / f"{LAB01}.ipynb").read_text()
    for student in ("sol", "rel"):
        autograded = (root / "autograded" / student / LAB01 / f"{LAB01}.ipynb").read_text()
        for line in _hidden_lines(root / "solutions" / LAB01 / f"{LAB01}.ipynb"):
            assert json.dumps(line)[1:-1] not in autograded or json.dumps(line)[1:-1] in release, line


def _hidden_lines(source: Path) -> list[str]:
    """The non-trivial lines of the source's hidden-test regions."""
    lines = []
    for cell in nbformat.read(source, as_version=4).cells:
        for region in re.findall(r"BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S):
            lines += [line.strip() for line in region.splitlines() if len(line.strip()) >= 12]
    return lines


def _manual_points(root: Path) -> float:
    """Points of manually graded answers, which the autograder leaves to a human."""
    nb = nbformat.read(root / "solutions" / LAB01 / f"{LAB01}.ipynb", as_version=4)
    return sum(float(c.metadata["nbgrader"].get("points", 0)) for c in nb.cells
               if c.metadata.get("nbgrader", {}).get("grade") and c.metadata["nbgrader"].get("solution"))


HOSTILE_WRITES = '''
import glob, os, sqlite3
COURSE = {course!r}
attempts = []
for target in glob.glob(COURSE + "/**", recursive=True) + [COURSE + "/gradebook.db",
                                                          COURSE + "/submitted/alice/99_fixture/99_fixture.ipynb"]:
    try:
        with open(target, "w") as f:
            f.write("owned")
        attempts.append(target)
    except Exception:
        pass
try:
    db = sqlite3.connect(COURSE + "/gradebook.db")
    db.execute("update grade set auto_score = 100")
    db.commit()
    attempts.append("sql")
except Exception:
    pass
print("writes that worked:", attempts)
'''


@pytest.mark.slow
def test_hostile_student_cannot_touch_the_gradebook_or_other_submissions(tmp_path):
    """With the real grader, does a submission that tries to overwrite gradebook.db and a classmate's notebook change nothing?"""
    import hashlib
    import shutil

    from tests.files.fixture_lab import LAB as FIXTURE, source_notebook, write_lab

    root = tmp_path / "course"
    write_lab(root)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    alice = source_notebook()
    hostile = source_notebook()
    hostile.cells.append(nbformat.v4.new_code_cell(HOSTILE_WRITES.format(course=str(root))))
    for student, nb in {"alice": alice, "mallory": hostile}.items():
        (root / "submitted" / student / FIXTURE).mkdir(parents=True)
        nbformat.write(nb, root / "submitted" / student / FIXTURE / f"{FIXTURE}.ipynb")
    # A gradebook that already holds the assignment: the hostile cell has something to aim at.
    batch.autograde(FIXTURE, root, workers=1, seed=3, progress=False, out=io.StringIO(), force=True)
    before = hashlib.sha256((root / "submitted" / "alice" / FIXTURE / f"{FIXTURE}.ipynb").read_bytes()).hexdigest()
    summary = batch.autograde(FIXTURE, root, workers=2, seed=3, progress=False, out=io.StringIO(), force=True)
    after = hashlib.sha256((root / "submitted" / "alice" / FIXTURE / f"{FIXTURE}.ipynb").read_bytes()).hexdigest()
    assert before == after, "a classmate's submission changed"
    # The same cell run unconfined on a copy of the course does overwrite files: the attack is real.
    decoy = tmp_path / "decoy"
    shutil.copytree(root, decoy)
    ran = subprocess.run([sys.executable, "-c", HOSTILE_WRITES.format(course=str(decoy))],
                         capture_output=True, text=True, timeout=60)
    assert "gradebook.db" in ran.stdout and "alice" in ran.stdout, ran.stdout[-500:] + ran.stderr[-500:]
    assert not summary.ungraded
    full = summary.scores["alice"][1]
    assert summary.scores["alice"][0] == full and summary.scores["mallory"][0] <= full
    db = sqlite3.connect(root / "gradebook.db")
    try:
        assert db.execute("pragma integrity_check").fetchone()[0] == "ok"
        assert all(score is not None and score <= full
                   for score, in db.execute("select auto_score from grade").fetchall())
    finally:
        db.close()
    assert sorted({s for s, _, _ in gradebook_rows(root)}) == ["alice", "mallory"]


def test_several_labs_are_graded_as_one_batch(tmp_path, monkeypatch):
    """Does `autograde LAB LAB2` grade both labs on one cluster, record each grade under its own lab, print one
    summary per lab, and refuse a lab named twice or a lab the course does not have before touching the gradebook?"""
    root = make_course(tmp_path / "course", {"alice": solved(), "bob": solved("WRONG_test_add")})
    other = "toy2"
    (root / "solutions" / other).mkdir()
    (root / "solutions" / LAB / f"{LAB}.ipynb").rename(root / "solutions" / other / f"{other}.ipynb")
    shutil.copy(root / "solutions" / other / f"{other}.ipynb", root / "solutions" / LAB / f"{LAB}.ipynb")
    for student, marker in (("alice", "WRONG_test_mul"), ("carol", "")):
        (root / "submitted" / student / other).mkdir(parents=True)
        nbformat.write(solved(marker), root / "submitted" / student / other / f"{other}.ipynb")
    monkeypatch.setattr(batch, "GRADE_FN", fake_grade)
    clusters = []

    @contextlib.contextmanager
    def counted(workers, scheduler):
        clusters.append(workers)
        with _threaded_client(workers, scheduler) as client:
            yield client

    monkeypatch.setattr(batch, "dask_client", counted)
    for argv, why in (([LAB, LAB], "named more than once"), ([LAB, "nolab"], "nolab")):
        rc, _, err = run_cli(["autograde", *argv, "--course-dir", str(root), "--workers", "2"])
        assert rc == 2 and why in err, err
    assert not clusters and not (root / "autograded").exists() and not (root / "gradebook.db").exists()

    rc, out, err = run_cli(["autograde", LAB, other, "--course-dir", str(root), "--workers", "2", "--seed", "4"])
    assert rc == 0, err
    assert clusters == [2]  # one cluster for both labs
    assert f"{LAB}: 2 to grade, 0 already graded; {other}: 2 to grade, 0 already graded" in err
    assert re.search(rf"^{LAB}: graded 2, skipped 0 already graded\n\s+alice\s+5 / 6\n\s+bob\s+3 / 6$", out, re.M), out
    assert re.search(rf"^{other}: graded 2, skipped 0 already graded\n\s+alice\s+2 / 6\n\s+carol\s+5 / 6$", out, re.M), out
    db = sqlite3.connect(root / "gradebook.db")
    try:
        rows = db.execute(
            "select a.name, sa.student_id, sum(g.auto_score) from grade g "
            "join submitted_notebook sn on g.notebook_id = sn.id "
            "join submitted_assignment sa on sn.assignment_id = sa.id "
            "join assignment a on sa.assignment_id = a.id group by a.name, sa.student_id").fetchall()
    finally:
        db.close()
    assert sorted(rows) == [(LAB, "alice", 5.0), (LAB, "bob", 3.0), (other, "alice", 2.0), (other, "carol", 5.0)]
    rc, out, _ = run_cli(["autograde", other, LAB, "--course-dir", str(root), "--workers", "2"])
    assert rc == 0 and f"{other}: graded 0, skipped 2 already graded" in out and len(clusters) == 1
