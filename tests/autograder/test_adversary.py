"""Every hidden test of every lab against a recording adversary: it must score 0.

The hidden-test rule this checks: no input sent to the kernel may be the expected
value of another call, or a simple transform of one. The adversary caches every
array and number it is sent and answers a later call only from that cache, through
a simple transform (identity, sign, sigmoid, tanh, ReLU, a threshold, arctan, exp,
square, abs, of a cached array or one of its elements; a sum, a mean, a transpose). To be as strong as any such cache can
be, it computes the right answer with the solution (that is how it knows which
cached value to pick) but returns only what it built from the cache, never the
solution's own result: a call it cannot answer from the cache raises
NotImplementedError, as the untouched student notebook does. Classes of the
solution cells are stubs (an empty submission's). A test that hands the kernel
its expected value gives the adversary points; the hidden tests of every lab
present (found in solutions/) must give it none.
"""
from __future__ import annotations

import ast

import nbformat
import pytest

from autograder.grading import grade_notebook
from tests.conftest import LABS, ROOT

# The adversary's cell, run in the kernel after the solution's cells; `_adv_install(names)` switches it on.
ADVERSARY = ROOT / "tests" / "files" / "recording_adversary.py"


def solution_names(nb) -> list[str]:
    """Names of the functions and classes the solution cells define (what a student writes)."""
    names = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("solution"):
            continue
        code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.parse(code).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.append(node.name)
    return names


def adversary_notebook(source):
    """The solution notebook, without its demo cells (speed), ending with the adversary's cell."""
    nb = nbformat.read(source, as_version=4)
    names = solution_names(nb)
    assert names, f"{source}: no solution cells define a function"
    nb.cells = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade_id")]
    code = ADVERSARY.read_text() + f"\n\n_adv_install({sorted(set(names))!r})\n"
    nb.cells.append(nbformat.v4.new_code_cell(code))
    return nb


@pytest.mark.parametrize("lab", LABS)
def test_recording_adversary_scores_zero(lab, tmp_path):
    """Does a submission that answers only from what the grader sent it (cached inputs, simple transforms)
    score 0 on every test cell of this lab?"""
    source = ROOT / "solutions" / lab / f"{lab}.ipynb"
    path = tmp_path / f"{lab}.ipynb"
    nbformat.write(adversary_notebook(source), path)
    result = grade_notebook(lab, path, seed=0)
    leaked = {t["grade_id"]: t["score"] for t in result["tests"] if t["score"] > 0}
    assert not leaked, (f"{lab}: hidden tests gave points to a submission that answers from its cached inputs: "
                        f"{leaked}; a test sends the kernel the expected value of a later call (or a simple "
                        f"transform of it). Errors: {result['errors'][:3]}")
    assert result["max_score"] > 0
