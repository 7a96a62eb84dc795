"""autograder.submission: what a submitted notebook holds, read defensively (the graded cells it deleted or
retyped, why a file is no notebook)."""
from __future__ import annotations

import nbformat
import pytest

from autograder.submission import cell_flags, graded_cell_types, notebook_cells
from tests.files import fixture_lab


def test_cell_flags_name_deleted_and_retyped_cells(source):
    """Are a code answer turned into Markdown and a deleted test cell named, each with what to do, and an untouched
    notebook not flagged at all?"""
    expected = graded_cell_types(source)
    assert expected == {"setup": "code", "sigmoid": "code", "test_sigmoid": "code", "perceptron": "code",
                        "test_perceptron": "code"}
    nb = fixture_lab.source_notebook()
    assert cell_flags(nb.cells, expected) == []
    nb.cells[4] = nbformat.v4.new_markdown_cell(nb.cells[4].source, metadata=nb.cells[4].metadata)
    del nb.cells[3]  # test_sigmoid
    flags = cell_flags(nb.cells, expected)
    assert [(f["grade_id"], f["problem"]) for f in flags] == [("test_sigmoid", "deleted"), ("perceptron", "retyped")]
    assert flags[1]["message"] == ("cell `perceptron` was turned into Markdown: restore it from the release "
                                   "(it must be a code cell)")
    assert "restore it from the release" in flags[0]["message"]


@pytest.mark.parametrize("data, why", [(b"", "an empty file"), (b"<html>", "not JSON"), (b"[]", "not an object"),
                                       (b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
                                        "no cells")])
def test_notebook_cells_says_why_a_file_is_no_notebook(data, why):
    cells, problem = notebook_cells(data)
    assert cells is None and why in problem
