"""Speed of `python -m autograder report` and `export` on a class of 300 students x 6 labs.

Builds a synthetic course in a scratch folder: six labs of eight test cells each,
recorded with nbgrader's Gradebook API (assignments, notebooks, grade cells,
students with names, one submission per student and lab with every grade
scored), and for every submission the autograded notebook that
`autograder.gradebook.autograded_notebook` writes (a ~40 kB release, the
verdicts as outputs, the grading time in its metadata), plus the submitted
notebook the report checks it against and a Canvas roster. Each student passes
a test with a probability drawn per test, failures carry messages that differ in
their numbers. Then it times, as a TA runs them (a fresh interpreter each,
start-up and imports included):

    python -m autograder export lab1 ... lab6 --course-dir C --roster roster.csv --out grades.csv --wide wide.csv
    python -m autograder report lab1 ... lab6 --course-dir C --out report.html

Target: each under 10 s. Results go to stdout and, with --output, to a Markdown file.

    python benchmarks/bench_report.py                                # 300 students x 6 labs, 3 runs each
    python benchmarks/bench_report.py --students 30 --runs 1         # a quick run
"""
from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import autograder  # noqa: E402,F401 - first: it keeps nbformat from building the RFC 3987 grammar

TESTS_PER_LAB = 8
MESSAGES = [
    "f(x) returned {a:.4f}, expected {b:.4f} (relative error {c:.2e}, tolerance 1e-06)",
    "shape mistake: returned an array of shape ({n},), expected ({n}, 1)",
    "NameError: name 'forward' is not defined",
    "the gradient of w differs at index {n}: {a:.3f} vs {b:.3f}",
]


def _write_roster(path: Path, ids: list[str], names: list[str]) -> None:
    """A Canvas gradebook export of the class: a points-possible row, then one row per student."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *names])
        writer.writerow(["    Points Possible", "", "", "", "", *["80.00"] * len(names)])
        for i, sid in enumerate(ids):
            writer.writerow([f"Last{i}, First{i}", sid, f"S{sid}", f"s{sid}@uni.example", "A", *[""] * len(names)])


def _release(lab: str, tests: list[str]):
    """A lab's release notebook: a long Markdown cell, then an exercise and a graded test cell per test."""
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    cells = [new_markdown_cell("# " + lab + "\n\n" + "Some explanation of the exercise. " * 120)]
    for test in tests:
        cells.append(new_code_cell("def f(x):\n    # TODO\n    raise NotImplementedError()\n" * 20))
        cells.append(new_code_cell(f"check_close(f(1.0), 2.0)  # {test}", metadata={"nbgrader": {
            "grade": True, "solution": False, "locked": True, "grade_id": test, "points": 10,
            "schema_version": 3}}))
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})


def _submit(gb, root: Path, lab: str, sid: str, release, pass_rate: dict[str, float], rng: random.Random) -> None:
    """One student's scored submission of `lab`: its grades, its submitted and its autograded notebook."""
    import nbformat

    from autograder.gradebook import Graded, autograded_notebook

    submission = gb.add_submission(lab, sid)
    results = []
    for grade in submission.notebooks[0].grades:
        passed = rng.random() < pass_rate[grade.name]
        grade.auto_score = 10.0 if passed else 0.0
        grade.needs_manual_grade = False
        message = "" if passed else rng.choice(MESSAGES).format(
            a=rng.random(), b=rng.random(), c=rng.random() * 1e-3, n=rng.randint(2, 64))
        results.append({"grade_id": grade.name, "score": grade.auto_score, "max_score": 10.0,
                        "passed": passed, "message": message})
    gb.db.commit()
    folder = root / "submitted" / sid / lab
    folder.mkdir(parents=True)
    data = nbformat.writes(release).encode()
    (folder / f"{lab}.ipynb").write_bytes(data)
    score = sum(r["score"] for r in results)
    graded = Graded(sid, {"lab": lab, "score": score, "max_score": 80.0, "tests": results, "errors": []},
                    hashlib.sha256(data).hexdigest(), seconds=rng.uniform(8, 30))
    out = root / "autograded" / sid / lab
    out.mkdir(parents=True)
    (out / f"{lab}.ipynb").write_text(nbformat.writes(autograded_notebook(release, release, graded)))


def build(root: Path, students: int, labs: int, seed: int = 0) -> list[str]:
    """The scratch course; returns the lab names."""
    import nbformat
    from nbgrader.api import Gradebook
    from sqlalchemy import text

    from autograder.gradebook import alembic_on_path

    rng = random.Random(seed)
    (root / "solutions").mkdir(parents=True)
    (root / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    names = [f"lab{i + 1}" for i in range(labs)]
    ids = [str(100000 + i) for i in range(students)]
    alembic_on_path()
    gb = Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id="dl-foundations")
    gb.db.execute(text("PRAGMA synchronous=OFF"))  # building only: no fsync per commit (the timed commands read)
    for i, sid in enumerate(ids):
        gb.add_student(sid, first_name=f"First{i}", last_name=f"Last{i}")
    _write_roster(root / "roster.csv", ids, names)
    for lab in names:
        tests = [f"test_{lab}_{k}" for k in range(TESTS_PER_LAB)]
        release = _release(lab, tests)
        (root / "solutions" / lab).mkdir()
        nbformat.write(release, root / "solutions" / lab / f"{lab}.ipynb")
        gb.add_assignment(lab)
        gb.add_notebook(lab, lab)
        for test in tests:
            gb.add_grade_cell(test, lab, lab, max_score=10, cell_type="code")
        pass_rate = {test: rng.uniform(0.3, 0.95) for test in tests}
        for sid in ids:
            _submit(gb, root, lab, sid, release, pass_rate, rng)
    gb.close()
    return names

def timed(args: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one command in a fresh interpreter.

    On a busy machine the wall time grows with the load; the CPU time is what the command itself needs
    (one process, one thread), i.e. about its wall time on an idle machine.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "autograder", *args], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--labs", type=int, default=6)
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each command (the median is reported)")
    parser.add_argument("--output", type=Path, help="also write the results as Markdown to this file")
    parser.add_argument("--course", type=Path, help="build the course here (or reuse it if built) and keep it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-report-") as scratch:
        course = args.course or Path(scratch) / "course"
        start = time.perf_counter()
        reused = (course / "gradebook.db").is_file()
        if reused:
            labs = sorted(p.name for p in (course / "solutions").iterdir())
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # nbgrader's add_submission makes SQLAlchemy warn about autoflush
                labs = build(course, args.students, args.labs)
        built = time.perf_counter() - start if not reused else None
        size = sum(p.stat().st_size for p in (course / "autograded").rglob("*.ipynb"))
        print(f"built {args.students} students x {args.labs} labs in {built or 0:.0f} s "
              f"(gradebook.db {(course / 'gradebook.db').stat().st_size / 1e6:.1f} MB, "
              f"autograded notebooks {size / 1e6:.0f} MB)", file=sys.stderr)
        commands = {
            "export": ["export", *labs, "--course-dir", str(course), "--roster", str(course / "roster.csv"),
                       "--out", str(course / "grades.csv"), "--wide", str(course / "wide.csv")],
            "report": ["report", *labs, "--course-dir", str(course), "--out", str(course / "report.html")],
        }
        times = {name: [timed(command) for _ in range(args.runs)] for name, command in commands.items()}
        with open(course / "grades.csv", newline="") as f:
            rows = sum(1 for _ in csv.reader(f)) - 2
        assert rows == args.students, f"grades.csv has {rows} student rows, expected {args.students}"
    load = os.getloadavg()[0]
    command = " ".join(["python benchmarks/bench_report.py", *(argv if argv is not None else sys.argv[1:])])
    lines = [f"# Report and export speed ({args.students} students x {args.labs} labs)", "",
             f"Measured {datetime.date.today()} with `{command}` on {platform.machine()}, "
             f"{os.cpu_count()} CPU core(s), Python {platform.python_version()}; load average {load:.1f} when it "
             "ended. Each command runs in a fresh interpreter (start-up and imports included), reading a gradebook of "
             f"{args.students * args.labs} submissions x {TESTS_PER_LAB} tests and as many autograded notebooks "
             f"({size / 1e6:.0f} MB). CPU time is user + system time of the command's process: what it needs of "
             "one core, about its wall time on an idle machine."
             + (f" Building the synthetic course took {built:.0f} s (not timed below)." if built else ""), "",
             "| command | median wall time | wall time of each run | median CPU time | target: under 10 s |",
             "|---|---|---|---|---|"]
    for name, values in times.items():
        walls, cpus = [w for w, _ in values], [c for _, c in values]
        runs = ", ".join(f"{w:.2f}" for w in walls)
        verdict = "met" if statistics.median(walls) < 10 else "NOT met in wall time"
        lines.append(f"| `{name}` | {statistics.median(walls):.2f} s | {runs} s | {statistics.median(cpus):.2f} s "
                     f"| {verdict} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
