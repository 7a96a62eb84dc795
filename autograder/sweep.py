"""Seed sweep: does every hidden test give the reference solution full marks for every student's seed?

Each student's hidden-test inputs come from their own seed (`autograder.grading` seeds a
generator from ``(seed, grade_id, test name)``), so a hidden test is fair only if the reference
solution passes it for *every* seed, not for the few an author tried. The sweep executes a lab's
source notebook once, in this process, and runs each hidden test against it for many seeds,
with the same generator the grader gives it.

How many seeds: a test that passed all ``n`` seeds has, with 95 % confidence, a false-fail rate
below ``-ln(0.05) / n`` (about ``3 / n``: the "rule of three"), so 3000 seeds bound it below
1 in 1000. `bound` gives the number for any ``n``.

``python -m autograder sweep LAB [--seeds N]`` runs it from the command line.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from autograder.grading import _rng
from autograder.hidden import Reference, load_suite, reference_code

SEEDS_FOR_1_IN_1000 = 2995  # the smallest n with bound(n) < 1e-3 (make sweep runs 3000)


def bound(n: int, confidence: float = 0.95) -> float:
    """Upper confidence bound on a failure rate after ``n`` runs without a failure."""
    if n <= 0:
        return 1.0
    return 1.0 - (1.0 - confidence) ** (1.0 / n)


@dataclass
class TestSweep:
    grade_id: str
    name: str
    runs: int = 0
    seconds: float = 0.0
    failures: list = field(default_factory=list)  # (seed, message), the first few

    @property
    def failed(self) -> int:
        return len(self.failures)


@contextlib.contextmanager
def _quiet():
    """What the lab prints (progress bars, warnings) is not the sweep's output."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _namespace(source: Path) -> tuple:
    """The source notebook's code cells (tests excluded) executed in a fresh namespace, as a kernel would."""
    from course_utils import hidden

    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    with _quiet():
        for index, code in enumerate(reference_code(source)):
            exec(compile(code, f"{source} (code cell {index})", "exec"), namespace)
    return hidden, namespace


def sweep(source: Path, seeds, *, only: str | None = None, seeds_for: dict | None = None, max_failures: int = 5,
          progress=None) -> list[TestSweep]:
    """Run every hidden test of `source` against its own solution, once per seed in `seeds`.

    Parameters
    ----------
    source : Path
        The lab's instructor notebook (solutions/<lab>/<lab>.ipynb).
    seeds : iterable of int
        The students' seeds to try.
    only : str, optional
        Sweep only the test cell with this grade_id.
    seeds_for : dict, optional
        Other seeds for some test cells: ``{grade_id: iterable of int}``.
    max_failures : int
        Failures kept per test (all are counted until then; the sweep of that test stops there).
    progress : callable, optional
        Called with each finished `TestSweep`.
    """
    source = Path(source).resolve()
    suite = load_suite(source)
    cwd = os.getcwd()
    os.chdir(source.parent)  # a notebook opens its data files by relative path, as in its kernel
    try:
        hidden, namespace = _namespace(source)
        reference = Reference(dict(namespace))
        seeds, seeds_for = list(seeds), {k: list(v) for k, v in (seeds_for or {}).items()}
        results = []
        for cell in suite.cells:
            if only is not None and cell.grade_id != only:
                continue
            for test in cell.tests:
                record = TestSweep(cell.grade_id, test.name)
                student = hidden.Student(namespace)
                kwargs = {"reference": reference} if test.wants_reference else {}
                start = time.perf_counter()
                for seed in seeds_for.get(cell.grade_id, seeds):
                    try:
                        with _quiet():
                            test.fn(student, _rng(seed, cell.grade_id, test.name), **kwargs)
                    except Exception as exc:  # noqa: BLE001 - every failure is a finding
                        record.failures.append((seed, f"{type(exc).__name__}: {exc}"[:500]))
                    finally:
                        student._restore()
                    record.runs += 1
                    if record.failed >= max_failures:
                        break
                record.seconds = time.perf_counter() - start
                results.append(record)
                if progress is not None:
                    progress(record)
        return results
    finally:
        os.chdir(cwd)


def report(record: TestSweep) -> str:
    per = 1000 * record.seconds / max(record.runs, 1)
    head = (f"{record.grade_id}/{record.name}: {record.runs - record.failed}/{record.runs} seeds passed "
            f"({per:.1f} ms a seed")
    if not record.failed:
        return head + f"; false-fail rate < {bound(record.runs):.2g} at 95 % confidence)"
    lines = [head + ")"] + [f"    seed {seed}: {message}" for seed, message in record.failures]
    return "\n".join(lines)


def main(lab: str, seeds: int, first: int, only: str | None, root: Path, seeds_for: dict | None = None) -> int:
    """``python -m autograder sweep``: 0 when every hidden test passed every seed, 1 when one failed, 2 for bad input."""
    source = root / "solutions" / lab / f"{lab}.ipynb"
    if not source.is_file():
        labs = sorted(p.parent.name for p in (root / "solutions").glob("*/*.ipynb") if p.stem == p.parent.name)
        print(f"error: {source} does not exist; the labs are: {', '.join(labs) or 'none'} "
              f"(or point --root at the course checkout)", file=sys.stderr)
        return 2
    seeds_for = dict(seeds_for or {})
    if seeds < 1 or any(n < 1 for n in seeds_for.values()):
        print(f"error: --seeds {seeds}, --seeds-for {seeds_for}: sweep at least one seed", file=sys.stderr)
        return 2
    known = [c.grade_id for c in load_suite(source).cells]
    for option, grade_id in [("--only", only)] + [("--seeds-for", g) for g in seeds_for]:
        if grade_id is not None and grade_id not in known:
            print(f"error: {option} {grade_id}: {lab} has no test cell of that grade_id; its test cells are: "
                  f"{', '.join(known)}", file=sys.stderr)
            return 2
    results = sweep(source, range(first, first + seeds), only=only,
                    seeds_for={g: range(first, first + n) for g, n in seeds_for.items()},
                    progress=lambda r: print(report(r), flush=True))
    failed = [r for r in results if r.failed]
    print(f"{lab}: {len(results) - len(failed)} of {len(results)} hidden tests passed every seed they were given "
          f"(from {first})")
    return 1 if failed else 0


__all__ = ["SEEDS_FOR_1_IN_1000", "TestSweep", "bound", "report", "sweep"]
