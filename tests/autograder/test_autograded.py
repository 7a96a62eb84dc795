"""autograder.autograded: the autograded notebook, the submission as nbgrader's feedback shows it."""
from __future__ import annotations

import copy

import nbformat
from nbformat.v4 import new_code_cell

from autograder import autograded, gradebook
from autograder.autograded import MARKER, autograded_notebook, clean, clean_notebook, load_notebook_for_feedback
from autograder.gradebook import Graded
from tests.autograder.fixtures_gradebook import (HIDDEN, LAB, _meta, course, result, solved,  # noqa: F401
                                                 template)


def _by_id(nb):
    return {c.metadata.nbgrader["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}


def test_autograded_notebook_restores_tests_without_hidden_ones(course):
    """Are edited, deleted and duplicated test cells restored from the release, never with the hidden tests?"""
    course, release = course
    nb = solved()
    nb.cells[2].source = "pass  # tests? what tests?"                       # edited test cell
    nb.cells[2].metadata.nbgrader["points"] = 100                          # and its points
    duplicate = copy.deepcopy(nb.cells[1])
    duplicate.source = "def add(a, b):\n    return a - b"
    nb.cells.insert(2, duplicate)                                          # duplicated answer: the last one counts
    del nb.cells[5]                                                        # deleted test_mul
    nb.cells.append(new_code_cell("x = 1", metadata=_meta("bogus", grade=True, points=50)))
    out = autograded_notebook(release, nb, Graded("alice", result({"test_add": 2.0, "test_mul": 0.0}), "0"))

    nbformat.validate(out)
    text = nbformat.writes(out)
    assert HIDDEN not in text and "tests? what tests?" not in text
    cells = _by_id(out)
    assert set(cells) == {"intro", "add", "test_add", "mul", "test_mul", "explain"}
    assert cells["test_add"].source == "assert add(1, 2) == 3" and cells["test_add"].metadata.nbgrader.points == 2
    assert cells["add"].source.endswith("return a - b")
    order = [c.metadata.nbgrader["grade_id"] for c in out.cells if "nbgrader" in c.metadata]
    assert order.index("test_mul") == order.index("mul") + 1
    assert "FAILED test_mul" in cells["test_mul"].outputs[0].text
    assert "PASSED test_add" in cells["test_add"].outputs[0].text
    assert out.cells[0].source.startswith("## Autograded tests: 2 / 5 points")


def test_unreadable_submission_shows_the_release(course):
    """Does an unreadable submission get the released notebook (no solutions) with the reason in the summary?"""
    course, release = course
    result0 = result({"test_add": 0.0, "test_mul": 0.0}, errors=["cannot read the notebook: <script>x</script>"])
    out = autograded_notebook(release, load_notebook_for_feedback(course.submitted("carol", LAB)),
                                        Graded("carol", result0, "0"))
    text = nbformat.writes(out)
    assert "return a + b" not in text and HIDDEN not in text
    assert "&lt;script&gt;" in out.cells[0].source and "<script>" not in out.cells[0].source




def test_marker_names_the_graded_file(course, tmp_path):
    """Does the autograded notebook's marker carry the submission's sha256, the score and the seed, read back as is?"""
    course, release = course
    out = autograded_notebook(release, None, Graded("alice", result({"test_add": 2.0, "test_mul": 0.0}), "ab" * 32,
                                                    seed=7, seconds=1.23456))
    marker = out.metadata[MARKER]
    assert (marker["submission_sha256"], marker["score"], marker["max_score"]) == ("ab" * 32, 2.0, 5.0)
    assert (marker["seed"], marker["seconds"], marker["flags"]) == (7, 1.235, [])
    path = tmp_path / "out.ipynb"
    nbformat.write(out, path)
    assert autograded.read_marker(path) == marker
    assert autograded.read_marker(tmp_path / "missing.ipynb") == {}
    assert len({c.id for c in out.cells}) == len(out.cells)


def test_submission_too_large_or_not_a_notebook_is_not_copied(tmp_path, monkeypatch):
    """Is a submission over MAX_READ_BYTES, or JSON that is not a notebook, left out of the feedback (None)?"""
    path = tmp_path / "nb.ipynb"
    nbformat.write(solved(), path)
    assert load_notebook_for_feedback(path) is not None
    monkeypatch.setattr(autograded, "MAX_READ_BYTES", path.stat().st_size - 1)
    assert load_notebook_for_feedback(path) is None
    monkeypatch.undo()
    path.write_text('{"cells": 3, "nbformat": 4, "nbformat_minor": 5, "metadata": {}}')
    assert load_notebook_for_feedback(path) is None
    assert load_notebook_for_feedback(tmp_path / "missing.ipynb") is None


def test_clean_makes_every_string_storable():
    """Are lone surrogates and control characters replaced, keys and values bounded, and a cell's source kept whole?"""
    assert clean({"k\x00": ["a\ud800b", ("\u202e",)], 3: 1.5}) == {"k?": ["a?b", ["?"]], 3: 1.5}
    assert clean("x" * 10, limit=4) == "xxxx" and len(clean({"y" * 300: 1})) == 1
    assert len(next(iter(clean({"y" * 300: 1})))) == autograded.MAX_KEY_CHARS
    nb = solved()
    nb.cells[1].source = ["def add(a, b):\n", "    return a + b\x07\ud800", 5]
    nb.cells.append("not a cell")
    cleaned = clean_notebook(nb)
    assert cleaned.cells[1].source == "def add(a, b):\n    return a + b\ufffd\ufffd"
    assert len(cleaned.cells) == len(nb.cells) - 1
    assert clean_notebook(None) is None


def test_gradebook_still_exports_the_autograded_names():
    """Do the names batch, collect and the tests import from autograder.gradebook still come from there?"""
    assert gradebook.autograded_notebook is autograded_notebook and gradebook.MARKER == MARKER
    assert gradebook.clean is clean and gradebook._marker is autograded.read_marker
