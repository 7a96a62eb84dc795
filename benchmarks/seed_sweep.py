"""``make sweep``: every hidden test of every lab against its own solution, for many seeds; writes seed-sweep.md.

Runs ``python -m autograder sweep LAB --seeds N`` for each lab (two labs at a time, one per core) and
tabulates what each hidden test did: seeds passed, the 95 % bound on its false-fail rate, time a seed.
Exit 1 when any seed failed (the failures are in the table's notes and printed).

    python benchmarks/seed_sweep.py [--seeds 3000] [LAB ...]
    python benchmarks/seed_sweep.py --from-logs DIR   # tabulate DIR/<lab>.log files written by
                                                     # python -m autograder sweep LAB > DIR/<lab>.log
"""
from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.sweep import bound  # noqa: E402

LINE = re.compile(r"^(?P<cell>\w+)/(?P<test>hidden_test_\w+): (?P<passed>\d+)/(?P<runs>\d+) seeds passed "
                  r"\((?P<ms>[\d.]+) ms a seed", re.M)


# The tests that train networks or simulate thousands of draws for every seed (90-440 ms a seed on an idle
# machine, where the others take 1-40 ms): --heavy-seeds of them (500: a false-fail rate below 6.0e-3).
HEAVY = {"02_dense_networks": ["test_sequential_models"], "04_optimizers": ["test_training_loop"],
         "05_minibatch_sgd": ["test_gradient_noise", "test_data_pipelines"],
         "06_regularization": ["test_framework_dropout"]}


def run_lab(lab: str, seeds: int, heavy_seeds: int) -> tuple[str, int, str, float]:
    start = time.perf_counter()
    command = [sys.executable, "-m", "autograder", "sweep", lab, "--seeds", str(seeds)]
    for grade_id in HEAVY.get(lab, []):
        command += ["--seeds-for", f"{grade_id}={min(seeds, heavy_seeds)}"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    return lab, run.returncode, run.stdout, time.perf_counter() - start


def _solutions_commit() -> str:
    run = subprocess.run(["git", "log", "-1", "--format=%h", "--", "solutions"], cwd=ROOT, capture_output=True,
                         text=True)
    return run.stdout.strip() or "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labs", nargs="*", metavar="LAB")
    parser.add_argument("--seeds", type=int, default=3000)
    parser.add_argument("--heavy-seeds", type=int, default=500, help="seeds of the tests in HEAVY (default 500)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "seed-sweep.md")
    parser.add_argument("--from-logs", type=Path, metavar="DIR",
                        help="tabulate the outputs of earlier `python -m autograder sweep LAB` runs, DIR/<lab>.log")
    return parser


def _results_from_logs(labs: list[str], logs: Path) -> list[tuple[str, int, str, float]] | None:
    """run_lab's results read back from DIR/<lab>.log files; None (after saying which is missing) when one is."""
    results = []
    for lab in labs:
        log = logs / f"{lab}.log"
        if not log.is_file():
            print(f"error: --from-logs {logs}: no {log.name}; run python -m autograder sweep {lab} "
                  f"> {log}", file=sys.stderr)
            return None
        stdout = log.read_text(encoding="utf-8", errors="replace")
        results.append((lab, 0 if f"{lab}: " in stdout and "    seed " not in stdout else 1, stdout, 0.0))
    return results


def _tabulate(results) -> tuple[list[str], list[str], int]:
    """Each lab's output printed; (table rows, failures, exit status)."""
    rows, failures, code = [], [], 0
    for lab, returncode, stdout, seconds in results:
        print(stdout, end="")
        found = list(LINE.finditer(stdout))
        if returncode != 0 or not found:
            code = 1
        if not found:
            failures.append(f"{lab}: the sweep reported no test (exit {returncode})")
        for m in found:
            runs, passed = int(m["runs"]), int(m["passed"])
            rows.append(f"| {lab} | {m['cell']} | {passed} / {runs} | "
                        f"{f'{bound(runs):.2e}' if passed == runs else 'FAILED'} | {float(m['ms']):.1f} |")
        failures += [f"{lab}: {line.strip()}" for line in stdout.splitlines() if line.startswith("    seed ")]
    return rows, failures, code


def _how(args, wall: float) -> str:
    """The report's sentence on how the sweep was measured."""
    if args.from_logs:
        return (f"Measured with `python -m autograder sweep LAB --seeds N [--seeds-for GRADE_ID=N]` for each lab, "
                f"one lab at a time beside other work on a {os.cpu_count()}-core machine (so the times a seed are "
                f"inflated), tabulated by `python benchmarks/seed_sweep.py --from-logs DIR` on "
                f"{datetime.date.today().isoformat()}, Python {platform.python_version()}, solutions/ as of commit "
                f"{_solutions_commit()}. The seeds of each test are in its row.")
    return (f"Measured with `make sweep SWEEP_SEEDS={args.seeds}` (`python benchmarks/seed_sweep.py --seeds "
            f"{args.seeds} --heavy-seeds {args.heavy_seeds}{' ' + ' '.join(args.labs) if args.labs else ''}`) on "
            f"{datetime.date.today().isoformat()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            f"two labs at a time; {wall / 60:.1f} min in all.")


def _report(how: str, rows: list[str], failures: list[str]) -> str:
    text = [
        "# Seed sweep: every hidden test against its own solution",
        "",
        how,
        "",
        "Each hidden test ran against the reference solution with the generator the grader gives the student of "
        "each seed 0, 1, 2, …. The bound is the 95 % upper confidence bound on the test's false-fail "
        "rate after that many passes (1 − 0.05^(1/n)); ms a seed is the sweep's own time (the lab's solution "
        "runs in-process, not through a sandboxed kernel).",
        "",
        "| lab | test cell | seeds passed | false-fail rate below | ms a seed |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "Failures: " + ("none." if not failures else ""),
        *[f"- {line}" for line in failures],
        "",
    ]
    return "\n".join(text)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    labs = args.labs or sorted(p.parent.name for p in (ROOT / "solutions").glob("*/*.ipynb")
                               if p.stem == p.parent.name)
    started = time.perf_counter()
    if args.from_logs:
        results = _results_from_logs(labs, args.from_logs)
        if results is None:
            return 2
    else:
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(lambda lab: run_lab(lab, args.seeds, args.heavy_seeds), labs))
    wall = time.perf_counter() - started
    rows, failures, code = _tabulate(results)
    args.out.write_text(_report(_how(args, wall), rows, failures), encoding="utf-8")
    print(f"wrote {args.out} ({wall / 60:.1f} min)")
    return code

if __name__ == "__main__":
    sys.exit(main())
