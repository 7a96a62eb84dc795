"""Grading on a real Dask cluster whose workers cannot see the course directory.

A `dask scheduler` and two `dask worker` processes (127.0.0.1 only) start from other working
directories, each in a mount namespace where the course directory is an empty tmpfs: they have the
installed course package and nothing else. One worker is killed with kill -9 while it grades; its
task must be rescheduled on the other, every student graded exactly once, none lost, and what the
dead worker's sandbox left on this machine swept.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest

from autograder import batch, sandbox
from tests.conftest import ROOT
from tests.files.fixture_lab import LAB, source_notebook, with_solution, write_lab

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="hiding the course directory from the workers needs root"),
    pytest.mark.skipif(not sandbox.confinement_available()[0], reason="no confinement here"),
    pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare"),
]


def _scheduler_address(scheduler_file: Path, scheduler: subprocess.Popen) -> str | None:
    """The address the scheduler wrote to its scheduler file, once it listens (None before)."""
    assert scheduler.poll() is None, f"the scheduler exited with status {scheduler.returncode}"
    try:
        return json.loads(scheduler_file.read_text())["address"]
    except (OSError, ValueError, KeyError):  # not written yet, or half written
        return None


def _wait(condition, timeout: float, what: str, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = condition()
        if got:
            return got
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


@pytest.fixture
def cluster(tmp_path):
    """(scheduler address, course root, {name: Popen}) with two workers that cannot see the course."""
    course = tmp_path / "course"
    course.mkdir()
    bin_dir = Path(sys.executable).parent
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "3", "PYTHONDONTWRITEBYTECODE": "1",
           # The workers import this checkout's autograder, as the coordinator does (an editable install's finder
           # may point at another tree, whose modules are not the ones the tasks name).
           "PYTHONPATH": str(ROOT)}
    procs: dict[str, subprocess.Popen] = {}
    logs = tmp_path / "logs"
    logs.mkdir()

    def start(name, argv, cwd):
        cwd.mkdir(parents=True, exist_ok=True)
        log = open(logs / f"{name}.log", "wb")
        procs[name] = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)

    # Port 0: the scheduler binds a free port itself and names it in its scheduler file (a port picked here
    # and freed before the scheduler binds it could be taken meanwhile by any other process on the machine).
    scheduler_file = tmp_path / "scheduler.json"
    start("scheduler", [str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                        "--scheduler-file", str(scheduler_file)], tmp_path / "scheduler-cwd")
    try:
        address = _wait(lambda: _scheduler_address(scheduler_file, procs["scheduler"]), 90, "the scheduler")
        for name in ("w1", "w2"):
            worker = (f"mount -t tmpfs -o size=1m,mode=0700 hidden {course} && exec {bin_dir / 'dask'} worker "
                      f"{address} --host 127.0.0.1 --nthreads 1 --nworkers 1 --no-nanny --no-dashboard --name {name} "
                      f"--death-timeout 60 --local-directory {tmp_path / name / 'local'}")
            start(name, ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", worker],
                  tmp_path / name / "cwd")
        from distributed import Client

        with Client(address, timeout="60s") as client:
            _wait(lambda: len(client.scheduler_info()["workers"]) == 2, 90, "two workers")
        yield address, course, procs
    finally:
        for proc in procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=20)


SLOW = "import time\ntime.sleep(4)"


def _folders_of(pid: int, *names: str) -> list[Path]:
    """The <tmp>/ag-* folders whose owner file names `pid` and which hold each of `names`."""
    found = []
    for folder in Path(tempfile.gettempdir()).glob("ag-*"):
        try:
            if int((folder / "owner").read_text().split()[0]) == pid and all((folder / n).exists() for n in names):
                found.append(folder)
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, not yet written, or not a grader's
    return found


def test_workers_without_the_course_directory_and_one_killed_mid_task(cluster):
    """Do workers that see neither the course nor its files grade every student from the bytes they are sent;
    when one is killed with kill -9 mid-task, is its task rescheduled, every student graded once, none lost,
    and its sandbox's leftovers swept?"""
    from distributed import Client

    address, course, procs = cluster
    write_lab(course)
    shutil.copy(ROOT / "nbgrader_config.py", course)
    right = source_notebook()
    wrong = with_solution(source_notebook(), "sigmoid", "return np.full(np.shape(z), 0.5)")
    slow = nbformat.from_dict(right)
    slow.cells.insert(2, nbformat.v4.new_code_cell(SLOW))
    submissions = {"ann": slow, "ben": slow, "cid": wrong, "dot": right, "eve": slow, "fay": right}
    for student, nb in submissions.items():
        (course / "submitted" / student / LAB).mkdir(parents=True)
        nbformat.write(nb, course / "submitted" / student / LAB / f"{LAB}.ipynb")

    with Client(address, timeout="30s") as client:
        seen = client.run(os.path.exists, str(course / "submitted"))
        assert list(seen.values()) == [False, False], seen  # the workers cannot see the course
        pids = client.run(os.getpid)

        result: dict = {}

        def grade():
            try:
                result["summary"] = batch.autograde(LAB, course, scheduler=address, seed=5, progress=False,
                                                    out=io.StringIO())
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                result["error"] = exc

        thread = threading.Thread(target=grade, daemon=True)
        thread.start()
        # Kill the worker that grades a task, once its kernel is up (a sandbox folder exists).
        busy = _wait(lambda: [w for w, keys in client.processing().items() if keys], 90, "a busy worker")
        victim = busy[0]
        _wait(lambda: _folders_of(pids[victim], "kernel.log"), 90, "the busy worker's sandbox", step=0.05)
        os.kill(pids[victim], signal.SIGKILL)
        thread.join(timeout=240)
    assert not thread.is_alive(), "the batch did not finish"
    assert "error" not in result, result.get("error")
    summary = result["summary"]
    assert not summary.ungraded, summary.ungraded
    assert sorted(summary.graded) == sorted(submissions) and len(summary.graded) == len(set(summary.graded))
    assert summary.scores["cid"] == (3.0, 5.0) and all(
        summary.scores[s] == (5.0, 5.0) for s in submissions if s != "cid"), summary.scores
    db = sqlite3.connect(course / "gradebook.db")
    try:
        rows = db.execute("select sa.student_id, count(*) from grade g join submitted_notebook sn on "
                          "g.notebook_id = sn.id join submitted_assignment sa on sn.assignment_id = sa.id "
                          "group by sa.student_id").fetchall()
    finally:
        db.close()
    assert sorted(rows) == [(s, 2) for s in sorted(submissions)]  # two test cells each, once
    assert procs["w1"].poll() is not None or procs["w2"].poll() is not None, "a worker was killed"
    # What the killed worker's sandbox and task left is gone (the batch sweeps at its end).
    dead = _folders_of(pids[victim])
    assert not dead, dead
