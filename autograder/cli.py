"""Command line of the course tooling: ``python -m autograder`` (also ``course-autograder``).

Every subcommand is a function of parsed arguments returning an exit code, and
``main(argv=None)`` is importable so tests call the CLI in-process.
"""
from __future__ import annotations

import argparse
import sys

PROG = "python -m autograder"
EXAMPLES_HEAD = "example: "  # the epilog's first line; the further examples are indented under it
DEFAULT_SWEEP_SEEDS = 3000  # seeds of `sweep`: 0 failures bound a test's false-fail rate below about 1 in 1000


def _release(args: argparse.Namespace) -> int:
    from autograder.release import release

    return release(args.labs or None, check=args.check)


def _autograde(args: argparse.Namespace) -> int:
    from autograder.batch import BatchError, autograde_labs

    try:
        summaries = autograde_labs(args.labs, args.course_dir, workers=args.workers, scheduler=args.scheduler,
                                   seed=args.seed, force=args.force, unconfined=args.unconfined,
                                   watchdog_s=args.time_limit, preflight=not args.no_preflight)
    except BatchError as exc:  # 2: the command refused; 3: the preflight failed (PreflightError)
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 1 if any(summary.ungraded for summary in summaries.values()) else 0


def _grade(args: argparse.Namespace) -> int:
    import contextlib
    import dataclasses
    import json
    from pathlib import Path

    from autograder.grading import GradingError, HiddenTestError, Limits, grade_notebook

    from autograder.sandbox import require_confinement

    if not require_confinement(args.unconfined):  # fail closed: no confinement, no grade
        return 2
    limits = Limits()
    if args.timeout_cell is not None:
        limits = dataclasses.replace(limits, cell_timeout_s=args.timeout_cell)
    if args.memory_mb is not None:
        limits = dataclasses.replace(limits, memory_mb=args.memory_mb)
    try:
        # Whatever a hidden test or the reference solution prints must not reach stdout (--json owns it).
        with contextlib.redirect_stdout(sys.stderr):
            result = grade_notebook(args.lab, Path(args.submission), limits=limits, seed=args.seed)
    except (GradingError, HiddenTestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
        return 0
    width = max(len(t["grade_id"]) for t in result["tests"])
    print(f"{result['lab']}: {result['score']:g} / {result['max_score']:g}   (seed {result['seed']})")
    for t in result["tests"]:
        mark = "PASS" if t["passed"] else "FAIL"
        line = f"  {mark}  {t['grade_id']:<{width}}  {t['score']:g} / {t['max_score']:g}"
        print(line if t["passed"] else f"{line}   {_continued(t['message'])}")
    for flag in result.get("flags") or []:
        print(f"  flagged: {_continued(flag.get('message', ''))}")
    for error in result["errors"]:
        print(f"  error: {_continued(error)}")
    return 0


def _continued(text: str) -> str:
    """A message (cleaned by the grader, but free to hold line breaks) whose every further line is marked with ``|``:
    nothing a submission writes into a message can pass for a line of the grader's own."""
    first, *rest = str(text).splitlines() or [""]
    return "".join([first, *(f"\n      | {line}" for line in rest)])


def _sweep(args: argparse.Namespace) -> int:
    from pathlib import Path

    from autograder.sweep import main as sweep_main

    seeds_for = {}
    for item in args.seeds_for:
        grade_id, _, count = item.partition("=")
        if not count.isdigit():
            print(f"error: --seeds-for {item!r}: write GRADE_ID=N, e.g. test_training_loop=100", file=sys.stderr)
            return 2
        seeds_for[grade_id] = int(count)
    return sweep_main(args.lab, args.seeds, args.first, args.only, Path(args.root), seeds_for)


def _collect(args: argparse.Namespace) -> int:
    from autograder.collect import main as collect_main

    return collect_main(args)


def _export(args: argparse.Namespace) -> int:
    from autograder.export import main as export_main

    return export_main(args)


def _report(args: argparse.Namespace) -> int:
    from autograder.report import main as report_main

    return report_main(args)


def _command(sub, name: str, func, *, examples: tuple[str, ...], **texts) -> argparse.ArgumentParser:
    """A subcommand `name` running `func`, with its help and description; its epilog lists the `examples` (each the
    arguments after ``python -m autograder NAME``), one a line, laid out as written."""
    lines = [f"{PROG} {name} {example}" for example in examples]
    epilog = EXAMPLES_HEAD + f"\n{' ' * len(EXAMPLES_HEAD)}".join(lines)
    parser = sub.add_parser(name, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=epilog, **texts)
    parser.set_defaults(func=func)
    return parser


def _lab_argument(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("lab", metavar="LAB", help=help)


def _labs_argument(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("labs", nargs="+", metavar="LAB", help=help)


def _course_dir_option(parser: argparse.ArgumentParser, holding: str) -> None:
    parser.add_argument("--course-dir", default=".", metavar="DIR",
                        help=f"nbgrader course directory holding {holding} (default: .)")


def _seed_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--seed", type=int, default=None, metavar="N", help=help)


def _unconfined_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--unconfined", action="store_true",
                        help="grade even where the kernel cannot be confined (prints what is not enforced)")


def _add_release(sub) -> None:
    p = _command(
        sub, "release", _release,
        help="generate notebooks/<lab>.ipynb from solutions/<lab>/<lab>.ipynb",
        description="Generate the student notebooks from the solution notebooks with nbgrader, "
        "after checking the solution notebooks' regions and metadata. Nothing is written unless every lab succeeds.",
        examples=("01_perceptron",
                  "--check   # exit 1 when notebooks/ is stale"),
    )
    p.add_argument("labs", nargs="*", metavar="LAB", help="lab folder names (default: every lab in solutions/)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 when notebooks/ differs from a fresh release")


def _add_grade(sub) -> None:
    p = _command(
        sub, "grade", _grade,
        help="grade one submitted notebook in a sandboxed kernel",
        description="Run a submission in a fresh sandboxed kernel and grade every test cell of the lab with its "
        "hidden tests, decided in this process. Exit 0 whenever a grade was produced (even 0 points or an "
        "unreadable notebook); 2 for an unknown lab or a missing file.",
        examples=("01_perceptron submitted/alice/01_perceptron/01_perceptron.ipynb",
                  "01_perceptron notebooks/01_perceptron.ipynb --json --seed 0"),
    )
    _lab_argument(p, "lab folder name, e.g. 01_perceptron")
    p.add_argument("submission", metavar="SUBMISSION.ipynb", help="the notebook to grade")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    _seed_option(p, "seed of the hidden tests' inputs (default: random, reported)")
    p.add_argument("--timeout-cell", type=float, default=None, metavar="S", help="wall-time limit of one cell, seconds")
    p.add_argument("--memory-mb", type=int, default=None, metavar="M", help="memory limit of the kernel, MB")
    _unconfined_option(p)


def _add_autograde(sub) -> None:
    p = _command(
        sub, "autograde", _autograde,
        help="grade every submission of one or more labs in parallel and write nbgrader's gradebook",
        description="Grade every submitted/<student>/LAB/LAB.ipynb of an nbgrader course directory, for each LAB "
        "named, on one set of Dask workers (local processes, or an existing cluster with --scheduler) and record "
        "the grades in gradebook.db and autograded/, so `nbgrader generate_feedback` and `nbgrader export` work "
        "as usual. Resumable: run it again after an interruption and it grades only the submissions without a "
        "complete grade. Before any student, each lab's reference solution is graded on the same workers "
        "(the preflight). Exit 0 when every submission was graded; 1 when some are NOT GRADED (the reasons are "
        "printed); 2 when the command refuses (unknown lab, no course, no submitted/); 3 when the preflight fails "
        "(nothing is graded or written then).",
        examples=("01_perceptron --course-dir ~/course --workers 2",
                  "01_perceptron 02_dense_networks --workers 2",
                  "01_perceptron --scheduler tcp://10.0.0.5:8786"),
    )
    _labs_argument(p, "the lab(s) (nbgrader assignments) to grade, e.g. 01_perceptron; several labs are graded "
                   "as one batch on the same workers")
    _course_dir_option(p, "nbgrader_config.py, the source and submitted/")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local worker processes (default: the number of CPU cores)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="grade on an existing Dask cluster, e.g. tcp://host:8786 (workers need this package "
                   "installed, not the course directory)")
    _seed_option(p, "secret of the run: each student's seed is derived from it and their id "
                 "(default: drawn at random; each seed is recorded in autograded/)")
    p.add_argument("--force", action="store_true", help="grade every submission again, even those already graded")
    p.add_argument("--time-limit", type=float, default=None, metavar="S",
                   help="give up a submission still grading after S seconds on its worker: NOT GRADED, its worker "
                   "restarted (default: the longest grading the per-notebook limits allow plus a margin, "
                   "about 49 minutes for two test cells)")
    _unconfined_option(p)
    p.add_argument("--no-preflight", action="store_true",
                   help="skip grading each lab's reference solution first (the check that the grading environment "
                   "gives the reference full marks before any student is graded)")


def _add_sweep(sub) -> None:
    p = _command(
        sub, "sweep", _sweep,
        help="run every hidden test of a lab against its own solution for many students' seeds",
        description="Execute solutions/LAB/LAB.ipynb once and run each hidden test against it with the generator "
        "the grader gives the student of each seed. A fair hidden test passes for every seed: 0 failures in N "
        "seeds bound its false-fail rate below about 3/N (95 %% confidence; 3000 seeds: below 1 in 1000). Exit 1 "
        "when any seed fails (the failures are printed), 2 for an unknown lab.",
        examples=("04_optimizers --seeds 3000",
                  "04_optimizers --only test_adam --first 1000 --seeds 60"),
    )
    _lab_argument(p, "lab folder name, e.g. 04_optimizers")
    p.add_argument("--seeds", type=int, default=DEFAULT_SWEEP_SEEDS, metavar="N",
                   help=f"how many seeds (default: {DEFAULT_SWEEP_SEEDS})")
    p.add_argument("--first", type=int, default=0, metavar="S", help="the first seed (default: 0)")
    p.add_argument("--only", metavar="GRADE_ID", help="sweep only this test cell")
    p.add_argument("--seeds-for", action="append", default=[], metavar="GRADE_ID=N",
                   help="another number of seeds for one test cell (repeatable), e.g. test_training_loop=100")
    p.add_argument("--root", default=".", metavar="DIR", help="the course checkout holding solutions/ (default: .)")


def _add_collect(sub) -> None:
    p = _command(
        sub, "collect", _collect,
        help="copy each student's notebook of a lab from an LMS download into submitted/<student>/<lab>/",
        description="Read an LMS download (the zip, or the folder it was unpacked into) and write each student's "
        "latest notebook of LAB to submitted/<student>/LAB/LAB.ipynb, the student id being the LMS's user id. "
        "Resubmission and copy suffixes (-1, ' (1)', 'Copy of ') are understood; every file not collected is "
        "listed with its reason. A rerun is safe: identical files are left alone, a changed one is backed up "
        "to collect-backup/ before it is replaced. Exit 1 when nothing was collected, 2 when the command refuses.",
        examples=("05_minibatch_sgd downloaded/submissions.zip --course-dir .",
                  "05_minibatch_sgd downloaded/moodle/ --lms moodle"),
    )
    _lab_argument(p, "the lab, e.g. 05_minibatch_sgd (its notebook is LAB.ipynb)")
    p.add_argument("source", metavar="ZIP_OR_DIR", help="the LMS's download: a zip file or an unpacked folder")
    p.add_argument("--lms", choices=("canvas", "moodle", "generic"), default="canvas",
                   help="how the download names files: canvas (lastname_12345_67890_file), moodle (Full "
                   "Name_12345_assignsubmission_file_/file) or generic (<student>/<file>); default: canvas")
    _course_dir_option(p, "nbgrader_config.py")


def _add_export(sub) -> None:
    p = _command(
        sub, "export", _export,
        help="write the labs' grades as Canvas's gradebook CSV (and a wide CSV) from gradebook.db",
        description="Fill Canvas's gradebook CSV (Student, ID, SIS User ID, SIS Login ID, Section, then one column "
        "per LAB, with Canvas's Points Possible row) from the course's gradebook.db, matching students on "
        "Canvas's ID column (the id collect gives them). A student without a graded submission gets an empty "
        "cell, not 0. With --roster (Canvas: Grades > Export), the rows are the roster's, and the students with a "
        "grade who are not in the roster are listed on stderr and in <out>-report.txt.",
        examples=("01_perceptron 02_dense_networks --course-dir . --roster canvas_export.csv --out grades.csv "
                  "--wide wide.csv",),
    )
    _labs_argument(p, "the labs to export, one column each")
    _course_dir_option(p, "nbgrader_config.py and gradebook.db")
    p.add_argument("--roster", metavar="CSV", help="Canvas's gradebook export: its students and columns are used")
    p.add_argument("--out", metavar="CSV", help="the Canvas CSV to write (default: DIR/grades.csv)")
    p.add_argument("--wide", metavar="CSV", help="also write one row per student, a column per lab and per test")


def _add_report(sub) -> None:
    p = _command(
        sub, "report", _report,
        help="write one self-contained HTML class report (and a CSV of its numbers) from gradebook.db",
        description="Summarise the class for each LAB: score distribution, pass rate of every test, the most "
        "common failure messages per test (numbers masked), students not graded with the reason, grading time. "
        "One HTML file with inline plots (it opens without a network) and a CSV of the same numbers beside it.",
        examples=("01_perceptron 02_dense_networks --course-dir . --out report.html",),
    )
    _labs_argument(p, "the labs to report on")
    _course_dir_option(p, "nbgrader_config.py and gradebook.db")
    p.add_argument("--out", metavar="HTML", help="the report to write (default: DIR/report.html; the CSV beside it)")


#: The subcommands, in the order `--help` lists them.
COMMANDS = (_add_release, _add_grade, _add_autograde, _add_sweep, _add_collect, _add_export, _add_report)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Release and grade the course's labs.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_command in COMMANDS:
        add_command(sub)
    return parser


def end_process(rc: int, fast: bool) -> None:
    """End the command's process with `rc`. `fast` (a `grade` call): run what is registered with atexit (the
    kernel templates, the reference zygote, temporary folders), flush stdout and stderr, and end without the
    interpreter's teardown of PyTorch and TensorFlow, which took about 1 s of a 9-10 s grade call of Lab 02."""
    if not fast:
        sys.exit(rc)
    import atexit
    import os

    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(rc if isinstance(rc, int) else 1)


def main(argv: list[str] | None = None) -> int:
    from autograder.release import ReleaseError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
