"""The autograded notebook: the submission as nbgrader's feedback shows it, with the verdicts and a summary.

Locked cells (tests, instructions) come from the release, never with the hidden tests (nbgrader writes them
back, #1363); answers come from the student with the release's metadata; every string is made storable
first (`clean`, `clean_notebook`); the notebook's metadata carries the `MARKER` that says which submitted
file it was graded from (see autograder.gradebook.completed).
"""
from __future__ import annotations

import copy
import datetime
import re
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output, new_raw_cell

from autograder import cells as nbcells
from autograder import markup
from autograder.feedback import _flag_message, _verdict, summary_markdown
from autograder.text import KEY_LIMIT, UNSTORABLE, clean_value

if TYPE_CHECKING:
    from autograder.gradebook import Graded

MARKER = "autograder"  # key of the autograded notebook's metadata that marks a finished grade
MAX_READ_BYTES = 20 * 1024 * 1024  # larger submissions are graded, but not copied into feedback
MAX_CLEAN_CHARS = 20_000  # a string of a grade result is cut there
MAX_KEY_CHARS = KEY_LIMIT  # a dict key of a grade result is cut there
_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_UNPRINTABLE_SOURCE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def load_notebook_for_feedback(path: Path) -> nbformat.NotebookNode | None:
    """The submitted notebook whose cells the autograded notebook shows, or None when it is unreadable or too large
    to copy into feedback (the release's cells are shown then)."""
    try:
        if path.stat().st_size > MAX_READ_BYTES:
            return None
        nb = nbformat.read(path, as_version=4)
        return nb if isinstance(nb.get("cells"), list) else None
    except Exception:  # invalid JSON, nbformat 3 edge cases, deep nesting: graded from the release cells
        return None


def read_marker(path: Path) -> dict:
    """The `MARKER` metadata of the autograded notebook at `path` ({} when there is none or it cannot be read)."""
    try:
        marker = nbformat.read(path, as_version=4).metadata.get(MARKER, {})
    except Exception:
        return {}
    return marker if isinstance(marker, dict) else {}


def clean(value, limit: int = MAX_CLEAN_CHARS):
    """`value` with every string valid UTF-8 (lone surrogates replaced), without control characters, bounded:
    `autograder.text.clean_value` with the gradebook's rule (`UNSTORABLE` characters become ``?``, escapes and
    values that are not strings kept, a plain cut; string keys cut at `MAX_KEY_CHARS`)."""
    return clean_value(value, limit, strict=False, escapes=False, unsafe=UNSTORABLE, cut="")


def clean_source(text: str) -> str:
    """A cell's source made storable: lone surrogates and control characters (but tabs and line ends) and
    bidirectional overrides become U+FFFD; nothing is cut (the cell is the student's work)."""
    return _UNPRINTABLE_SOURCE.sub("\ufffd", text)


def clean_notebook(nb: nbformat.NotebookNode | None) -> nbformat.NotebookNode | None:
    """A copy of a submitted notebook whose cells can be written whatever they held: sources cleaned
    (`clean_source`), every other string of a cell (type, id, metadata, outputs) cleaned (`clean`)."""
    if nb is None:
        return None
    cells = []
    for cell in nb.get("cells", []):
        if not isinstance(cell, dict):
            continue
        fresh = clean({k: v for k, v in cell.items() if k != "source"}, MAX_READ_BYTES)
        fresh["source"] = clean_source(_source_text(cell))
        cells.append(fresh)
    out = nbformat.from_dict({k: clean(v) for k, v in nb.items() if k != "cells"})
    out.cells = [nbformat.from_dict(c) for c in cells]
    return out


def _fresh_cell(cell_type: str, source: str, nbgrader: dict | None):
    make = {"code": new_code_cell, "markdown": new_markdown_cell}.get(cell_type, new_raw_cell)
    cell = make(source=source)
    if nbgrader:
        cell.metadata["nbgrader"] = copy.deepcopy(nbgrader)
    return cell


def _source_text(cell) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def autograded_notebook(release: nbformat.NotebookNode, submitted: nbformat.NotebookNode | None,
                        graded: Graded) -> nbformat.NotebookNode:
    """The submission as nbgrader's feedback should show it.

    Locked cells (tests, instructions) come from the release, hidden tests
    excluded; answers come from the student with the release's metadata; a
    cell whose grade_id the release does not know, or that repeats one, loses
    its nbgrader metadata (the last repeat counts, as in nbgrader); deleted
    graded cells are put back after their predecessor. Student outputs are
    dropped; each test cell gets its verdict as output, and a summary cell
    opens the notebook. Without a readable submission, the release is shown.
    """
    if submitted is None:
        cells = [_fresh_cell(c.cell_type, _source_text(c), nbcells.nbgrader(c)) for c in release.cells]
    else:
        cells = _merged_cells(release, submitted)
        _restore_missing(cells, release)
    _add_verdicts(cells, graded.result)

    nb = nbformat.v4.new_notebook(metadata=copy.deepcopy(release.metadata))
    nb.metadata[MARKER] = _marker_of(graded)
    nb.cells = [new_markdown_cell(summary_markdown(graded))] + cells
    markup.clean_notebook(nb)  # student Markdown and outputs made safe for the instructor's browser; never signed
    _unique_cell_ids(nb)
    nbformat.validate(nb)
    return nb


def _merged_cells(release: nbformat.NotebookNode, submitted: nbformat.NotebookNode) -> list:
    """The submission's cells in its order: locked ones from the release, answers with the release's metadata, the
    others (unknown or repeated grade_ids) without nbgrader metadata."""
    reference = {}
    for cell in release.cells:
        if nbcells.grade_id(cell):
            reference[nbcells.grade_id(cell)] = cell
    last = {}
    for index, cell in enumerate(submitted.cells):
        if isinstance(cell, dict) and nbcells.grade_id(cell) in reference:
            last[nbcells.grade_id(cell)] = index
    cells = []
    for index, cell in enumerate(submitted.cells):
        if not isinstance(cell, dict):
            continue
        grade_id = nbcells.grade_id(cell)
        ref = reference.get(grade_id) if last.get(grade_id) == index else None
        if ref is None:
            cell_type = cell.get("cell_type") if cell.get("cell_type") in ("code", "markdown") else "raw"
            cells.append(_fresh_cell(cell_type, _source_text(cell), None))
        elif nbcells.is_locked(ref):
            cells.append(_fresh_cell(ref.cell_type, ref.source, nbcells.nbgrader(ref)))
        else:
            cells.append(_fresh_cell(ref.cell_type, _source_text(cell), nbcells.nbgrader(ref)))
    return cells


def _restore_missing(cells: list, release: nbformat.NotebookNode) -> None:
    """Put back graded and locked cells the student deleted, after the release cell that precedes them."""
    present = {nbcells.grade_id(c) for c in cells if nbcells.grade_id(c)}
    previous = None
    for ref in release.cells:
        grade_id = nbcells.grade_id(ref)
        if not grade_id:
            continue
        if grade_id not in present and (nbcells.is_grade_cell(ref) or nbcells.is_locked(ref) or nbcells.is_task(ref)):
            at = next((i + 1 for i, c in enumerate(cells) if previous and nbcells.grade_id(c) == previous), len(cells))
            cells.insert(at, _fresh_cell(ref.cell_type, ref.source, nbcells.nbgrader(ref)))
            present.add(grade_id)
        previous = grade_id


def _add_verdicts(cells: list, result: dict) -> None:
    """Each graded code cell's verdict as its output; a cell the submission retyped or deleted says so where it
    stands (it is shown from the release)."""
    tests = {t.get("grade_id"): t for t in result.get("tests", []) if isinstance(t, dict)}
    for cell in cells:
        test = tests.get(nbcells.grade_id(cell))
        if cell.cell_type == "code" and test is not None and nbcells.is_grade_cell(cell):
            cell.outputs = [new_output("stream", name="stdout", text=_verdict(test))]
    flagged = {f.get("grade_id"): f for f in result.get("flags") or [] if isinstance(f, dict)}
    for cell in cells:
        flag = flagged.get(nbcells.grade_id(cell))
        if flag is not None and cell.cell_type == "code":
            note = f"[autograder] {_flag_message(flag)}\n"
            cell.outputs = [new_output("stream", name="stdout", text=note), *cell.get("outputs", [])]


def _marker_of(graded: Graded) -> dict:
    """The `MARKER` metadata of the autograded notebook: the graded file's sha256, the score, how it was graded."""
    result = graded.result
    return {
        "submission_sha256": graded.sha256,
        "score": float(result.get("score", 0.0)),
        "max_score": float(result.get("max_score", 0.0)),
        "seed": graded.seed,
        "seconds": None if graded.seconds is None else round(graded.seconds, 3),
        "flags": [f for f in result.get("flags") or [] if isinstance(f, dict)],  # cells deleted or retyped
        "graded_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _unique_cell_ids(nb: nbformat.NotebookNode) -> None:
    """Give every cell a valid id that no earlier cell has (nbgrader's DeduplicateIds)."""
    seen = set()
    for cell in nb.cells:
        cell_id = cell.get("id")
        if not isinstance(cell_id, str) or not _CELL_ID.match(cell_id) or cell_id in seen:
            cell.id = nbformat.v4.nbbase.random_cell_id()
        seen.add(cell.id)
