"""The hidden tests of a lab, read from its instructor notebook (solutions/<lab>/<lab>.ipynb).

Each test cell of the source notebook (``nbgrader.grade: true``, not a
solution cell) carries public checks and one hidden region::

    ### BEGIN HIDDEN TESTS
    def hidden_test_activations(student, rng):
        ...
    from course_utils.checks import run_hidden_test
    run_hidden_test(hidden_test_activations)
    ### END HIDDEN TESTS

The grader parses the region with `ast` and keeps only the top-level
functions named ``hidden_test_*`` (never the import and the call, which are
for stock nbgrader's in-kernel run); each is compiled alone into a fresh
namespace of the grading process. A function that declares a third
parameter named ``reference`` also receives the reference solution: the
source notebook's code cells other than test cells, executed (lazily, once)
in the grading process. A test cell without hidden tests cannot be graded
outside the kernel, so loading fails with `HiddenTestError` naming it.

The suite also keeps the source's locked cells (``nbgrader.locked``, not
solution, not grade: the setup cell, given helpers) as `LockedCell`: the
grader runs them with the source's text, whatever the submission made of
them (`autograder.grading`).
"""
from __future__ import annotations

import ast
import builtins
import contextlib
import functools
import inspect
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat

from autograder import cells as nbcells

BEGIN, END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
PREFIX = "hidden_test_"


class HiddenTestError(ValueError):
    """The source notebook's test cells cannot be graded as written (the message names the cell)."""


@dataclass(frozen=True)
class HiddenTest:
    name: str
    fn: Callable
    wants_reference: bool
    modules: tuple[str, ...] = ()  # what its body imports (the grader imports these while the kernel runs)


@dataclass(frozen=True)
class TestCell:
    grade_id: str
    points: float
    index: int  # position among the source notebook's cells
    tests: tuple[HiddenTest, ...]


@dataclass(frozen=True)
class LockedCell:
    """A locked code cell of the source that is neither a solution nor a test (setup, given helpers)."""

    grade_id: str
    index: int  # position among the source notebook's cells
    source: str
    definitions: str  # its top-level function definitions (run again after the notebook)


@dataclass(frozen=True)
class Suite:
    lab: str
    source: Path
    cells: tuple[TestCell, ...]
    locked: tuple[LockedCell, ...] = ()
    order: tuple[str, ...] = ()  # the grade_ids of the source's cells, in order
    _reference: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def max_score(self) -> float:
        return float(sum(c.points for c in self.cells))

    @property
    def modules(self) -> tuple[str, ...]:
        """Every module the hidden tests import."""
        return tuple(dict.fromkeys(m for c in self.cells for t in c.tests for m in t.modules))

    def reference(self) -> "Reference":
        """The reference solution's namespace (the source notebook executed here, once)."""
        if "ns" not in self._reference:
            self._reference["ns"] = Reference(load_reference(self.source))
        return self._reference["ns"]


class Reference:
    """Attribute access to the reference solution's names: ``reference.sigmoid(z)``."""

    def __init__(self, namespace: dict):
        self._namespace = namespace

    def __getattr__(self, name):
        try:
            return self._namespace[name]
        except KeyError:
            raise AttributeError(f"the reference solution defines no `{name}`") from None


def is_source_test_cell(cell) -> bool:
    """A test cell of the source: a code cell whose ``grade`` is exactly true, not an answer. Stricter than
    `autograder.cells.is_test_cell` (any true value) on purpose: only the JSON true nbgrader writes counts."""
    meta = nbcells.nbgrader(cell)
    return cell.get("cell_type") == "code" and meta.get("grade") is True and not meta.get("solution")


def is_locked_cell(cell) -> bool:
    """nbgrader's locked cells that are neither solution nor grade cells (their text is the release's, always)."""
    meta = nbcells.nbgrader(cell)
    return (cell.get("cell_type") == "code" and meta.get("locked") is True and not meta.get("solution")
            and not meta.get("grade") and bool(nbcells.grade_id(cell)))


def _definitions(source: str) -> str:
    """The top-level function definitions of a cell's code, as source text (magics dropped).

    Classes are left out: a class defined again would not be the class of the objects already made.
    """
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    code = "\n".join(lines)
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return ""
    parts = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            parts.append("\n".join(lines[start - 1:node.end_lineno]))
    return "\n\n".join(parts)


def hidden_regions(source: str) -> list[str]:
    """The text of every hidden-test region of a cell (markers excluded)."""
    lines, regions, current = source.splitlines(), [], None
    for line in lines:
        stripped = line.strip()
        if stripped == BEGIN:
            current = []
        elif stripped == END and current is not None:
            regions.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return regions


def _compile_tests(region: str, where: str, module_name: str) -> tuple[HiddenTest, ...]:
    try:
        tree = ast.parse(region, filename=where)
    except SyntaxError as exc:
        raise HiddenTestError(f"{where}: the hidden tests do not parse (line {exc.lineno}: {exc.msg})") from None
    tests = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith(PREFIX):
            if isinstance(node, ast.AsyncFunctionDef):
                raise HiddenTestError(f"{where}: {node.name} must not be async")
            namespace = {"__name__": module_name, "__builtins__": builtins}
            exec(compile(ast.Module(body=[node], type_ignores=[]), where, "exec"), namespace)
            fn = namespace[node.name]
            params = list(inspect.signature(fn).parameters)
            if len(params) < 2:
                raise HiddenTestError(f"{where}: {node.name} must take (student, rng)")
            tests.append(HiddenTest(node.name, fn, "reference" in params[2:], _imported_modules(node)))
    return tuple(tests)


def _imported_modules(node: ast.AST) -> tuple[str, ...]:
    """The modules a hidden test imports (``import torch``, ``from scipy.special import ...``), and TensorFlow
    when it calls ``import_tensorflow()``: known before it runs, so the grader can import them ahead of time."""
    names = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Import):
            names += [alias.name for alias in sub.names]
        elif isinstance(sub, ast.ImportFrom) and sub.module and not sub.level:
            names.append(sub.module)
        elif isinstance(sub, ast.Call) and getattr(sub.func, "id", getattr(sub.func, "attr", None)) == "import_tensorflow":
            names.append("tensorflow")
    return tuple(dict.fromkeys(names))


def load_suite(source: Path, lab: str | None = None) -> Suite:
    """Read the test cells of a source notebook and compile their hidden tests.

    Raises
    ------
    HiddenTestError
        Unreadable notebook, no test cells, a duplicated grade_id, missing or
        negative points, or a test cell without ``hidden_test_*`` functions.
    """
    source = Path(source)
    lab = lab or source.stem
    try:
        nb = nbformat.read(source, as_version=4)
    except Exception as exc:
        raise HiddenTestError(f"{source}: cannot read the source notebook ({type(exc).__name__}: {exc})") from None
    cells, seen, locked, order = [], set(), [], []
    for index, cell in enumerate(nb.cells):
        grade_id = nbcells.grade_id(cell)
        order.append(grade_id if isinstance(grade_id, str) else "")
        if is_locked_cell(cell):
            locked.append(LockedCell(grade_id, index, cell.source, _definitions(cell.source)))
        if not is_source_test_cell(cell):
            continue
        meta = nbcells.nbgrader(cell)
        grade_id = meta.get("grade_id")
        where = f"{source}, cell {index} (grade_id {grade_id!r})"
        if not isinstance(grade_id, str) or not grade_id:
            raise HiddenTestError(f"{where}: a test cell needs a grade_id")
        if grade_id in seen:
            raise HiddenTestError(f"{where}: grade_id {grade_id!r} is used twice; make it unique")
        seen.add(grade_id)
        points = meta.get("points")
        if isinstance(points, bool) or not isinstance(points, (int, float)) or points < 0:
            raise HiddenTestError(f"{where}: set nbgrader points to a number >= 0")
        module_name = "autograder.hidden." + re.sub(r"\W", "_", f"{lab}.{grade_id}")
        tests = ()
        for region in hidden_regions(cell.source):
            tests += _compile_tests(region, where, module_name)
        if not tests:
            raise HiddenTestError(f"{where}: no hidden tests; add a '{BEGIN}' region defining "
                                  f"{PREFIX}<name>(student, rng) functions (the autograder grades with those alone)")
        cells.append(TestCell(grade_id, float(points), index, tests))
    if not cells:
        raise HiddenTestError(f"{source}: no test cells (cells with nbgrader grade: true)")
    return Suite(lab, source, tuple(cells), tuple(locked), tuple(order))


def reference_code(source: Path) -> list[str]:
    """The source notebook's code cells other than test cells, with IPython magics and shell lines removed."""
    nb = nbformat.read(source, as_version=4)
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code" or is_source_test_cell(cell):
            continue
        lines = [line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        out.append("\n".join(lines))
    return out


def notebook_imports(source: Path) -> tuple[str, ...]:
    """The modules the source notebook's code cells (`reference_code`) import, as written (``torch.optim``); a
    cell that does not parse is left out. What its kernels will load: `autograder.sandbox.preload_for`."""
    names = []
    for code in reference_code(source):
        try:
            names += _imported_modules(ast.parse(code))
        except SyntaxError:
            continue
    return tuple(dict.fromkeys(names))


@functools.lru_cache(maxsize=8)
def _reference_cached(source: str, mtime: float) -> dict:
    namespace = {"__name__": "__reference__", "__builtins__": builtins}
    with contextlib.redirect_stdout(io.StringIO()):
        for index, code in enumerate(reference_code(Path(source))):
            exec(compile(code, f"{source} (reference, code cell {index})", "exec"), namespace)
    return namespace


def load_reference(source: Path) -> dict:
    """Execute the reference solution in this (trusted) process and return its namespace."""
    source = Path(source).resolve()
    return _reference_cached(str(source), source.stat().st_mtime)
