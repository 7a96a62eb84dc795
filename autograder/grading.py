"""Grade one submission: run it in a sandboxed kernel, decide every verdict in this process.

`grade_notebook` returns the issue's JSON object::

    {"lab": str, "score": float, "max_score": float,
     "tests": [{"grade_id": "test_<cell>", "score", "max_score", "passed", "message"}],
     "errors": [str],
     # extra keys: "seed", "elapsed_s", "kernels" (kernels started), "sandbox" (active protections)}

The steps:

1. the hidden tests come from the SOURCE notebook (`autograder.hidden`); so do
   the list of test cells and their points, whatever the submission did to
   its own cells and metadata;
2. the submission is read defensively: too large, empty, invalid JSON, not
   a notebook → every test scores 0 and ``errors`` says why (never an
   exception);
3. its code cells run in order in a fresh `Sandbox`, except its test cells
   (``nbgrader.grade`` without ``solution``, or a grade_id starting with
   ``test_``): verdicts never come from cells a student can edit. Locked
   cells (setup, given helpers) run with the source's text, keyed by
   grade_id as nbgrader's OverwriteCells does (missing ones are put back),
   and their functions are defined again after the notebook; the result's
   ``locked_cells_edited`` and ``errors`` name the ones the submission
   changed. A cell's
   error is recorded (first line) and execution goes on; a cell that runs
   out of time is interrupted; a cell that kills the kernel is skipped in a
   fresh kernel (at most ``Limits.max_restarts`` times);
4. each test cell's hidden tests run here against a `RemoteStudent`, with a
   generator seeded from (seed, grade_id, test name), so one test's inputs do
   not depend on the others; the cell scores its points when all pass, else
   0 with the first failure's message. A kernel that dies during a test
   costs that test its points; the next tests run in a fresh kernel. A
   kernel that sends more than its byte budget (`autograder.wire`: per
   message, per submission) is killed and no fresh one is started: the
   remaining tests score 0 with the reason;
5. every string of the result is cleaned (`sanitize`), so it can be stored
   and printed whatever the submission put into its errors and answers.
   Extra keys also report ``locked_cells_edited``, ``reference_calls`` and
   ``reference_s`` (use_reference calls served, and their time in the grader),
   and ``received_bytes`` (all the kernels sent, against ``Limits.received_mb``);
   ``flags`` names every graded cell of the release the submission deleted or
   retyped (`cell_flags`: ``{"grade_id", "problem": "deleted" | "retyped",
   "message"}``, e.g. "cell `perceptron` was turned into Markdown: restore it
   from the release").
"""
from __future__ import annotations

import importlib
import json
import re
import secrets
import sys
import threading
import time
import warnings
import zlib
from pathlib import Path

import numpy as np

from autograder.hidden import HiddenTestError, Suite, TestCell, load_suite
from autograder.limits import data_files, kernel_budget
from autograder.remote import NameMissing, RemoteError, RemoteStudent, RemoteTimeout
from autograder.sandbox import ROOT, KernelDied, Limits, Sandbox, SandboxError, confinement_available
from autograder.text import clean_value
from course_utils.selfcheck import is_check_cell

__all__ = ["GradingError", "HiddenTestError", "Limits", "cell_flags", "find_source", "grade_notebook", "notebook_cells",
           "read_submission"]

MAX_ERRORS = 50
MAX_MESSAGE = 1000


class GradingError(ValueError):
    """A bad invocation: unknown lab or missing submission file (nothing was graded)."""


def find_source(lab: str, root: Path = ROOT) -> Path:
    """solutions/<lab>/<lab>.ipynb, or GradingError naming the labs that exist."""
    path = root / "solutions" / lab / f"{lab}.ipynb"
    if "/" in lab or lab in ("", ".", "..") or not path.is_file():
        known = sorted(p.parent.name for p in (root / "solutions").glob("*/*.ipynb") if p.stem == p.parent.name)
        raise GradingError(f"unknown lab {lab!r}: expected {path} (labs: {', '.join(known) or 'none'})")
    return path


def _first_line(text: str, limit: int = 300) -> str:
    lines = [line for line in str(text).splitlines() if line.strip()]
    return (lines[0] if lines else "").strip()[:limit]


def _nbgrader(cell) -> dict:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    meta = meta.get("nbgrader") if isinstance(meta, dict) else None
    return meta if isinstance(meta, dict) else {}


def _is_submission_test_cell(cell) -> bool:
    meta = _nbgrader(cell)
    grade_id = meta.get("grade_id")
    return (meta.get("grade") is True and not meta.get("solution")) or (
        isinstance(grade_id, str) and grade_id.startswith("test_"))


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
        return None, f"the submission is not a valid notebook file (not JSON: {_first_line(exc)})"
    if not isinstance(raw, dict):
        return None, "the submission is not a notebook (its JSON is not an object)"
    try:
        with warnings.catch_warnings():  # duplicate cell ids and the like: nbformat repairs them
            warnings.simplefilter("ignore")
            nb = nbformat.reads(text, as_version=4)
    except Exception as exc:
        return None, f"the submission is not a notebook nbformat can read ({type(exc).__name__}: {_first_line(exc)})"
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
        grade_id = _nbgrader(cell).get("grade_id")
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
        if cell.get("cell_type") != "code" or _is_submission_test_cell(cell) or is_check_cell(cell):
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
        meta = _nbgrader(cell)
        grade_id = meta.get("grade_id")
        if isinstance(grade_id, str) and grade_id and (
                meta.get("solution") or meta.get("grade") or (meta.get("locked") and cell.get("cell_type") == "code")):
            out.setdefault(grade_id, cell.get("cell_type"))
    return out


def cell_flags(cells: list, expected: dict[str, str]) -> list[dict]:
    """The graded cells of the release that the submission deleted or retyped (a code answer turned into Markdown,
    the classic accident), each as {"grade_id", "problem": "deleted" | "retyped", "message"}, the message saying
    what happened and how to fix it. A grade_id that repeats counts by its last cell, as in nbgrader."""
    found = {}
    for cell in cells:
        grade_id = _nbgrader(cell).get("grade_id")
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


def _verdict(cell: TestCell, passed: bool, message: str) -> dict:
    return {"grade_id": cell.grade_id, "score": cell.points if passed else 0.0, "max_score": cell.points,
            "passed": passed, "message": message[:MAX_MESSAGE]}


def _rng(seed: int, grade_id: str, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(f"{grade_id}/{name}".encode())])


def _run_test_cell(cell: TestCell, suite: Suite, student: RemoteStudent, sandbox: Sandbox, seed: int,
                   limits: Limits) -> dict:
    """Run one test cell's hidden tests; raise KernelDied when the kernel dies meanwhile."""
    student._ag_set_deadline(time.monotonic() + limits.test_timeout_s)
    try:
        for test in cell.tests:
            object.__setattr__(student, "_ag_last_call", "")
            kwargs = {"reference": suite.reference()} if test.wants_reference else {}
            message = None
            try:
                # The student's warnings come back with each call; recorded here, they
                # stay out of the grader's own output unless a test turns them into errors.
                with warnings.catch_warnings(record=True):
                    warnings.simplefilter("always")
                    test.fn(student, _rng(seed, cell.grade_id, test.name), **kwargs)
            except KernelDied:
                raise
            except (RemoteTimeout, RemoteError, NameMissing) as exc:
                message = str(exc)
            except AssertionError as exc:
                last = student._ag_last_call
                message = str(exc) or (f"a hidden check failed after calling {last}" if last else "a hidden check failed")
            except KeyboardInterrupt:
                raise  # the instructor's Ctrl-C (a submission cannot signal the grader; its values are plain data)
            except BaseException as exc:  # noqa: BLE001 - a SystemExit from anything a student touched costs the test
                last = student._ag_last_call
                message = f"{type(exc).__name__}: {exc}" + (f" (checking what {last} returned)" if last else "")
            if not sandbox.alive():
                raise KernelDied(sandbox.death_reason())
            if message is not None:
                return _verdict(cell, False, message)
        return _verdict(cell, True, "passed")
    finally:
        student._ag_set_deadline(None)
        student._ag_close_reference()  # the test cell's reference worker ends with it
        if sandbox.alive():
            try:
                student._ag_restore()
            except Exception:  # noqa: BLE001 - the next test cell's calls will say what is wrong
                pass


def grade_notebook(lab: str, submission: Path, *, source: Path | None = None, limits: Limits | None = None,
                   seed: int | None = None, hide=(), confine: bool | None = None) -> dict:
    """Grade one submitted notebook of `lab`; see the module docstring for the result.

    Parameters
    ----------
    lab : str
        The lab's folder name, e.g. ``"01_perceptron"``.
    submission : Path
        The student's notebook. Whatever it holds, a grade comes back.
    source : Path, optional
        The instructor notebook (default solutions/<lab>/<lab>.ipynb).
    limits : Limits, optional
    seed : int, optional
        Seeds the hidden tests' inputs (default: random, reported as ``"seed"``).
    hide : iterable of Path
        More paths the kernel must not see (a course directory, other submissions).
    confine : bool, optional
        Passed to `Sandbox` (None: confine where the platform allows).

    Raises
    ------
    GradingError
        Unknown lab or missing submission file.
    HiddenTestError
        The source notebook's tests cannot be graded (an instructor's error).
    """
    started = time.monotonic()
    limits = limits or Limits()
    source = Path(source) if source is not None else find_source(lab)
    submission = Path(submission)
    if not submission.is_file():
        raise GradingError(f"no such submission file: {submission}")
    suite = load_suite(source, lab)
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    verdicts: dict[str, dict] = {}
    errors: list[str] = []
    info = {"kernels": 0, "sandbox": {"confined": confinement_available()[0]}}

    code, ids, problem, edited = read_submission(submission, limits, suite)
    if problem is None:
        info["flags"] = cell_flags(notebook_cells(submission.read_bytes())[0] or [], graded_cell_types(source))
    if problem is not None:
        errors.append(problem)
        for cell in suite.cells:
            verdicts[cell.grade_id] = _verdict(cell, False, f"not graded: {problem}")
    else:
        missing = [c.grade_id for c in suite.cells if c.grade_id not in ids]
        if missing:
            errors.append(f"the submission has no cell with grade_id {', '.join(missing)} (nbgrader metadata lost or "
                          "edited?); graded from the instructor's notebook anyway")
        info["locked_cells_edited"] = edited
        if edited:
            errors.append(f"locked cell{'s' if len(edited) > 1 else ''} {', '.join(edited)} "
                          f"{'were' if len(edited) > 1 else 'was'} edited or removed in the submission: graded with "
                          "the release's version, as every locked cell is")
        _grade(suite, code, source, limits, seed, [source.parent, *hide], confine, verdicts, errors, info)

    tests = [verdicts.get(c.grade_id) or _verdict(c, False, "not graded") for c in suite.cells]
    if len(errors) > MAX_ERRORS:
        errors = errors[:MAX_ERRORS] + [f"... and {len(errors) - MAX_ERRORS} more errors"]
    return sanitize({
        "lab": lab,
        "score": float(sum(t["score"] for t in tests)),
        "max_score": suite.max_score,
        "tests": tests,
        "errors": errors,
        "seed": seed,
        "elapsed_s": round(time.monotonic() - started, 3),
        **info,
    })


def sanitize(value, limit: int = MAX_MESSAGE):
    """`value` with every string made safe to store and print (`autograder.text.clean_value`), recursively.

    Whatever a submission managed to put into a message (terminal escapes, control
    characters, lone surrogates, megabytes of text) comes out printable, valid UTF-8
    and at most `limit` characters long.
    """
    return clean_value(value, limit)


def _grade(suite: Suite, code: list[tuple[str, str]], source: Path, limits: Limits, seed: int, hide: list,
           confine, verdicts: dict, errors: list[str], info: dict) -> None:
    """Execute the submission and run the pending test cells, restarting the kernel after deaths."""
    files = data_files(source)
    students: list[RemoteStudent] = []
    # Every byte the submission's kernels send counts against one budget (autograder.wire).
    budget = kernel_budget(limits)
    ahead = _import_ahead(suite.modules)
    try:
        _grade_kernels(suite, code, limits, seed, hide, confine, verdicts, errors, info, files, students, budget,
                       ahead)
    finally:  # what serving use_reference cost (calls from the kernel, answered here), and the bytes read
        info["reference_calls"] = sum(s._ag_reference_calls for s in students)
        info["reference_s"] = round(sum(s._ag_reference_s for s in students), 3)
        info["received_bytes"] = budget.received


def _import_ahead(names: tuple[str, ...]) -> threading.Thread | None:
    """Import what the hidden tests will import (TensorFlow takes seconds) in a thread of the grader, while the
    kernel executes the submission; the tests then find the modules loaded. A failed import is left to the test
    that needs it, which reports it in its own words."""
    missing = [n for n in names if sys.modules.get(n) is None]
    if not missing:
        return None

    def run():
        for name in missing:
            try:
                if name == "tensorflow":
                    from course_utils.devices import import_tensorflow  # quiet on stderr, as the tests import it

                    import_tensorflow()
                else:
                    importlib.import_module(name)
            except BaseException:  # noqa: BLE001 - see the docstring
                pass

    thread = threading.Thread(target=run, name="autograder-import-ahead", daemon=True)
    thread.start()
    return thread


def _grade_kernels(suite, code, limits, seed, hide, confine, verdicts, errors, info, files, students, budget,
                   ahead=None) -> None:
    pending = list(suite.cells)
    skip: set[int] = set()
    restarts = 0
    first_run = True
    while pending:
        death = None  # (where, reason, retry) when the kernel died in this run; retry: a fresh kernel may help
        sandbox = None
        try:
            with Sandbox(files, limits=limits, hide=hide, confine=confine, byte_budget=budget) as sandbox:
                info["kernels"] += 1
                info["sandbox"] = sandbox.protections
                student = RemoteStudent(sandbox)
                students.append(student)
                student._ag_install()
                death = _execute_cells(sandbox, code, skip, limits, errors if first_run else [])
                if death is None:
                    death = _redefine_helpers(sandbox, suite, limits, errors if first_run else [])
                first_run = False
                if death is None:
                    try:
                        student._ag_ensure()
                    except KernelDied as exc:
                        # Nothing of the grader's was running: a timer or a thread of the notebook killed it,
                        # and would again in a fresh kernel.
                        death = ("after the notebook ran", exc.reason, False)
                if ahead is not None:  # the tests run once the imports they need are done (no import races)
                    ahead.join()
                    ahead = None
                while death is None and pending:
                    cell = pending[0]
                    try:
                        verdicts[cell.grade_id] = _run_test_cell(cell, suite, student, sandbox, seed, limits)
                    except KernelDied as exc:
                        verdicts[cell.grade_id] = _verdict(cell, False,
                                                           f"the kernel died while running {cell.grade_id}: {exc.reason}")
                        death = (f"while running {cell.grade_id}", exc.reason, True)
                    pending.pop(0)
        except SandboxError as exc:
            errors.append(f"the kernel could not be started: {exc}")
            info["grader_error"] = f"the kernel could not be started: {exc}"  # the machinery's failure, not a grade
            for cell in pending:
                verdicts[cell.grade_id] = _verdict(cell, False, f"not graded: the kernel could not be started ({exc})")
            return
        except KernelDied as exc:  # before the notebook ran: while installing the grader's helper
            death = ("while starting", exc.reason, False)
        except (RemoteError, RemoteTimeout) as exc:
            death = ("while starting", str(exc), False)
        if death is None:
            return
        where, reason, retry = death
        if sandbox is not None and sandbox.violation:  # it flooded the grader: a fresh kernel would do it again
            retry = False
        restarts += 1
        if retry and restarts <= limits.max_restarts:
            errors.append(f"the kernel died {where}: {reason}; grading went on in a fresh kernel")
            continue
        errors.append(f"the kernel died {where}: {reason}")
        why = f"the kernel died {where} ({reason})" + (f"; {restarts} kernels died" if retry else "")
        for cell in pending:
            verdicts[cell.grade_id] = _verdict(cell, False, f"not graded: {why}")
        return


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


_SURROGATE = re.compile("[\ud800-\udfff]")


def _redefine_helpers(sandbox: Sandbox, suite: Suite, limits: Limits, errors: list[str]):
    """Run the locked cells' function definitions again, so a later cell cannot swap a given helper."""
    code = "\n\n".join(c.definitions for c in suite.locked if c.definitions)
    if not code:
        return None
    try:
        result = sandbox.execute(code, timeout=limits.cell_timeout_s, silent=True, store_history=False)
    except KernelDied as exc:
        return ("while defining the given helpers again", exc.reason, False)
    if result.status != "ok":
        errors.append(f"the locked cells' functions could not be defined again after the notebook ran: "
                      f"{result.ename}: {_first_line(result.evalue)}")
    return None


def _execute_cells(sandbox: Sandbox, code: list[tuple[str, str]], skip: set[int], limits: Limits,
                   errors: list[str]) -> tuple[str, str, bool] | None:
    """Run the submission's cells; return (where, reason, True) if the kernel died (that cell joins `skip`)."""
    deadline = time.monotonic() + limits.notebook_timeout_s
    for position, (label, source) in enumerate(code):
        if position in skip:
            continue
        left = deadline - time.monotonic()
        if left <= 0:
            errors.append(f"the notebook ran out of time ({limits.notebook_timeout_s:g} s); "
                          f"{label} and the cells after it were not run")
            return None
        timeout = min(limits.cell_timeout_s, left)
        unsendable = unsendable_text(source)
        if unsendable:  # a kernel message must be valid UTF-8: the cell errors here, the notebook goes on
            errors.append(f"{label}: not run: {unsendable}")
            continue
        try:
            result = sandbox.execute(source, timeout=timeout)
        except KernelDied as exc:
            skip.add(position)  # the fresh kernel runs the notebook without this cell
            return (f"while running {label}", exc.reason, True)
        if result.status == "timeout":
            errors.append(f"{label}: interrupted after {timeout:g} s (time limit)")
        elif result.status == "error":
            detail = _first_line(result.evalue)
            errors.append(f"{label}: {result.ename}" + (f": {detail}" if detail else ""))
    return None
