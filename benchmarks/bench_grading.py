"""Grading throughput: stock `nbgrader autograde` against `python -m autograder autograde` (``make bench-grading``).

Builds a batch of Lab 01 submissions in a scratch nbgrader course (a mix of
the solution, the untouched release, and solutions with one function broken),
then times, each on a fresh copy of the same course:

* stock ``nbgrader autograde`` (sequential, the student's kernel runs the tests);
* ours, ``python -m autograder autograde`` with 1 and with 2 workers;
* plain execution of each submitted notebook with nbclient (no grading at all),

and reports submissions per minute, the ratios to stock, and the per-submission
overhead of ours (grade_notebook's time on its worker, from the 1-worker run)
over plain execution of the same notebook. Wall times are those of the whole
commands, start-up included. Results go to stdout and benchmarks/grading.md;
only what was measured is written.

    python benchmarks/bench_grading.py                  # the full benchmark (~15 minutes on 2 cores)
    python benchmarks/bench_grading.py --submissions 4 --skip-ours --output /tmp/g.md   # a quick stock-only run
"""
from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
LAB = "01_perceptron"
TARGET_SPEEDUP = 1.7  # 2 workers vs stock, on 2 cores
TARGET_OVERHEAD = 0.20
_REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[ \t]*$", re.M)


def env() -> dict:
    """This interpreter's bin first on PATH (nbgrader runs `alembic` and `jupyter` from there)."""
    environ = dict(os.environ)
    environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + environ.get("PATH", "")
    environ.pop("JUPYTER_PLATFORM_DIRS", None)
    return environ


def break_region(nb: nbformat.NotebookNode, k: int) -> nbformat.NotebookNode:
    """The notebook with its k-th solution region (counting across cells, modulo their number) made to fail."""
    regions = [(cell, m) for cell in nb.cells if cell.cell_type == "code" for m in _REGION.finditer(cell.source)]
    cell, match = regions[k % len(regions)]
    indent = match.group(1)
    wrong = f"{indent}return None  # broken on purpose\n" if indent else 'raise RuntimeError("broken on purpose")\n'
    cell.source = cell.source[: match.end() + 1] + wrong + cell.source[match.end() + 1:]
    return nb


def submissions(n: int) -> dict[str, tuple[str, nbformat.NotebookNode]]:
    """{student: (kind, notebook)}: 40 % solutions, 20 % untouched releases, 40 % one function broken."""
    solution = nbformat.read(ROOT / "solutions" / LAB / f"{LAB}.ipynb", as_version=4)
    release = nbformat.read(ROOT / "notebooks" / f"{LAB}.ipynb", as_version=4)
    batch = {}
    for i in range(n):
        slot = i % 5
        if slot in (0, 3):
            batch[f"student{i:02d}"] = ("solution", nbformat.from_dict(solution))
        elif slot == 1:
            batch[f"student{i:02d}"] = ("release", nbformat.from_dict(release))
        else:
            batch[f"student{i:02d}"] = ("one function broken", break_region(nbformat.from_dict(solution), i))
    return batch


def make_course(root: Path, batch: dict) -> Path:
    """A course in nbgrader's layout with the lab recorded by `nbgrader generate_assignment` and the batch submitted."""
    root.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "solutions" / LAB, root / "solutions" / LAB)
    for student, (_, nb) in batch.items():
        folder = root / "submitted" / student / LAB
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{LAB}.ipynb")
    run([sys.executable, "-m", "nbgrader", "generate_assignment", LAB, "--force"], root)
    shutil.rmtree(root / "release", ignore_errors=True)
    return root


def run(cmd: list[str], cwd: Path) -> tuple[float, str]:
    """Run a command to completion; its wall time in seconds and its stdout. Stops the benchmark when it fails."""
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
    return seconds, done.stdout


class Contention:
    """CPU time that other processes on this machine used while a phase ran (other users, other jobs).

    Busy time from /proc/stat, minus the CPU time of this process and all its
    descendants (Dask workers, sandboxed kernels), sampled from /proc twice a
    second so that processes that are killed rather than reaped still count.
    """

    def __enter__(self):
        self.tick = os.sysconf("SC_CLK_TCK")
        self.cpu: dict[tuple[int, int], float] = {}  # (pid, start time) -> CPU seconds, of our process tree
        self._scan()
        self.base = dict(self.cpu)
        self.busy, self.start = self._busy(), time.perf_counter()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()
        self._scan()
        wall = time.perf_counter() - self.start
        ours = sum(self.cpu.values()) - sum(self.base.values())
        self.cores = max(0.0, (self._busy() - self.busy) - ours) / wall if wall else 0.0

    def _sample(self) -> None:
        while not self.done.wait(0.5):
            self._scan()

    def _scan(self) -> None:
        parent, usage = {}, {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            parent[int(entry)] = int(fields[1])
            usage[int(entry)] = ((int(fields[11]) + int(fields[12])) / self.tick, int(fields[19]))
        tree, grew = {os.getpid()}, True
        while grew:
            found = {pid for pid, ppid in parent.items() if ppid in tree} - tree
            tree |= found
            grew = bool(found)
        for pid in tree & usage.keys():
            seconds, started = usage[pid]
            self.cpu[(pid, started)] = max(seconds, self.cpu.get((pid, started), 0.0))

    @staticmethod
    def _busy() -> float:
        try:
            fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except OSError:
            return 0.0
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def gradebook_scores(course: Path, students) -> dict[str, float]:
    from nbgrader.api import Gradebook, MissingEntry

    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="dl-foundations") as gb:
        for student in students:
            try:
                scores[student] = float(gb.find_submission(LAB, student).score)
            except MissingEntry:
                pass
    return scores


def time_stock(template: Path, work: Path) -> tuple[float, dict]:
    course = shutil.copytree(template, work / "stock")
    seconds, _ = run([sys.executable, "-m", "nbgrader", "autograde", LAB], course)
    return seconds, gradebook_scores(course, os.listdir(course / "submitted"))


def time_ours(template: Path, work: Path, workers: int) -> tuple[float, dict, dict]:
    course = shutil.copytree(template, work / f"ours{workers}")
    seconds, out = run([sys.executable, "-m", "autograder", "autograde", LAB, "--course-dir", str(course),
                        "--workers", str(workers), "--seed", "0"], ROOT)
    if not out.startswith(f"graded {len(os.listdir(course / 'submitted'))}, skipped 0 already graded, failed 0"):
        sys.exit(f"error: our grader did not grade every submission cleanly:\n{out}")
    students = os.listdir(course / "submitted")
    per_submission = {}
    for student in students:
        marker = nbformat.read(course / "autograded" / student / LAB / f"{LAB}.ipynb", as_version=4).metadata["autograder"]
        per_submission[student] = marker["seconds"]
    return seconds, gradebook_scores(course, students), per_submission


def time_plain(template: Path, work: Path, students) -> dict[str, float]:
    """Seconds nbclient takes to run each submitted notebook top to bottom (errors allowed, as graders do)."""
    from nbclient import NotebookClient

    times = {}
    for student in students:
        folder = work / "plain" / student
        shutil.copytree(template / "submitted" / student / LAB, folder)
        nb = nbformat.read(folder / f"{LAB}.ipynb", as_version=4)
        start = time.perf_counter()
        NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(folder)}}).execute(stderr=subprocess.DEVNULL)
        times[student] = time.perf_counter() - start
    return times


def machine() -> list[str]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    cpu = model.group(1).strip() if model else platform.processor() or "unknown"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = "unknown"
    if Path("/proc/meminfo").exists():
        kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        memory = f"{kib / 2**20:.1f} GiB"
    versions = []
    for dist in ("nbgrader", "nbclient", "jupyter_client", "ipykernel", "dask", "distributed", "numpy", "torch",
                 "tensorflow-cpu", "tensorflow"):
        try:
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return [f"- CPU: {cpu}; {os.cpu_count()} logical cores, {usable} usable by this process",
            f"- Memory: {memory}",
            f"- OS: {platform.platform()}",
            f"- Python {platform.python_version()}; {', '.join(versions)}"]


def rate(n: int, seconds: float) -> float:
    return 60.0 * n / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="example: python benchmarks/bench_grading.py   (what `make bench-grading` runs)")
    parser.add_argument("--submissions", type=int, default=20, help="size of the batch (default: 20)")
    parser.add_argument("--skip-ours", action="store_true", help="time stock nbgrader and plain execution only")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "grading.md", help="report file")
    args = parser.parse_args(argv)
    ours = not args.skip_ours
    if ours and importlib.util.find_spec("autograder.grading") is None:
        print("note: autograder/grading.py is missing, so only stock nbgrader is timed", file=sys.stderr)
        ours = False

    batch = submissions(args.submissions)
    n = len(batch)
    kinds = {kind: sum(k == kind for k, _ in batch.values()) for kind in dict.fromkeys(k for k, _ in batch.values())}
    given = sys.argv[1:] if argv is None else argv
    command = "`make bench-grading` (`python benchmarks/bench_grading.py`)" if not given else \
        f"`python benchmarks/bench_grading.py {' '.join(given)}`"
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        work = Path(tmp)
        print(f"building a course with {n} submissions of {LAB} ...", file=sys.stderr)
        template = make_course(work / "template", batch)
        print("stock nbgrader autograde ...", file=sys.stderr)
        with Contention() as other:
            stock_s, stock_scores = time_stock(template, work)
        rows = [("stock `nbgrader autograde`", "1 (sequential)", stock_s, other.cores)]
        results = {}
        if ours:
            for workers in (1, 2):
                print(f"ours, {workers} worker(s) ...", file=sys.stderr)
                with Contention() as other:
                    results[workers] = time_ours(template, work, workers)
                rows.append(("ours `python -m autograder autograde`", str(workers), results[workers][0], other.cores))
        print("plain nbclient execution ...", file=sys.stderr)
        with Contention() as other:
            plain = time_plain(template, work, sorted(batch))
        rows.append(("plain nbclient execution, no grading", "1 (sequential)", sum(plain.values()), other.cores))

    lines = ["| grader | workers | wall time (s) | submissions / min | vs stock | other processes' load (cores) |",
             "|---|---|---|---|---|---|"]
    for name, workers, seconds, load in rows:
        lines.append(f"| {name} | {workers} | {seconds:.1f} | {rate(n, seconds):.1f} | {stock_s / seconds:.2f}x "
                     f"| {load:.2f} |")
    findings = [f"Plain execution: {statistics.mean(plain.values()):.2f} s per notebook on average "
                f"(min {min(plain.values()):.2f}, max {max(plain.values()):.2f})."]
    if ours:
        per = results[1][2]
        ours_mean, plain_mean = statistics.mean(per.values()), statistics.mean(plain[s] for s in per)
        overhead = ours_mean / plain_mean - 1
        speedup = stock_s / results[2][0]
        agree = sum(abs(stock_scores.get(s, -1) - results[2][1].get(s, -2)) < 1e-9 for s in batch)
        findings += [
            f"Per-submission overhead of ours over plain execution of the same notebook: {100 * overhead:+.1f} % "
            f"(grade_notebook on a worker, 1-worker run: {ours_mean:.2f} s per submission on average, "
            f"vs {plain_mean:.2f} s; target <= {100 * TARGET_OVERHEAD:.0f} %: {'met' if overhead <= TARGET_OVERHEAD else 'NOT met'}).",
            f"Throughput with 2 workers: {speedup:.2f}x stock (target >= {TARGET_SPEEDUP}x: "
            f"{'met' if speedup >= TARGET_SPEEDUP else 'NOT met'}).",
            f"Scores: ours (2 workers) and stock nbgrader agree on {agree} of {n} submissions.",
        ]
    else:
        findings.append("Ours was not timed in this run (autograder/grading.py missing or --skip-ours).")
    busiest = max(load for *_, load in rows)
    if busiest > 0.25:
        findings.append(f"Other processes kept up to {busiest:.2f} of the {os.cpu_count()} cores busy during some "
                        "phases (last column), so those timings are slower than on an idle machine, and parallel "
                        "runs are hit hardest; rerun on an idle machine for clean numbers.")
    today = datetime.date.today().isoformat()
    report = [
        "# Grading benchmark", "",
        f"Produced by {command} on {today}. Batch: {n} submissions of {LAB} "
        f"({', '.join(f'{v} {k}' for k, v in kinds.items())}), each grader on a fresh copy of the same course. "
        "Wall times are those of the whole commands, start-up included.", "",
        *lines, "", *(f"- {f}" for f in findings), "", "## Machine", "", *machine(), "",
    ]
    text = "\n".join(report)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
