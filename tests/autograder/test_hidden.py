"""The hidden-test rules, checked on the source of every lab present (solutions/*).

Rule 2 (no input sent is the expected value of another call) is checked by running the
tests against a recording adversary (test_adversary.py); rule 3 (in-place changes) by the
remote handle itself, which fails a call that changes an argument unless the test allows
it. Here, statically: rule 4, an error or a timeout never skips a check, so no handler
around a call to the student's code catches every exception (bare ``except``,
``Exception``, ``BaseException``, or a tuple holding one) and then goes on without
raising; and every hidden test has at least one assert or check call.
"""
from __future__ import annotations

import ast

import nbformat
import pytest

from autograder.hidden import hidden_regions, is_source_test_cell
from tests.conftest import LABS, ROOT

BROAD = {"Exception", "BaseException"}


def _names(node) -> set[str]:
    if node is None:
        return {"<bare>"}
    if isinstance(node, ast.Tuple):
        return set().union(*(_names(e) for e in node.elts))
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, ast.Attribute):
        return {node.attr}
    return set()


def _calls_student(tree) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "student":
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" and \
                node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == "student":
            return True
    return False


def _raises(handler: ast.ExceptHandler) -> bool:
    return any(isinstance(n, ast.Raise) for n in ast.walk(handler))


def swallowing_handlers(code: str) -> list[str]:
    """Handlers that catch everything around the student's code and do not raise: where a failure is skipped."""
    problems = []
    for node in ast.walk(ast.parse(code)):
        if not isinstance(node, ast.Try):
            continue
        body = ast.Module(body=node.body, type_ignores=[])
        if not _calls_student(body):
            continue
        for handler in node.handlers:
            caught = _names(handler.type)
            if (caught & BROAD or "<bare>" in caught) and not _raises(handler):
                problems.append(f"line {handler.lineno}: except {', '.join(sorted(caught))} without raise")
    return problems


def hidden_tests(lab: str):
    nb = nbformat.read(ROOT / "solutions" / lab / f"{lab}.ipynb", as_version=4)
    for cell in nb.cells:
        if is_source_test_cell(cell):
            for region in hidden_regions(cell.source):
                yield cell.metadata["nbgrader"]["grade_id"], region


def test_the_checker_finds_swallowed_failures():
    """Does the checker flag the pattern the rule forbids and accept the allowed ones?"""
    bad = "def t(student, rng):\n    try:\n        x = student.f(1)\n    except Exception:\n        x = None\n"
    assert swallowing_handlers(bad)
    assert swallowing_handlers(bad.replace("except Exception:", "except:"))
    assert swallowing_handlers(bad.replace("except Exception:", "except (ValueError, Exception):"))
    good = bad.replace("        x = None\n", "        raise AssertionError('f failed')\n")
    assert not swallowing_handlers(good)
    assert not swallowing_handlers(bad.replace("except Exception:", "except ValueError:"))  # the expected error
    assert not swallowing_handlers(bad.replace("student.f(1)", "int('1')"))  # not the student's code


@pytest.mark.parametrize("lab", LABS)
def test_no_hidden_test_skips_a_check_on_an_error(lab):
    """Does no hidden test of this lab catch every exception around the student's code and carry on?"""
    problems = [f"{grade_id}: {p}" for grade_id, region in hidden_tests(lab) for p in swallowing_handlers(region)]
    assert not problems, f"{lab}: a failure of the student's code would skip a check: {problems}"


@pytest.mark.parametrize("lab", LABS)
def test_every_hidden_test_asserts(lab):
    """Does every hidden_test_* function of this lab assert something (or call a check that does)?"""
    for grade_id, region in hidden_tests(lab):
        for node in ast.parse(region).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("hidden_test_"):
                checks = [n for n in ast.walk(node) if isinstance(n, ast.Assert) or (
                    isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id.startswith("check"))]
                assert checks, f"{lab} {grade_id}: {node.name} checks nothing"


def test_notebook_imports_are_what_the_kernel_will_import(tmp_path):
    """Does `notebook_imports` list the modules the source's code cells import (as written, magics and shell
    lines skipped, a cell that does not parse left out, test cells not counted: their hidden tests run in the
    grader), and do only Labs 04 and 06, whose setup cells import torch._dynamo, get it preloaded?"""
    from autograder.hidden import notebook_imports
    from autograder.sandbox import preload_for

    nb = nbformat.v4.new_notebook()
    test = nbformat.v4.new_code_cell("import scipy")
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t", "points": 1}
    nb.cells = [nbformat.v4.new_code_cell("%matplotlib inline\n!pip list\nimport numpy as np, torch.optim\n"
                                          "from tensorflow import keras\nfrom . import here"),
                nbformat.v4.new_code_cell("import json\ndef broken(:"), nbformat.v4.new_markdown_cell("import os"),
                test]
    path = tmp_path / "lab.ipynb"
    nbformat.write(nb, path)
    assert notebook_imports(path) == ("numpy", "torch.optim", "tensorflow")
    for lab in LABS:
        wanted = "torch._dynamo" in preload_for(notebook_imports(ROOT / "solutions" / lab / f"{lab}.ipynb"))
        assert wanted == (lab in ("04_optimizers", "06_regularization")), lab
