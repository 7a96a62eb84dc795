"""A released student notebook with every exercise solved, as a student saves it (standard library only).

Used where a real front end runs a whole lab and then its self-check cell: `make test-colab` and
`make test-browser` (whose environment has neither nbformat nor the course's packages).
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else source


def solved_notebook(root: Path, lab: str) -> dict:
    """notebooks/<lab>.ipynb as JSON, each answer cell holding the instructor's solution without its markers."""
    student = json.loads((root / "notebooks" / f"{lab}.ipynb").read_text())
    source = json.loads((root / "solutions" / lab / f"{lab}.ipynb").read_text())
    answers = {c["metadata"]["nbgrader"]["grade_id"]: _text(c["source"]) for c in source["cells"]
               if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    solved = copy.deepcopy(student)
    for cell in solved["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in answers and cell["metadata"]["nbgrader"].get("solution"):
            lines = [line for line in answers[grade_id].split("\n") if line.strip() not in _MARKERS]
            cell["source"] = "\n".join(lines)
    return solved
