"""Mutation suites: realistic wrong implementations lose exactly their cell's points; right-but-different ones keep them.

Each tests/mutations/lab*.py module holds LAB, WRONG and RIGHT (grade_id ->
{description: source appended to that solution cell}). Grading one notebook
per mutant would take minutes per lab, so the suite grades *rounds*: round k
puts the k-th wrong mutant of every cell into one submission. Every mutated
cell must score 0 and every cell left as the solution must keep full marks,
so a verdict that leaks from one exercise into another still shows up.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

from tests.conftest import ROOT

SUITES = sorted(Path(__file__).parent.glob("lab*.py"))


def load_suite(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mutate(lab: str, mutants: dict[str, str]) -> nbformat.NotebookNode:
    """The solution notebook with each grade_id's mutant source appended to its solution cell."""
    nb = nbformat.read(ROOT / "solutions" / lab / f"{lab}.ipynb", as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    for grade_id, source in mutants.items():
        assert grade_id in cells and cells[grade_id].metadata["nbgrader"].get("solution"), f"{lab}: no solution cell {grade_id}"
        cells[grade_id].source += "\n\n# --- mutant ---\n" + source
    return nb


def rounds(table: dict[str, dict[str, str]]) -> list[dict[str, tuple[str, str]]]:
    """Round k maps each grade_id with at least k+1 mutants to (description, source) of its k-th."""
    depth = max(len(m) for m in table.values())
    return [{gid: list(m.items())[k] for gid, m in table.items() if len(m) > k} for k in range(depth)]


CASES = []
for path in SUITES:
    suite = load_suite(path)
    for kind, table in (("wrong", suite.WRONG), ("right", suite.RIGHT)):
        for k, chosen in enumerate(rounds(table)):
            CASES.append(pytest.param(suite.LAB, kind, chosen, id=f"{suite.LAB}-{kind}-{k}"))


@pytest.mark.parametrize("suite_path", SUITES, ids=[p.stem for p in SUITES])
def test_suite_covers_every_graded_cell(suite_path):
    """Has every graded cell of the lab at least 3 wrong and 1 right-but-different implementation?"""
    suite = load_suite(suite_path)
    nb = nbformat.read(ROOT / "solutions" / suite.LAB / f"{suite.LAB}.ipynb", as_version=4)
    graded = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")}
    for grade_id in graded:
        assert len(suite.WRONG.get(grade_id, {})) >= 3, f"{suite.LAB}: {grade_id} needs at least 3 wrong mutants"
        assert len(suite.RIGHT.get(grade_id, {})) >= 1, f"{suite.LAB}: {grade_id} needs a right-but-different variant"


@pytest.mark.slow
@pytest.mark.parametrize("lab, kind, chosen", CASES)
def test_mutants_are_graded_honestly(lab, kind, chosen, tmp_path):
    """Does each wrong mutant score 0 on its own cell, each right one full marks, and every other cell keep its points?"""
    from autograder.grading import grade_notebook

    submission = tmp_path / f"{lab}.ipynb"
    nbformat.write(mutate(lab, {gid: src for gid, (_, src) in chosen.items()}), submission)
    result = grade_notebook(lab, submission, seed=1234)
    by_cell = {t["grade_id"]: t for t in result["tests"]}
    problems = []
    for grade_id, test in by_cell.items():
        cell = grade_id.removeprefix("test_")
        if kind == "wrong" and cell in chosen:
            if test["score"] != 0:
                problems.append(f"{grade_id}: wrong mutant {chosen[cell][0]!r} scored {test['score']}/{test['max_score']}")
        elif test["score"] != test["max_score"]:
            why = f"mutant {chosen[cell][0]!r}" if cell in chosen else "untouched solution"
            problems.append(f"{grade_id}: {why} lost points: {test['message'][:300]}")
    assert not problems, "\n".join(problems) + f"\nerrors: {result['errors']}"
