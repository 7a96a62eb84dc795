"""What a submitted notebook holds, read defensively: the cells to run, the graded cells it deleted or retyped,
and the text a kernel cannot be sent (`autograder.grading` grades it; the batch refuses what is no notebook).

Light on purpose (no sandbox, no numpy): the batch's coordinator reads submissions with it too.
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from autograder import cells as nbcells
from course_utils.selfcheck import is_check_cell

if TYPE_CHECKING:
    from autograder.hidden import Suite
    from autograder.sandbox import Limits

__all__ = ["cell_flags", "first_line", "graded_cell_types", "notebook_cells", "read_submission", "unsendable_text"]


def first_line(text: str, limit: int = 300) -> str:
    lines = [line for line in str(text).splitlines() if line.strip()]
    return (lines[0] if lines else "").strip()[:limit]


def read_submission(path: Path, limits: Limits, suite: Suite | None = None
                    ) -> tuple[list[tuple[str, str]], list[str], str | None, list[str]]:
    """The code cells to run, as (label, source), the grade_ids found, why the file is unusable (or None),
    and the grade_ids of the locked cells the submission edited or lacks.

    With the lab's `suite`, every locked cell of the source runs with the source's text, as
    nbgrader's OverwriteCells does: a submission cell with its grade_id (whatever its type or
    metadata now) gets the source's code, and a locked cell the submission lacks is put back
    after the cell that precedes it in the source.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        return [], [], f"cannot read the submission: {exc.strerror}", []
    if size > limits.notebook_mb << 20:
        return [], [], (f"the submission is {size / (1 << 20):.1f} MB, more than the {limits.notebook_mb} MB limit: "
                        "clear its outputs (Kernel > Restart Kernel and Clear Outputs) and submit again"), []
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [], [], f"cannot read the submission: {exc.strerror}", []
    cells, problem = notebook_cells(data)
    if problem is not None:
        return [], [], problem, []
    return _read_cells(cells, suite)


def notebook_cells(data: bytes) -> tuple[list | None, str | None]:
    """(the cells of the notebook `data`, None), or (None, why it is not a gradable notebook): empty, not UTF-8
    JSON, not an object, not readable by nbformat, no cells. The coordinator calls it before sending a submission
    to a worker (such a file is NOT GRADED, with this reason); the worker, on what it is sent."""
    import nbformat

    if not data:
        return None, "the submission is an empty file"
    try:
        text = data.decode("utf-8")
        raw = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return None, f"the submission is not a valid notebook file (not JSON: {first_line(exc)})"
    if not isinstance(raw, dict):
        return None, "the submission is not a notebook (its JSON is not an object)"
    try:
        with warnings.catch_warnings():  # duplicate cell ids and the like: nbformat repairs them
            warnings.simplefilter("ignore")
            nb = nbformat.reads(text, as_version=4)
    except Exception as exc:
        return None, f"the submission is not a notebook nbformat can read ({type(exc).__name__}: {first_line(exc)})"
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list) or not cells:
        return None, "the submission has no cells"
    return cells, None


def _read_cells(cells: list, suite: Suite | None) -> tuple[list[tuple[str, str]], list[str], None, list[str]]:
    locked = {c.grade_id: c for c in suite.locked} if suite is not None else {}
    code, ids, keys, seen = [], [], [], {}
    position = {g: i for i, g in enumerate(suite.order) if g} if suite is not None else {}
    key = -1  # where in the source's order the current submission cell sits
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            continue
        grade_id = nbcells.grade_id(cell)
        if isinstance(grade_id, str):
            ids.append(grade_id)
            key = position.get(grade_id, key)
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if isinstance(grade_id, str) and grade_id in locked:
            given = locked[grade_id]
            if grade_id not in seen:
                seen[grade_id] = cell.get("cell_type") == "code" and source == given.source
            code.append((f"cell {index} ({grade_id}, locked: run from the release)", given.source))
            keys.append(key)
            continue
        if cell.get("cell_type") != "code" or nbcells.is_submission_test_cell(cell) or is_check_cell(cell):
            continue  # the self-check cell (course_utils.selfcheck), exactly as released, is not graded
        if not isinstance(source, str) or not source.strip():
            continue
        label = f"cell {index}" + (f" ({grade_id})" if isinstance(grade_id, str) else "")
        code.append((label, source))
        keys.append(key)
    # Locked cells the submission lacks go back where the source has them.
    for given in (c for c in locked.values() if c.grade_id not in seen):
        at = next((i for i, k in enumerate(keys) if k > given.index), len(code))
        code.insert(at, (f"{given.grade_id} (locked, missing from the submission: run from the release)", given.source))
        keys.insert(at, given.index)
    edited = [g for g in locked if not seen.get(g, False)]
    return code, ids, None, edited


_TYPE_NAMES = {"code": "a code cell", "markdown": "Markdown", "raw": "a raw cell"}


def graded_cell_types(source: Path) -> dict[str, str]:
    """{grade_id: cell type} of the source's cells a submission must keep as they are: answers (code or
    Markdown), test cells and locked code cells, in the source's order."""
    cells = json.loads(Path(source).read_text(encoding="utf-8")).get("cells", [])
    out = {}
    for cell in cells:
        grade_id = nbcells.grade_id(cell)
        if grade_id and (nbcells.is_solution_cell(cell) or nbcells.is_grade_cell(cell)
                         or (nbcells.is_locked(cell) and cell.get("cell_type") == "code")):
            out.setdefault(grade_id, cell.get("cell_type"))
    return out


def cell_flags(cells: list, expected: dict[str, str]) -> list[dict]:
    """The graded cells of the release that the submission deleted or retyped (a code answer turned into Markdown,
    the classic accident), each as {"grade_id", "problem": "deleted" | "retyped", "message"}, the message saying
    what happened and how to fix it. A grade_id that repeats counts by its last cell, as in nbgrader."""
    found = {}
    for cell in cells:
        grade_id = nbcells.grade_id(cell)
        if isinstance(grade_id, str):
            found[grade_id] = cell.get("cell_type") if isinstance(cell, dict) else None
    flags = []
    for grade_id, kind in expected.items():
        if grade_id not in found:
            flags.append({"grade_id": grade_id, "problem": "deleted",
                          "message": f"cell `{grade_id}` is missing (deleted, or its nbgrader metadata was lost): "
                                     "restore it from the release"})
        elif found[grade_id] != kind:
            now = _TYPE_NAMES.get(found[grade_id], f"a {found[grade_id]!s:.20} cell")
            flags.append({"grade_id": grade_id, "problem": "retyped",
                          "message": f"cell `{grade_id}` was turned into {now}: restore it from the release "
                                     f"(it must be {_TYPE_NAMES.get(kind, kind)})"})
    return flags


_SURROGATE = re.compile("[\ud800-\udfff]")


def unsendable_text(source: str) -> str | None:
    """Why `source` cannot be sent to a kernel, or None when it can.

    Kernel messages are UTF-8; a lone surrogate (U+D800 to U+DFFF, which a notebook's JSON can hold as
    ``"\\ud800"`` but no text encoding can) is not text. Sent anyway, jupyter_client's packer raises, or
    (U+DC80 to U+DCFF) passes raw invalid bytes to the kernel.
    """
    found = _SURROGATE.search(source)
    if found is None:
        return None
    line = source.count("\n", 0, found.start()) + 1
    column = found.start() - (source.rfind("\n", 0, found.start()) + 1) + 1
    return (f"line {line}, column {column} holds a lone surrogate (U+{ord(found.group()):04X}), which is not valid "
            "text: delete that character (it usually comes from a bad copy and paste) and submit again")
