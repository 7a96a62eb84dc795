"""``make sweep``: every hidden test of every lab against its own solution, for many seeds; writes seed-sweep.md.

Runs ``python -m autograder sweep LAB --seeds N`` for each lab (two labs at a time, one per core) and
tabulates what each hidden test did: seeds passed, the 95 % bound on its false-fail rate, time a seed.
Exit 1 when any seed failed (the failures are in the table's notes and printed).

    python benchmarks/seed_sweep.py [--seeds 3000] [LAB ...]
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


def run_lab(lab: str, seeds: int) -> tuple[str, int, str, float]:
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "autograder", "sweep", lab, "--seeds", str(seeds)], cwd=ROOT,
                         capture_output=True, text=True)
    return lab, run.returncode, run.stdout, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labs", nargs="*", metavar="LAB")
    parser.add_argument("--seeds", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "seed-sweep.md")
    args = parser.parse_args(argv)
    labs = args.labs or sorted(p.parent.name for p in (ROOT / "solutions").glob("*/*.ipynb")
                               if p.stem == p.parent.name)
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda lab: run_lab(lab, args.seeds), labs))
    wall = time.perf_counter() - started
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
                        f"{f'{bound(runs):.1e}' if passed == runs else 'FAILED'} | {float(m['ms']):.1f} |")
        failures += [f"{lab}: {line.strip()}" for line in stdout.splitlines() if line.startswith("    seed ")]
    text = [
        "# Seed sweep: every hidden test against its own solution",
        "",
        f"Measured with `make sweep SWEEP_SEEDS={args.seeds}` (`python benchmarks/seed_sweep.py --seeds {args.seeds}`"
        f"{' ' + ' '.join(args.labs) if args.labs else ''}) on {datetime.date.today().isoformat()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; two labs at a time; {wall / 60:.1f} min in all.",
        "",
        "Each hidden test ran against the reference solution with the generator the grader gives the student of "
        f"each seed 0 … {args.seeds - 1}. The bound is the 95 % upper confidence bound on the test's false-fail "
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
    args.out.write_text("\n".join(text), encoding="utf-8")
    print(f"wrote {args.out} ({wall / 60:.1f} min)")
    return code


if __name__ == "__main__":
    sys.exit(main())
