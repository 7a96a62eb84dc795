"""The nbgrader metadata of a notebook cell: one reader of ``metadata.nbgrader`` and the predicates built on it.

nbgrader marks a cell's role in ``cell.metadata.nbgrader``: ``grade`` (its points are recorded),
``solution`` (the student writes it), ``locked`` (the release's text is authoritative), ``task``,
``grade_id`` (its name in the gradebook) and ``points``. The flags follow nbgrader's own rule
(``nbgrader.utils.is_grade`` and friends): a flag is set when its value is true in Python's sense.

Every reader here takes any JSON value as a cell: a cell, metadata or nbgrader entry that is not a
dict reads as a cell without nbgrader metadata (submissions are the student's files, anything goes).
"""
from __future__ import annotations

from typing import Iterable


def nbgrader(cell) -> dict:
    """The cell's nbgrader metadata ({} when it has none or it is not a dict)."""
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    meta = meta.get("nbgrader") if isinstance(meta, dict) else None
    return meta if isinstance(meta, dict) else {}


def grade_id(cell) -> str | None:
    """The cell's grade_id when it is a string (possibly empty), else None."""
    value = nbgrader(cell).get("grade_id")
    return value if isinstance(value, str) else None


def points(cell) -> float:
    """The points of a grade cell (0 when unset)."""
    return float(nbgrader(cell).get("points", 0))


def is_grade_cell(cell) -> bool:
    """A cell whose score the gradebook records (a test cell, or a manually graded answer)."""
    return bool(nbgrader(cell).get("grade"))


def is_solution_cell(cell) -> bool:
    """An answer cell: the student writes it."""
    return bool(nbgrader(cell).get("solution"))


def is_locked(cell) -> bool:
    """A cell whose text is the release's (tests, instructions): a submission's copy does not count."""
    return bool(nbgrader(cell).get("locked"))


def is_task(cell) -> bool:
    """A manually graded task cell."""
    return bool(nbgrader(cell).get("task"))


def is_test_cell(cell) -> bool:
    """An autograded test cell: a grade cell that is not an answer."""
    return is_grade_cell(cell) and not is_solution_cell(cell)


def is_submission_test_cell(cell) -> bool:
    """A cell of a submission the grader treats as a test cell (never runs the student's copy): its ``grade`` is
    exactly JSON true and it is not an answer, or its grade_id starts with ``test_``. The metadata is the
    student's, so a flag counts only when it is the JSON true nbgrader writes."""
    meta = nbgrader(cell)
    name = grade_id(cell)
    return (meta.get("grade") is True and not meta.get("solution")) or (name is not None and name.startswith("test_"))


def grade_ids(cells: Iterable) -> set[str]:
    """The string grade_ids of `cells` (non-dict cells and non-string ids skipped)."""
    return {name for name in map(grade_id, cells) if name is not None}


def graded_tests(cells: Iterable) -> dict[str, float]:
    """{grade_id: points} of the autograded test cells among `cells` (those with a non-empty grade_id)."""
    return {grade_id(c): points(c) for c in cells if is_test_cell(c) and grade_id(c)}


def graded_cells(cells: Iterable) -> dict[str, float]:
    """{grade_id: points} of every grade cell among `cells` (tests and manually graded answers), as the gradebook
    records them."""
    return {grade_id(c): points(c) for c in cells if is_grade_cell(c) and grade_id(c)}
