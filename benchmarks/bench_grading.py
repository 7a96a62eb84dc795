"""Grading speed: stock `nbgrader autograde` against `python -m autograder autograde` (``make bench-grading``).

Builds one scratch nbgrader course holding every lab present (a lab is present
when both solutions/<lab>/<lab>.ipynb and notebooks/<lab>.ipynb exist), with a
mixed batch per lab: correct submissions (the solution), empty ones (the
untouched release) and one-mistake ones (the solution with one solution region
broken). Then, each grader on a fresh copy of the same course:

* stock ``nbgrader autograde <lab>`` for each lab in turn (sequential, the
  student's kernel runs the tests; nbgrader grades one assignment per call);
* ours, one ``python -m autograder autograde <lab> [<lab> ...]`` call for the
  whole mixed batch, with 1 and with 2 workers, and with 2 workers and
  ``--no-preflight`` (the preflight, each lab's reference solution graded on
  the workers before any student, is a fixed cost of a run: the difference
  between the two 2-worker rows);
* plain execution of each submitted notebook with nbclient (no grading at all);
* the latency of one ``python -m autograder grade <lab> <solution> --json``
  call against plain execution of that same notebook (the medians of
  ``--grade-runs`` rounds, 3 by default: one call varies by 20 % on a shared machine).

It reports the whole batch's wall times, submissions per minute and ratio to
stock; per lab, the per-submission time of ours (grade_notebook on its worker)
against plain execution of the same notebooks; and checks the
targets: with 2 workers at least 2.5x stock's throughput; per-submission time no
more than plain execution; one `grade` call at most 1.3x plain execution. Wall
times are those of the whole commands, start-up included; the last column says
how busy other processes kept the machine meanwhile. Results go to stdout and,
for a full run, benchmarks/grading.md; only what was measured is written.

``--only PART ...`` runs some of the parts (stock, ours1, ours2, no-preflight,
plain, grade); ``--quick`` is ``--only ours2 no-preflight grade``. A partial
run that skips stock takes its stock time from the committed
benchmarks/grading.md when that report measured the same batch, or the same
submissions per lab and a stock time for each lab asked for (the report's
per-lab table has one since it was added), and labels it as taken from there; it
writes no file unless --output is given.

    python benchmarks/bench_grading.py                       # every lab, 6 submissions each (about 30 minutes)
    python benchmarks/bench_grading.py --quick --labs 04_optimizers   # a change checked in a few minutes
    python benchmarks/bench_grading.py --labs 01_perceptron --per-lab 3 --output /tmp/g.md   # everything, small
"""
from __future__ import annotations

import argparse
import datetime
import importlib.metadata
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
from grading_report import KINDS, OURS, Measured, committed_stock, render

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "benchmarks" / "grading.md"  # the last full run's report, and a full run's output
PARTS = ("stock", *OURS, "plain", "grade")
QUICK = ("ours2", "no-preflight", "grade")
PER_LAB = 6  # submissions per lab, by default
GRADE_RUNS = 3  # rounds of (grade call, plain run) per lab, by default; the report gives their medians
CELL_TIMEOUT_S = 120  # a plain nbclient run's limit per cell
TAIL_OUT, TAIL_ERR = 3000, 5000  # characters of a failed command's output shown
_PREFLIGHT = re.compile(r"^preflight: (\w+)'s reference solution scored .* \(([\d.]+) s on its worker\)$", re.M)


def labs_present() -> list[str]:
    """Labs with both a solution notebook and a released student notebook."""
    return sorted(p.parent.name for p in ROOT.glob("solutions/*/*.ipynb")
                  if p.stem == p.parent.name and (ROOT / "notebooks" / p.name).is_file())
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


def submissions(lab: str, n: int) -> dict[str, tuple[str, nbformat.NotebookNode]]:
    """{student: (kind, notebook)} for one lab: correct, empty and one-mistake submissions in turn."""
    solution = nbformat.read(ROOT / "solutions" / lab / f"{lab}.ipynb", as_version=4)
    release = nbformat.read(ROOT / "notebooks" / f"{lab}.ipynb", as_version=4)
    batch = {}
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        nb = {"correct": lambda: nbformat.from_dict(solution), "empty": lambda: nbformat.from_dict(release),
              "one mistake": lambda: break_region(nbformat.from_dict(solution), i)}[kind]()
        batch[f"student{i:02d}"] = (kind, nb)
    return batch


def make_course(root: Path, batches: dict[str, dict]) -> Path:
    """A course in nbgrader's layout: every lab recorded by `nbgrader generate_assignment`, its batch submitted."""
    root.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    for lab, batch in batches.items():
        shutil.copytree(ROOT / "solutions" / lab, root / "solutions" / lab)
        for student, (_, nb) in batch.items():
            folder = root / "submitted" / student / lab
            folder.mkdir(parents=True)
            nbformat.write(nb, folder / f"{lab}.ipynb")
        run([sys.executable, "-m", "nbgrader", "generate_assignment", lab, "--force"], root)
    shutil.rmtree(root / "release", ignore_errors=True)
    return root


def run(cmd: list[str], cwd: Path) -> tuple[float, str, str]:
    """Run a command to completion; its wall time in seconds, its stdout and its stderr. Stops the benchmark when it
    fails."""
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-TAIL_OUT:]}\n"
                 f"{done.stderr[-TAIL_ERR:]}")
    return seconds, done.stdout, done.stderr


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


def gradebook_scores(course: Path, lab: str, students) -> dict[str, dict[str, float]]:
    """{student: {grade_id: score}} of every graded cell of the lab, from the course's gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="dl-foundations") as gb:
        for student in students:
            try:
                notebook = gb.find_submission_notebook(lab, lab, student)
            except MissingEntry:
                continue
            scores[student] = {g.name: float(g.score) for g in notebook.grades if g.max_score}
    return scores


def time_stock(course: Path, batches: dict[str, dict]) -> tuple[dict[str, float], dict]:
    """Stock nbgrader over the whole batch: one `nbgrader autograde <lab>` call per lab (it takes one assignment);
    ({lab: seconds of its call}, {lab: scores})."""
    seconds = {lab: run([sys.executable, "-m", "nbgrader", "autograde", lab], course)[0] for lab in batches}
    return seconds, {lab: gradebook_scores(course, lab, batches[lab]) for lab in batches}


def time_ours(course: Path, batches: dict[str, dict], workers: int,
              preflight: bool = True) -> tuple[float, dict, dict, dict]:
    """Ours over the whole batch: one `autograde LAB [LAB ...]` call, every lab on the same workers; (seconds,
    scores, each submission's seconds on its worker, each reference solution's seconds in the preflight)."""
    labs = list(batches)
    seconds, out, err = run([sys.executable, "-m", "autograder", "autograde", *labs, "--course-dir", str(course),
                             "--workers", str(workers), "--seed", "0", *([] if preflight else ["--no-preflight"])],
                            ROOT)
    for lab in labs:
        line = f"graded {len(batches[lab])}, skipped 0 already graded\n"
        if (line if len(labs) == 1 else f"{lab}: {line}") not in out:
            sys.exit(f"error: our grader did not grade every submission of {lab}:\n{out}")
    per_submission = {lab: {} for lab in labs}
    for lab in labs:
        for student in batches[lab]:
            marker = nbformat.read(course / "autograded" / student / lab / f"{lab}.ipynb",
                                   as_version=4).metadata["autograder"]
            per_submission[lab][student] = marker["seconds"]
    flights = {lab: float(s) for lab, s in _PREFLIGHT.findall(err) if lab in batches}
    return seconds, {lab: gradebook_scores(course, lab, batches[lab]) for lab in labs}, per_submission, flights


def execute(path: Path) -> float:
    """Seconds nbclient takes to run the notebook at `path` top to bottom (errors allowed, as graders do)."""
    return execute_parts(path)[0]


def execute_parts(path: Path) -> tuple[float, float]:
    """(seconds nbclient's `execute` takes to run the notebook at `path`: the kernel's start, every cell (errors
    allowed, as graders do) and the kernel's shutdown; seconds of that shutdown alone)."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.reset_execution_trackers()
    with client.setup_kernel(stderr=subprocess.DEVNULL):  # what `NotebookClient.execute` does, with a clock
        client.wait_for_reply(client.kc.kernel_info())
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        ran = time.perf_counter()
    end = time.perf_counter()
    return end - start, end - ran


def time_plain(course: Path, lab: str, students, work: Path) -> dict[str, float]:
    """{student: seconds} of a plain nbclient run of each submission of `lab`."""
    times = {}
    for student in students:
        folder = work / "plain" / lab / student
        shutil.copytree(course / "submitted" / student / lab, folder)
        times[student] = execute(folder / f"{lab}.ipynb")
    return times


def time_latency(lab: str, work: Path, runs: int = GRADE_RUNS) -> tuple[float, float, float]:
    """(one `python -m autograder grade` call on the solution, plain execution of the same notebook, the plain
    run's kernel shutdown), seconds: the medians of `runs` rounds, each a grade call then a plain run (one call
    varies by 20 % on a shared machine)."""
    folder = work / "latency" / lab
    shutil.copytree(ROOT / "solutions" / lab, folder)
    grades, plains, shutdowns = [], [], []
    for _ in range(runs):
        grade_s, out, _ = run([sys.executable, "-m", "autograder", "grade", lab, str(folder / f"{lab}.ipynb"),
                               "--json", "--seed", "0"], ROOT)
        if '"score"' not in out:
            sys.exit(f"error: grade {lab} printed no result:\n{out[-2000:]}")
        grades.append(grade_s)
        plain_s, shutdown_s = execute_parts(folder / f"{lab}.ipynb")
        plains.append(plain_s)
        shutdowns.append(shutdown_s)
    return statistics.median(grades), statistics.median(plains), statistics.median(shutdowns)


def machine() -> list[str]:
    """The report's lines on this machine: CPU, memory, OS and the versions that matter."""
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line, checked; `args.parts` holds the parts to run, in the order they run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="examples: python benchmarks/bench_grading.py   (what `make bench-grading` "
                                            "runs)\n          python benchmarks/bench_grading.py --quick --labs "
                                            "04_optimizers")
    parser.add_argument("--labs", nargs="*", default=None, metavar="LAB", help="labs (default: every lab present)")
    parser.add_argument("--per-lab", type=int, default=PER_LAB,
                        help=f"submissions per lab, correct / empty / one mistake in turn (default: {PER_LAB})")
    parser.add_argument("--only", nargs="+", choices=PARTS, default=None, metavar="PART",
                        help="run only these parts: stock (nbgrader, the longest), ours1, ours2 (1 and 2 workers), "
                             "no-preflight (2 workers, --no-preflight), plain (nbclient per submission), grade (one "
                             "`grade` call per lab against a plain run of it); default: all")
    parser.add_argument("--grade-runs", type=int, default=GRADE_RUNS, metavar="N",
                        help=f"rounds of one grade call and one plain run per lab; the medians are reported "
                             f"(default: {GRADE_RUNS})")
    parser.add_argument("--quick", action="store_true",
                        help=f"same as --only {' '.join(QUICK)}: our batch with and without the preflight and the "
                             "grade calls, against the committed stock time (a few minutes a lab)")
    parser.add_argument("--stock-from", type=Path, default=COMMITTED,
                        help="without the stock part: the report whose stock time gives the ratios, when it measured "
                             "the same batch (default: benchmarks/grading.md)")
    parser.add_argument("--output", type=Path, default=None,
                        help="report file (default: benchmarks/grading.md for a full run, none for a partial one)")
    args = parser.parse_args(argv)
    if args.quick and args.only:
        parser.error("--quick and --only: give one of them")
    chosen = set(QUICK if args.quick else args.only or PARTS)
    args.parts = [part for part in PARTS if part in chosen]
    args.every_part = len(args.parts) == len(PARTS)
    if args.output is None and args.every_part:
        args.output = COMMITTED
    args.labs = args.labs or labs_present()
    unknown = sorted(set(args.labs) - set(labs_present()))
    if unknown:
        parser.error(f"unknown lab(s) {', '.join(unknown)}: present are {', '.join(labs_present())}")
    if args.per_lab < 1:
        parser.error("--per-lab must be at least 1")
    if args.grade_runs < 1:
        parser.error("--grade-runs must be at least 1")
    return args


def measure_batches(work: Path, template: Path, batches: dict[str, dict], parts: list[str], m: Measured) -> None:
    """The whole-batch parts (stock and ours), each on a fresh copy of the course, into `m`."""
    if "stock" in parts:
        print("stock nbgrader autograde, lab by lab ...", file=sys.stderr)
        with Contention() as other:
            m.stock_labs, m.scores["stock"] = time_stock(shutil.copytree(template, work / "stock"), batches)
        m.whole["stock"], m.loads["stock"] = sum(m.stock_labs.values()), other.cores
    for part in (p for p in parts if p in OURS):
        workers, preflight, words = OURS[part]
        print(f"ours, {words}, every lab in one batch ...", file=sys.stderr)
        with Contention() as other:
            m.whole[part], m.scores[part], m.per[part], m.preflight[part] = time_ours(
                shutil.copytree(template, work / part), batches, workers, preflight)
        m.loads[part] = other.cores


def measure_labs(work: Path, template: Path, batches: dict[str, dict], parts: list[str], m: Measured) -> None:
    """The per-lab parts (plain runs of every submission, one grade call against a plain run of it), into `m`."""
    if not {"plain", "grade"} & set(parts):
        return
    for lab in batches:
        print(f"{lab}: {' and '.join(p for p in ('plain', 'grade') if p in parts)} ...", file=sys.stderr)
        with Contention() as other:
            if "plain" in parts:
                m.plain[lab] = time_plain(template, lab, sorted(batches[lab]), work)
            if "grade" in parts:
                m.grade[lab] = time_latency(lab, work, m.grade_runs)
        m.lab_loads[lab] = other.cores


def stock_elsewhere(args: argparse.Namespace, m: Measured) -> None:
    """Without the stock part: the stock time of the committed report, labelled as such, when it fits the batch."""
    path = args.stock_from.resolve()
    shown = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    found = committed_stock(path, args.labs, args.per_lab, shown)
    if isinstance(found, str):
        m.stock_from = found
        return
    m.whole["stock"], m.stock_labs, m.stock_from = found


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    batches = {lab: submissions(lab, args.per_lab) for lab in args.labs}
    m = Measured(labs=list(args.labs), per_lab=args.per_lab, grade_runs=args.grade_runs,
                 kinds={lab: {s: kind for s, (kind, _) in batch.items()} for lab, batch in batches.items()})
    given = sys.argv[1:] if argv is None else argv
    command = "`make bench-grading` (`python benchmarks/bench_grading.py`)" if not given else \
        f"`python benchmarks/bench_grading.py {' '.join(given)}`"
    if "stock" not in args.parts:
        stock_elsewhere(args, m)
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        work = Path(tmp)
        print(f"building a course with {len(args.labs)} lab(s), {args.per_lab} submissions each ...", file=sys.stderr)
        template = make_course(work / "template", batches)
        measure_batches(work, template, batches, args.parts, m)
        measure_labs(work, template, batches, args.parts, m)
    text = render(m, command=command, today=datetime.date.today().isoformat(), parts=args.parts,
                  every_part=args.every_part, machine=machine(), cores=os.cpu_count())
    print(text)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
