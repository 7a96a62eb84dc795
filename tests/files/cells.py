"""Notebook cells with nbgrader metadata, for the notebooks tests build."""
from __future__ import annotations

import nbformat


def nbgrader_cell(source: str, grade_id: str | None = None, *, kind: str = "code", tags=(), **nbgrader):
    """A code (or markdown) cell; with a grade_id it carries nbgrader metadata, `nbgrader` overriding the defaults."""
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    cell = make(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    if grade_id is not None:
        meta = {"grade": False, "solution": False, "locked": False, "task": False, "schema_version": 3,
                "grade_id": grade_id}
        meta.update(nbgrader)
        cell.metadata["nbgrader"] = meta
    return cell
