"""The house rules of the code base, as tests.

- No module over `MAX_MODULE_LINES` lines and no function over `MAX_FUNCTION_LINES` lines in the project's
  code (autograder/, course_utils/, benchmarks/ and tests/, less the test data in tests/mutations/ and
  tests/files/).
- Tests mirror the packages: the tests of `autograder/sub/mod.py` are in `tests/autograder/sub/test_mod.py`.
- The modules of `autograder/sandbox/_child/` run in the confined child before anything else is
  importable, so they import only the standard library (and each other).
- docs/grading-contract.md, the contract a newcomer reads, says what the notebooks and
  tests/test_project.py's CONTRACT say.

The allow-lists below are empty: a new offender fails. Should one ever be listed as a named debt, an entry that
no longer offends fails too (delete it), so a list only shrinks.
"""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import nbformat

from tests.conftest import ROOT
from tests.test_project import CONTRACT

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
CODE_DIRS = ("autograder", "course_utils", "benchmarks", "tests")
TEST_DATA_DIRS = ("tests/mutations", "tests/files")  # notebooks' code and fixtures, not the project's code
MIRRORED_PACKAGES = ("autograder", "course_utils")
NOT_MIRRORED = {"__init__.py", "__main__.py"}
CHILD_PACKAGE = "autograder.sandbox._child"
CHILD_DIR = ROOT.joinpath(*CHILD_PACKAGE.split("."))

# Modules allowed over MAX_MODULE_LINES (none; an entry that no longer offends fails).
LONG_MODULES_ALLOWED: set[str] = set()

# Functions allowed over MAX_FUNCTION_LINES, as "path::qualified name" (none; same rule).
LONG_FUNCTIONS_ALLOWED: set[str] = set()

# Modules allowed without their mirrored test module (none; same rule).
UNMIRRORED_ALLOWED: set[str] = set()  # none left: keep it that way


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def code_files() -> list[Path]:
    """The project's Python modules under CODE_DIRS, less the test data."""
    files = []
    for folder in CODE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            name = _relative(path)
            if not any(name.startswith(data + "/") for data in TEST_DATA_DIRS) and "__pycache__" not in path.parts:
                files.append(path)
    return files


def _functions(tree: ast.AST, prefix: str = ""):
    """(qualified name, node) of every function in `tree`, nested ones included ("outer.<locals>.inner")."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = prefix + node.name
            yield name, node
            yield from _functions(node, name + ".<locals>.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, prefix + node.name + ".")
        else:
            yield from _functions(node, prefix)


def long_modules() -> dict[str, int]:
    sizes = {_relative(p): len(p.read_text().splitlines()) for p in code_files()}
    return {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}


def long_functions() -> dict[str, int]:
    found = {}
    for path in code_files():
        for name, node in _functions(ast.parse(path.read_text(), filename=str(path))):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found[f"{_relative(path)}::{name}"] = length
    return found


def unmirrored_modules() -> list[str]:
    """Modules of MIRRORED_PACKAGES without tests/<same folder>/test_<module>.py.

    A private module's test may drop the leading underscore (`_reference_worker.py`: `test_reference_worker.py`).
    """
    missing = []
    for package in MIRRORED_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name in NOT_MIRRORED or "__pycache__" in path.parts:
                continue
            folder = ROOT / "tests" / path.parent.relative_to(ROOT)
            names = {f"test_{path.stem}.py", f"test_{path.stem.lstrip('_')}.py"}
            if not any((folder / name).is_file() for name in names):
                missing.append(_relative(path))
    return missing


def _shrink_report(kind: str, found: dict | list, allowed: set[str]) -> list[str]:
    new = sorted(set(found) - allowed)
    paid = sorted(allowed - set(found))
    problems = []
    if new:
        details = [f"{name} ({found[name]} lines)" if isinstance(found, dict) else name for name in new]
        problems.append(f"new {kind}: {details}")
    if paid:
        problems.append(f"allow-listed {kind} that no longer offend, delete them from the list: {paid}")
    return problems


def test_no_long_module():
    """Is every module at most MAX_MODULE_LINES lines, but for the allow-listed ones, each still over it?"""
    problems = _shrink_report(f"modules over {MAX_MODULE_LINES} lines", long_modules(), LONG_MODULES_ALLOWED)
    assert not problems, "\n".join(problems)


def test_no_long_function():
    """Is every function at most MAX_FUNCTION_LINES lines, but for the allow-listed ones, each still over it?"""
    found = long_functions()
    problems = _shrink_report(f"functions over {MAX_FUNCTION_LINES} lines", found, LONG_FUNCTIONS_ALLOWED)
    assert not problems, "\n".join(problems)


def test_every_module_has_its_mirrored_test():
    """Does each module of autograder/ and course_utils/ have tests/<its path>/test_<module>.py, but for the
    allow-listed ones, each still without?"""
    problems = _shrink_report("modules without tests/<path>/test_<module>.py", unmirrored_modules(),
                              UNMIRRORED_ALLOWED)
    assert not problems, "\n".join(problems)


def _non_stdlib_imports(tree: ast.AST) -> set[str]:
    """The modules `tree` imports that are neither the standard library nor inside the _child package."""
    outside = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.ImportFrom) and node.level > 1:
            names = ["." * node.level + (node.module or "")]  # climbs out of _child
        else:
            continue  # `from . import x`, `from .x import y`: a sibling
        for name in names:
            if name.partition(".")[0] not in sys.stdlib_module_names and not name.startswith(CHILD_PACKAGE):
                outside.add(name)
    return outside


def test_child_modules_import_only_the_standard_library():
    """Does every module of autograder/sandbox/_child/ import only the standard library (or its siblings)?"""
    assert CHILD_DIR.is_dir(), f"{CHILD_DIR} is gone: name the package the grader's child stages run from"
    for path in sorted(CHILD_DIR.rglob("*.py")):
        outside = _non_stdlib_imports(ast.parse(path.read_text(), filename=str(path)))
        assert not outside, f"{_relative(path)} imports {sorted(outside)}, which are not the standard library"


def _contract_doc() -> dict[str, dict[str, tuple[int, str]]]:
    """docs/grading-contract.md's tables: lab -> grade_id -> (points, what it defines)."""
    tables, lab = {}, None
    for line in (ROOT / "docs" / "grading-contract.md").read_text().splitlines():
        heading = re.match(r"## (\d\d_\w+) ", line)
        if heading:
            lab = tables.setdefault(heading.group(1), {})
        row = re.match(r"\| `(\w+)` \| (\d+) \| (.*) \|$", line)
        if row and lab is not None:
            lab[row.group(1)] = (int(row.group(2)), row.group(3))
    return tables


def test_grading_contract_doc_matches_the_notebooks():
    """Does docs/grading-contract.md name exactly the contract's labs, grade_ids and defined names, with the points
    of each test cell of solutions/<lab>/<lab>.ipynb?"""
    doc = _contract_doc()
    assert set(doc) == set(CONTRACT)
    for lab, cells in CONTRACT.items():
        assert set(doc[lab]) == set(cells), lab
        nb = nbformat.read(ROOT / "solutions" / lab / f"{lab}.ipynb", as_version=4)
        points = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"].get("points")
                  for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}
        assert set(points) == {f"test_{grade_id}" for grade_id in cells}, lab
        for grade_id, names in cells.items():
            shown, defines = doc[lab][grade_id]
            assert shown == points[f"test_{grade_id}"], (lab, grade_id)
            for name in names:
                assert re.search(rf"`{name}\b", defines), (lab, grade_id, name)
