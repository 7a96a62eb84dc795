"""Will this notebook grade? The last cell of every lab checks the notebook as saved.

The release (``python -m autograder release``) ends every student notebook
with a cell that calls::

    import course_utils.selfcheck
    course_utils.selfcheck.run("01_perceptron", release="3f9a1c2b04d1")

and stores, in that cell's metadata (key ``selfcheck``), the lab's manifest:
every nbgrader cell of the released notebook with its grade_id, its cell type,
its role (answer, test, locked) and, for a locked cell, a hash of its text.
``release`` is the manifest's digest, so the check knows that the manifest it
reads is the one its cell was released with.

`run` reads the notebook *as saved*: in Colab through Colab's front-end message
channel (``google.colab._message.blocking_request("get_ipynb")``, the notebook
that File > Download gives), in JupyterLab from the file the kernel's session
names (``__session__``, set by ipykernel from ``JPY_SESSION_NAME``), in VS Code
from ``__vsc_ipynb_file__``. It compares it with the manifest: every graded
cell present, its type and grade_id intact, the locked cells unchanged, the lab
the right one; it counts the public checks that passed in the saved outputs and
prints a receipt (lab, cells found, checks passed, a SHA-256, the time). Where
the notebook cannot be read it says so and how to save it. It only reads:
nothing it does changes the notebook or its file.

Standard library only (no nbformat), so ``import course_utils`` stays fast.
Reading the saved notebook is `course_utils.saved_notebook`'s part.
From a terminal: ``python -m course_utils.selfcheck path/to/01_perceptron.ipynb``.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.devices import in_colab
from course_utils.saved_notebook import Unreadable, from_colab, from_file, running_shell, session_path

__all__ = ["Report", "build_manifest", "manifest_digest", "cell_source", "is_check_cell", "check", "run", "main"]

TAG = "self-check"  # the tag of the check cell
METADATA_KEY = "selfcheck"  # the check cell's metadata key holding the manifest
COLAB_TIMEOUT_S = 1.5  # the whole check must stay under 2 s
SOURCE_TEMPLATE = ('# Will this notebook grade? Save it first (Ctrl-S): '
                   'this cell checks the saved file and changes nothing\n'
                   'import course_utils.selfcheck\n'
                   'course_utils.selfcheck.run("{lab}", release="{digest}")')
_CHECK_SOURCE = re.compile(r'# Will this notebook grade\?[^\n]*\n'
                           r'import course_utils\.selfcheck\n'
                           r'course_utils\.selfcheck\.run\("[0-9A-Za-z_]+", release="[0-9a-f]{12}"\)\s*')
_BADGE = re.compile(r"/notebooks/([0-9A-Za-z_]+)\.ipynb\)")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# ---------------------------------------------------------------- the manifest (written by the release)

def _text(source) -> str:
    if isinstance(source, list):
        return "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def _normalised(source) -> str:
    """A cell's text without what editors change silently: line endings, trailing blanks."""
    lines = _text(source).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def _text_hash(source) -> str:
    return hashlib.sha256(_normalised(source).encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _meta(cell) -> dict:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    return meta if isinstance(meta, dict) else {}


def _nbgrader(cell) -> dict:
    meta = _meta(cell).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def _role(meta: dict) -> str:
    if meta.get("solution"):
        return "answer"
    if meta.get("grade"):
        return "test"
    return "locked"


def build_manifest(nb: dict, lab: str) -> dict:
    """What the check expects of `lab`'s released notebook `nb` (a JSON dict or nbformat node).

    Every cell with an nbgrader grade_id: its grade_id, cell type, role and, for a locked cell
    that is not an answer, the hash of its text. Cells tagged `TAG` are left out.
    """
    title = ""
    cells = []
    for cell in nb.get("cells", []):
        if not title and cell.get("cell_type") == "markdown":
            first = _text(cell.get("source")).strip().split("\n", 1)[0]
            title = first.lstrip("#").strip() if first.startswith("# ") else ""
        if TAG in (_meta(cell).get("tags") or []):
            continue
        meta = _nbgrader(cell)
        grade_id = meta.get("grade_id")
        if not isinstance(grade_id, str) or not grade_id:
            continue
        entry = {"grade_id": grade_id, "type": cell.get("cell_type"), "role": _role(meta)}
        if meta.get("locked") and not meta.get("solution"):
            entry["hash"] = _text_hash(cell.get("source"))
        cells.append(entry)
    return {"lab": lab, "title": title, "cells": cells}


def manifest_digest(manifest: dict) -> str:
    """12 hex digits of the SHA-256 of the manifest's canonical JSON."""
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def cell_source(lab: str, digest: str) -> str:
    """The check cell's code for `lab` released with the manifest of `digest`."""
    return SOURCE_TEMPLATE.format(lab=lab, digest=digest)


def is_check_cell(cell) -> bool:
    """True for a code cell holding exactly the released check (the grader skips it: it is not graded)."""
    return (isinstance(cell, dict) and cell.get("cell_type") == "code"
            and _CHECK_SOURCE.fullmatch(_text(cell.get("source"))) is not None)


# ---------------------------------------------------------------- the report

def _lab_name(lab: str) -> str:
    number = re.match(r"(\d+)_", lab)
    return f"Lab {number.group(1)} ({lab})" if number else lab


@dataclass
class Report:
    """What `check` found. `readable` is False when no saved notebook could be read; `ok` when it will grade."""

    lab: str
    release: str
    readable: bool = False
    source: str = ""  # where the notebook was read: a file path, or "Colab"
    why_unreadable: str = ""
    advice: str = ""  # what to do when the notebook could not be read
    other_lab: str = ""  # set when the notebook read is another lab's
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    answers: tuple[int, int] = (0, 0)  # (found, expected)
    tests: tuple[int, int] = (0, 0)
    locked: tuple[int, int] = (0, 0)  # (unchanged, expected), test cells included
    checks_passed: list[str] = field(default_factory=list)
    checks_failed: list[tuple[str, str]] = field(default_factory=list)
    checks_not_run: list[str] = field(default_factory=list)
    sha256: str = ""
    hash_of: str = ""
    saved_at: _dt.datetime | None = None
    checked_at: _dt.datetime = field(default_factory=lambda: _dt.datetime.now().astimezone())
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.readable and not self.problems and not self.other_lab

    def text(self) -> str:
        """The receipt (or the reason the notebook could not be read), as printed by `run`."""
        when = self.checked_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
        if not self.readable:
            return "\n".join([f"✘ Cannot check {_lab_name(self.lab)}: {self.why_unreadable}",
                              *([self.advice] if self.advice else []), f"(checked at {when})"])
        if self.other_lab:
            return "\n".join([
                f"✘ The notebook read ({self.source}) is the notebook of {_lab_name(self.other_lab)}, "
                f"not of {_lab_name(self.lab)}.",
                f"Run this check in the notebook of {_lab_name(self.lab)}, with its own kernel, and hand in that "
                "notebook for this lab.", f"(checked at {when})"])
        lines = [f"Self-check of {_lab_name(self.lab)}, release {self.release}",
                 f"  read from:       {self.source}"]
        if self.saved_at is not None:
            age = max(0, int((self.checked_at - self.saved_at).total_seconds()))
            ago = f"{age} s" if age < 120 else f"{age // 60} min" if age < 7200 else f"{age // 3600} h"
            lines.append(f"  saved at:        {self.saved_at.strftime('%Y-%m-%d %H:%M:%S')} ({ago} ago)")
        found, expected = self.answers[0] + self.tests[0], self.answers[1] + self.tests[1]
        lines.append(f"  graded cells:    {found} of {expected} found "
                     f"({self.answers[0]} of {self.answers[1]} answers, {self.tests[0]} of {self.tests[1]} tests)")
        lines.append(f"  locked cells:    {self.locked[0]} of {self.locked[1]} unchanged")
        total = len(self.checks_passed) + len(self.checks_failed) + len(self.checks_not_run)
        outputs = "the saved outputs" if self.saved_at is not None else "the notebook's outputs"
        checks = f"  public checks:   {len(self.checks_passed)} of {total} passed in {outputs}"
        if self.checks_failed:
            checks += "; failed: " + ", ".join(g for g, _ in self.checks_failed)
        if self.checks_not_run:
            checks += ("; not run: " + ", ".join(self.checks_not_run) if len(self.checks_not_run) < total
                       else "; none has run")
        lines.append(checks)
        lines.append(f"  SHA-256:         {self.sha256} ({self.hash_of})")
        lines.append(f"  checked at:      {when}")
        if self.problems:
            lines.append(f"✘ The grader would not find your work as you meant it "
                         f"({len(self.problems)} problem{'s' if len(self.problems) > 1 else ''}):")
            lines += [f"  - {p}" for p in self.problems]
        else:
            lines.append("✔ This notebook will grade: every graded cell is where the grader looks for it.")
        if self.checks_failed:
            lines.append("Public checks that failed (fix what they say before you hand in):")
            lines += [f"  - {grade_id}: {why}" for grade_id, why in self.checks_failed]
        if self.checks_not_run:
            lines.append("To see every public check's verdict here: Run All, save (Ctrl-S), and run this cell again.")
        lines += [f"Note: {n}" for n in self.notes]
        lines.append("The public checks are not the whole grade: hidden tests also run when your notebook is graded.")
        return "\n".join(lines)


# ---------------------------------------------------------------- comparing with the release
# (the notebook itself is read by course_utils.saved_notebook)

class _WrongLab(Unreadable):
    """The notebook read is another lab's."""

    def __init__(self, lab: str):
        super().__init__(lab)
        self.lab = lab


def _type_words(cell_type) -> str:
    return {"code": "a code cell", "markdown": "Markdown", "raw": "a Raw cell"}.get(cell_type, f"a {cell_type} cell")


def _lab_of(nb: dict) -> str | None:
    """The lab a notebook says it is: its check cell's manifest, else its Colab badge."""
    for cell in nb.get("cells", []):
        manifest = _meta(cell).get(METADATA_KEY)
        if isinstance(manifest, dict) and isinstance(manifest.get("lab"), str):
            return manifest["lab"]
    for cell in nb.get("cells", [])[:3]:
        if isinstance(cell, dict) and cell.get("cell_type") == "markdown":
            found = _BADGE.search(_text(cell.get("source")))
            if found:
                return found.group(1)
    return None


def _find_manifest(nb: dict, lab: str, release: str) -> dict:
    """The manifest of this check cell in the saved notebook, or Unreadable saying what the notebook is."""
    others = []
    for cell in nb.get("cells", []):
        manifest = _meta(cell).get(METADATA_KEY)
        if isinstance(manifest, dict):
            if manifest_digest(manifest) == release and manifest.get("lab") == lab:
                return manifest
            others.append(manifest)
    said = _lab_of(nb)
    if said and said != lab:
        raise _WrongLab(said)
    if not others and any(is_check_cell(c) and f'release="{release}"' in _text(c.get("source")) for c in nb["cells"]):
        raise Unreadable("the self-check cell in the saved notebook lost its hidden metadata (the release's list "
                         "of graded cells), so there is nothing to compare with. Copy this cell from the release "
                         f"again (notebooks/{lab}.ipynb, the last cell), save, and run it.")
    if others:
        raise Unreadable(f"the saved notebook's self-check cell belongs to another release of this lab, or its "
                         f"hidden metadata was edited (this cell is release {release}). Take the notebook from the "
                         "release again and copy your answers into it.")
    raise Unreadable("the saved notebook does not contain this self-check cell: it is not the notebook this cell "
                     "runs in, or it was saved before you added the cell. Save the notebook (Ctrl-S).")


def _first_line(text: str, limit: int = 160) -> str:
    lines = [line.strip() for line in _ANSI.sub("", text).splitlines() if line.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[:limit - 3] + "..."


def _verdict(cell: dict) -> tuple[str, str]:
    """("passed" | "failed" | "not run", why) of a test cell from its saved outputs."""
    outputs = cell.get("outputs") if isinstance(cell.get("outputs"), list) else []
    for out in outputs:
        if isinstance(out, dict) and out.get("output_type") == "error":
            name = str(out.get("ename") or "an error")
            value = _first_line(str(out.get("evalue") or ""))
            if name == "NotImplementedError" and not value:
                value = "the exercise is not done yet"
            return "failed", f"{name}: {value}" if value else name
    if cell.get("execution_count") is None and not outputs:
        return "not run", ""
    return "passed", ""


def _compare(report: Report, nb: dict, manifest: dict) -> None:
    cells = [c for c in nb.get("cells", []) if isinstance(c, dict)]
    by_id: dict[str, list[dict]] = {}
    for cell in cells:
        grade_id = _nbgrader(cell).get("grade_id")
        if isinstance(grade_id, str):
            by_id.setdefault(grade_id, []).append(cell)
    expected = {e["grade_id"] for e in manifest["cells"]}
    unknown = [g for g in by_id if g not in expected]
    present = {"answer": 0, "test": 0}
    wanted = {"answer": 0, "test": 0}
    unchanged = locked = 0
    for entry in manifest["cells"]:
        grade_id, role, kind = entry["grade_id"], entry["role"], entry["type"]
        if role in wanted:
            wanted[role] += 1
        locked += "hash" in entry
        found = by_id.get(grade_id, [])
        if not found:
            what = {"answer": "your answer cell", "test": "the test cell"}.get(role, "the locked cell")
            names = ", ".join(f"`{g}`" for g in unknown)
            hint = f" (a cell here has grade_id {names}: was it renamed?)" if unknown else ""
            report.problems.append(f"cell `{grade_id}` is missing: {what} was deleted, or lost its grading metadata "
                                   f"when it was copied or re-created{hint}. Restore it from the release "
                                   f"(notebooks/{manifest['lab']}.ipynb), after the cell before it.")
            continue
        cell = found[-1]  # nbgrader and the grader keep the last of repeated grade_ids
        if len(found) > 1:
            report.problems.append(f"cell `{grade_id}` appears {len(found)} times (a copied cell keeps its grade_id): "
                                   "delete the copies; the grader would use the last one.")
        if cell.get("cell_type") != kind:
            key = "Y" if kind == "code" else "M"
            report.problems.append(f"cell `{grade_id}` was turned into {_type_words(cell.get('cell_type'))}: restore "
                                   f"it from the release (or make it {_type_words(kind)} again: in JupyterLab select "
                                   f"it, press Esc, then {key}; in Colab Ctrl+M {key}).")
            continue
        if role in present:
            present[role] += 1
        if "hash" in entry:
            if _text_hash(cell.get("source")) == entry["hash"]:
                unchanged += 1
            else:
                also = ", so its public checks may pass here and fail there" if role == "test" else ""
                report.problems.append(f"locked cell `{grade_id}` was edited: the grader runs the release's version "
                                       f"of it, not yours{also}. Undo your change (copy the cell's text back from "
                                       "the release).")
        if role == "test":
            status, why = _verdict(cell)
            if status == "passed":
                report.checks_passed.append(grade_id)
            elif status == "failed":
                report.checks_failed.append((grade_id, why))
            else:
                report.checks_not_run.append(grade_id)
    report.answers = (present["answer"], wanted["answer"])
    report.tests = (present["test"], wanted["test"])
    report.locked = (unchanged, locked)


def _stale_note(nb: dict, shell) -> str | None:
    """A note when this kernel ran other cells after the file was saved (JupyterLab: the file lags behind the page).

    IPython's raw input history holds one entry per execution count, this cell's included; the saved file's highest
    execution count says which runs it holds. Runs of this check cell itself do not count.
    """
    history = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None)
    if not isinstance(history, list) or len(history) < 2:
        return None
    current = len(history) - 1  # this cell's execution count
    counts = [c.get("execution_count") for c in nb.get("cells", []) if isinstance(c, dict)]
    latest = max((n for n in counts if isinstance(n, int) and not isinstance(n, bool)), default=0)
    if latest >= current:  # saved from an earlier kernel: its counts say nothing about this one
        return None
    since = [history[n] for n in range(latest + 1, current)]
    ran = [text for text in since if isinstance(text, str) and text.strip() and not _CHECK_SOURCE.fullmatch(text)]
    if not ran:
        return None
    return (f"this kernel has run {len(ran)} cell{'s' if len(ran) > 1 else ''} since the file was saved (the saved "
            f"file's last run is [{latest}], this cell is [{current}]): the check sees the file, not your screen. "
            "Save (Ctrl-S) and run this cell again.")


def _read(report: Report, notebook: dict | None, path, shell, wait_s: float) -> tuple[dict, bytes | None]:
    """The notebook to check and, when read from a file, the file's bytes; sets where it was read and when saved.

    In this order: `notebook` as given, the file at `path`, Colab's current notebook, the kernel session's file.
    """
    lab, release = report.lab, report.release
    data = None
    if notebook is None and path is None:
        if in_colab():
            retry = f'course_utils.selfcheck.run("{lab}", release="{release}", wait_s=10)'
            notebook = from_colab(wait_s, retry)
            report.source = "Colab (the notebook as File > Download saves it)"
        else:
            path = session_path(shell)
            if path is None:
                raise Unreadable("this check cannot tell which file this notebook is saved in: it runs "
                                 "outside Colab and JupyterLab (or in a Jupyter older than jupyter_server 2).",
                                 "Save the notebook (Ctrl-S, or File > Save) and check the saved file from a "
                                 f"terminal: python -m course_utils.selfcheck path/to/{lab}.ipynb")
    if notebook is None:
        notebook, data, report.saved_at = from_file(Path(path))
        report.source = str(path)
    elif not report.source:
        report.source = "the notebook given"
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise Unreadable(f"{report.source} is not a notebook (no list of cells).")
    return notebook, data


def check(lab: str, release: str, *, notebook: dict | None = None, path: str | os.PathLike | None = None,
          shell=None, wait_s: float = COLAB_TIMEOUT_S) -> Report:
    """Check the saved notebook of `lab` against the manifest of `release`; read only, never raises.

    Parameters
    ----------
    lab : str
        The lab's name, e.g. ``"01_perceptron"``.
    release : str
        The digest of the manifest this check cell was released with.
    notebook : dict, optional
        The notebook as JSON (what Colab's front end sends); skips finding it.
    path : path-like, optional
        The notebook file; default: Colab's current notebook, else the kernel session's file.
    shell : IPython shell, optional
        Where ``__session__`` is looked up (default: the running one).
    wait_s : float
        In Colab, how long the page may take to send the notebook.
    """
    started = time.perf_counter()
    report = Report(lab=lab, release=release)
    shell = running_shell() if shell is None else shell
    try:
        notebook, data = _read(report, notebook, path, shell, wait_s)
        manifest = _find_manifest(notebook, lab, release)
        report.readable = True
        if data is not None:
            report.sha256, report.hash_of = hashlib.sha256(data).hexdigest(), "of the saved file"
        else:
            canonical = json.dumps(notebook, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
            report.sha256 = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
            report.hash_of = "of the notebook's content"
        badge = _lab_of({"cells": [c for c in notebook["cells"] if METADATA_KEY not in _meta(c)]})
        if badge and badge != lab:
            report.problems.append(f"this notebook's Colab badge links {badge}, not {lab}: "
                                   "is this the right lab's file?")
        _compare(report, notebook, manifest)
        note = _stale_note(notebook, shell) if data is not None else None
        if note:
            report.notes.append(note)
    except _WrongLab as wrong:
        report.readable, report.other_lab = True, wrong.lab
    except Unreadable as why:
        report.readable, report.problems = False, []
        report.why_unreadable, report.advice = str(why), why.advice
    except Exception as exc:  # noqa: BLE001 - a check must never stop the notebook
        report.readable = False
        report.why_unreadable = f"the check itself failed ({type(exc).__name__}: {exc}); tell your instructor."
        report.advice = ""
    report.seconds = time.perf_counter() - started
    return report


def run(lab: str, release: str, wait_s: float = COLAB_TIMEOUT_S) -> None:
    """Print the self-check of the saved notebook (what the last cell of every lab calls).

    `wait_s`: how long Colab's page may take to send the notebook (the default keeps the cell under 2 s).
    """
    print(check(lab, release, wait_s=wait_s).text())


def main(argv: list[str] | None = None) -> int:
    """``python -m course_utils.selfcheck NOTEBOOK``: check a saved notebook against its own self-check cell."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m course_utils.selfcheck path/to/<lab>.ipynb", file=sys.stderr)
        return 2
    path = Path(args[0])
    try:
        notebook = json.loads(path.read_bytes().decode("utf-8"))
        manifest = next(_meta(c)[METADATA_KEY] for c in notebook["cells"]
                        if isinstance(_meta(c).get(METADATA_KEY), dict))
        lab, release = manifest["lab"], manifest_digest(manifest)
    except (OSError, ValueError, UnicodeDecodeError, KeyError, TypeError, StopIteration, AttributeError):
        lab, release = path.stem, ""
    report = check(lab, release, path=path)
    if release == "" and report.readable is False and "does not contain this self-check cell" in report.why_unreadable:
        report.why_unreadable = f"{path} has no self-check cell: it is not a released lab notebook."
    print(report.text())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
