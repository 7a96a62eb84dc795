"""Command line of the course tooling: ``python -m autograder`` (also ``course-autograder``).

Every subcommand is a function of parsed arguments returning an exit code, and
``main(argv=None)`` is importable so tests call the CLI in-process.
"""
from __future__ import annotations

import argparse
import sys


def _release(args: argparse.Namespace) -> int:
    from autograder.release import release

    return release(args.labs or None, check=args.check)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="Release and grade the course's labs.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "release",
        help="generate notebooks/<lab>.ipynb from solutions/<lab>/<lab>.ipynb",
        description="Generate the student notebooks from the solution notebooks with nbgrader, "
        "after checking the solution notebooks' regions and metadata. Nothing is written unless every lab succeeds.",
        epilog="example: python -m autograder release 01_perceptron\n"
        "         python -m autograder release --check   # exit 1 when notebooks/ is stale",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("labs", nargs="*", metavar="LAB", help="lab folder names (default: every lab in solutions/)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 when notebooks/ differs from a fresh release")
    p.set_defaults(func=_release)
    return parser


def main(argv: list[str] | None = None) -> int:
    from autograder.release import ReleaseError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
