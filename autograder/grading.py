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
import secrets
import sys
import threading
import time
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autograder.hidden import HiddenTestError, Suite, TestCell, load_suite, notebook_imports
from autograder.limits import data_files, kernel_budget
from autograder.remote import NameMissing, RemoteError, RemoteStudent, RemoteTimeout
from autograder.sandbox import ROOT, KernelDied, Limits, Sandbox, SandboxError, confinement_available, preload_for
from autograder.submission import (cell_flags, first_line, graded_cell_types, notebook_cells, read_submission,
                                   unsendable_text)
from autograder.text import clean_value
from autograder.wire import Budget

__all__ = ["GradingError", "GradingRun", "HiddenTestError", "Limits", "cell_flags", "find_source", "grade_notebook",
           "graded_cell_types", "notebook_cells", "read_submission", "sanitize", "unsendable_text"]

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
            student._ag.last_call = ""
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
                last = student._ag.last_call
                message = str(exc) or (f"a hidden check failed after calling {last}" if last else "a hidden check failed")
            except KeyboardInterrupt:
                raise  # the instructor's Ctrl-C (a submission cannot signal the grader; its values are plain data)
            except BaseException as exc:  # noqa: BLE001 - a SystemExit from anything a student touched costs the test
                last = student._ag.last_call
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
                   seed: int | None = None, hide=(), confine: bool | None = None, preload=None) -> dict:
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
    preload : sequence of str, optional
        What the kernel template imports (default: what this lab's notebook needs, `preload_for`); a batch
        passes what all its labs need, so that its workers keep one template each.

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
    if preload is None:
        preload = preload_for(notebook_imports(source))
    run = GradingRun(suite, limits, seed, hide=[source.parent, *hide], confine=confine, preload=tuple(preload))
    run.code, ids, problem, edited = read_submission(submission, limits, suite)
    if problem is not None:
        run.errors.append(problem)
        run.not_graded(suite.cells, problem)
    else:
        run.info["flags"] = cell_flags(notebook_cells(submission.read_bytes())[0] or [], graded_cell_types(source))
        run.check_cells(ids, edited)
        run.grade(source)
    return run.result(lab, started)


def sanitize(value, limit: int = MAX_MESSAGE):
    """`value` with every string made safe to store and print (`autograder.text.clean_value`), recursively.

    Whatever a submission managed to put into a message (terminal escapes, control
    characters, lone surrogates, megabytes of text) comes out printable, valid UTF-8
    and at most `limit` characters long.
    """
    return clean_value(value, limit)


def _import_ahead(names: tuple[str, ...]) -> threading.Thread | None:
    """Import what the hidden tests will import (TensorFlow takes seconds) in a thread of the grader, while the
    kernel executes the submission; the tests then find the modules loaded. A failed import is left to the test
    that needs it, which reports it in its own words."""
    if "torch.optim" in names:  # a first optimizer step would import torch._dynamo on the tests' path (seconds);
        # where the tests use no optimizer, importing it ahead only takes CPU from the kernel.
        # The kernel's template order: torch and torch._dynamo before TensorFlow.
        names = ("torch", "torch._dynamo", *(n for n in names if n != "torch"))
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


@dataclass
class GradingRun:
    """One submission's grading: what it runs (the lab's `suite`, the submission's `code`, as `read_submission`
    gives it) under which `limits`, `seed`, hidden paths and confinement, and what it found so far: a verdict
    per test cell, the errors, the result's extra keys (`info`), the kernels' `students` and their byte `budget`.
    """

    suite: Suite
    limits: Limits
    seed: int
    hide: list = field(default_factory=list)
    confine: bool | None = None
    preload: tuple[str, ...] | None = None  # what the kernel template imports (None: `PRELOAD`)
    code: list[tuple[str, str]] = field(default_factory=list)
    verdicts: dict[str, dict] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)  # the lab's data files, as the kernel sees them
    students: list[RemoteStudent] = field(default_factory=list)  # one per kernel started
    budget: Budget | None = None  # every byte the submission's kernels send counts against it (autograder.wire)
    ahead: threading.Thread | None = None  # imports the hidden tests need, under way (`_import_ahead`)
    ran: bool = False  # the notebook ran once: later kernels do not report its errors again

    def __post_init__(self):
        self.info = {"kernels": 0, "sandbox": {"confined": confinement_available()[0]}, **self.info}

    def not_graded(self, cells, why: str) -> None:
        """Every cell of `cells` scores 0, "not graded" with the reason."""
        for cell in cells:
            self.verdicts[cell.grade_id] = _verdict(cell, False, f"not graded: {why}")

    def check_cells(self, ids: list[str], edited: list[str]) -> None:
        """Say which test cells the submission lacks (graded anyway) and which locked cells it edited."""
        missing = [c.grade_id for c in self.suite.cells if c.grade_id not in ids]
        if missing:
            self.errors.append(f"the submission has no cell with grade_id {', '.join(missing)} (nbgrader metadata "
                               "lost or edited?); graded from the instructor's notebook anyway")
        self.info["locked_cells_edited"] = edited
        if edited:
            self.errors.append(f"locked cell{'s' if len(edited) > 1 else ''} {', '.join(edited)} "
                               f"{'were' if len(edited) > 1 else 'was'} edited or removed in the submission: graded "
                               "with the release's version, as every locked cell is")

    def grade(self, source: Path) -> None:
        """Execute the submission and run the pending test cells, restarting the kernel after deaths."""
        self.files = data_files(source)
        self.budget = kernel_budget(self.limits)
        self.ahead = _import_ahead(self.suite.modules)
        try:
            self._kernels()
        finally:  # what serving use_reference cost (calls from the kernel, answered here), and the bytes read
            self.info["reference_calls"] = sum(s._ag.reference_calls for s in self.students)
            self.info["reference_s"] = round(sum(s._ag.reference_s for s in self.students), 3)
            self.info["received_bytes"] = self.budget.received

    def result(self, lab: str, started: float) -> dict:
        """The grade (see the module docstring), every string cleaned; `started`: when grading began (monotonic)."""
        tests = [self.verdicts.get(c.grade_id) or _verdict(c, False, "not graded") for c in self.suite.cells]
        errors = self.errors
        if len(errors) > MAX_ERRORS:
            errors = errors[:MAX_ERRORS] + [f"... and {len(errors) - MAX_ERRORS} more errors"]
        return sanitize({"lab": lab, "score": float(sum(t["score"] for t in tests)), "max_score": self.suite.max_score,
                         "tests": tests, "errors": errors, "seed": self.seed,
                         "elapsed_s": round(time.monotonic() - started, 3), **self.info})

    def _kernels(self) -> None:
        """Grade in a kernel, then in a fresh one after each death that a fresh kernel may get past."""
        pending, skip, restarts = list(self.suite.cells), set(), 0
        while pending:
            death = sandbox = None  # death: (where, reason, retry), retry: a fresh kernel may help
            try:
                with Sandbox(self.files, limits=self.limits, hide=self.hide, confine=self.confine,
                             byte_budget=self.budget, preload=self.preload) as sandbox:
                    death = self._in_kernel(sandbox, pending, skip)
            except SandboxError as exc:
                self.errors.append(f"the kernel could not be started: {exc}")
                self.info["grader_error"] = f"the kernel could not be started: {exc}"  # the machinery's, not a grade
                self.not_graded(pending, f"the kernel could not be started ({exc})")
                return
            except KernelDied as exc:  # before the notebook ran: while installing the grader's helper
                death = ("while starting", exc.reason, False)
            except (RemoteError, RemoteTimeout) as exc:
                death = ("while starting", str(exc), False)
            if death is None:
                return
            restarts += 1
            if not self._goes_on(death, sandbox, restarts, pending):
                return

    def _in_kernel(self, sandbox: Sandbox, pending: list[TestCell], skip: set[int]):
        """Run the notebook, then the pending test cells (each leaves `pending` once graded), in `sandbox`;
        the kernel's death as (where, reason, retry), or None."""
        self.info["kernels"] += 1
        self.info["sandbox"] = sandbox.protections
        student = RemoteStudent(sandbox)
        self.students.append(student)
        student._ag_install()
        errors = [] if self.ran else self.errors
        death = _execute_cells(sandbox, self.code, skip, self.limits, errors)
        if death is None:
            death = _redefine_helpers(sandbox, self.suite, self.limits, errors)
        self.ran = True
        if death is None:
            try:
                student._ag_ensure()
            except KernelDied as exc:
                # Nothing of the grader's was running: a timer or a thread of the notebook killed it,
                # and would again in a fresh kernel.
                death = ("after the notebook ran", exc.reason, False)
        if self.ahead is not None:  # the tests run once the imports they need are done (no import races)
            self.ahead.join()
            self.ahead = None
        while death is None and pending:
            death = self._test(pending[0], student, sandbox)
            pending.pop(0)
        return death

    def _test(self, cell: TestCell, student: RemoteStudent, sandbox: Sandbox):
        """Grade one test cell; the kernel's death as (where, reason, True), or None."""
        try:
            self.verdicts[cell.grade_id] = _run_test_cell(cell, self.suite, student, sandbox, self.seed, self.limits)
        except KernelDied as exc:
            self.verdicts[cell.grade_id] = _verdict(cell, False,
                                                    f"the kernel died while running {cell.grade_id}: {exc.reason}")
            return (f"while running {cell.grade_id}", exc.reason, True)
        return None

    def _goes_on(self, death, sandbox: Sandbox | None, restarts: int, pending: list[TestCell]) -> bool:
        """After the kernel's `death`: whether grading goes on in a fresh kernel; if not, the pending cells
        are not graded."""
        where, reason, retry = death
        if sandbox is not None and sandbox.violation:  # it flooded the grader: a fresh kernel would do it again
            retry = False
        if retry and restarts <= self.limits.max_restarts:
            self.errors.append(f"the kernel died {where}: {reason}; grading went on in a fresh kernel")
            return True
        self.errors.append(f"the kernel died {where}: {reason}")
        why = f"the kernel died {where} ({reason})" + (f"; {restarts} kernels died" if retry else "")
        self.not_graded(pending, why)
        return False


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
                      f"{result.ename}: {first_line(result.evalue)}")
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
            detail = first_line(result.evalue)
            errors.append(f"{label}: {result.ename}" + (f": {detail}" if detail else ""))
    return None
