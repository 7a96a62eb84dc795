"""Generate the student notebooks in notebooks/ from the instructor notebooks in solutions/.

The heavy lifting is nbgrader's ``generate_assignment`` (solution regions become
stubs, hidden tests go, outputs are cleared, checksums are recorded). Around it
this module adds what nbgrader does not do:

* a validation pass that stops before anything is written and names the
  notebook and the cell at fault;
* the Colab badge and the setup cell's repository URL, both rendered from the
  one place that holds the URL (``[project.urls] Repository`` in pyproject.toml);
* an all-or-nothing write: every lab is generated in a scratch directory first,
  and notebooks/ is touched only when all of them succeeded;
* ``--check``: compare what would be written with what is committed;
* the self-check at the end of every student notebook ("will this notebook
  grade?", `course_utils.selfcheck`): a short Markdown cell and a code cell,
  rendered into notebooks/ only (solutions/ never has them), the code cell
  carrying the manifest of the released notebook in its metadata.
"""
from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder import cells
from course_utils import selfcheck

ROOT = Path(__file__).resolve().parent.parent
CODE_STUB = "# TODO: replace this line with your code\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"

_REGIONS = {
    "solution": ("### BEGIN SOLUTION", "### END SOLUTION"),
    "hidden tests": ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"),
}
_REPOSITORY_LINE = re.compile(r'^REPOSITORY = "[^"]*"$', re.MULTILINE)

# The install part of every lab's setup cell (autograder/_setup_cell.py, whose first line `REPOSITORY = "..."`
# is replaced by the course's URL), the same in every lab. `make release` puts it where the
# setup cell has its `REPOSITORY = "..."` line (replacing that line, any earlier rendering up to
# INSTALL_END, or the older one-line `if "google.colab" ...: subprocess.check_call(...)` form), with
# the URL from pyproject.toml. On Colab it installs the course package alone (--no-deps), so pip
# never touches what Colab ships, and checks that the packages students rely on kept their versions.
# COURSE_PIP_SOURCE (e.g. git+file:///path/to/checkout) points the install elsewhere; the tests use it.
INSTALL_END = "# (end of the Colab install)"
INSTALL_SOURCE = Path(__file__).with_name("_setup_cell.py")  # the install part as a real file, line for line


class ReleaseError(ValueError):
    """A solution notebook cannot be released as it stands."""


@dataclass(frozen=True)
class Lab:
    name: str
    source: Path  # solutions/<lab>/<lab>.ipynb

    @property
    def student(self) -> Path:
        return self.source.parent.parent.parent / "notebooks" / f"{self.name}.ipynb"


def repository_url(root: Path = ROOT) -> str:
    """The course repository URL, from pyproject.toml (the only place that holds it)."""
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    try:
        return meta["project"]["urls"]["Repository"].rstrip("/")
    except KeyError:
        raise ReleaseError("pyproject.toml: set [project.urls] Repository to the course's GitHub URL") from None


def find_labs(names: list[str] | None = None, root: Path = ROOT) -> list[Lab]:
    """The labs in solutions/ (each solutions/<lab>/<lab>.ipynb), or the named ones."""
    solutions = root / "solutions"
    found = {p.parent.name: p for p in sorted(solutions.glob("*/*.ipynb")) if p.stem == p.parent.name}
    if not names:
        if not found:
            raise ReleaseError(f"{solutions}: no solutions/<lab>/<lab>.ipynb notebooks found")
        return [Lab(n, p) for n, p in found.items()]
    missing = [n for n in names if n not in found]
    if missing:
        known = ", ".join(found) or "none"
        raise ReleaseError(f"unknown lab {', '.join(missing)}: expected solutions/<lab>/<lab>.ipynb (labs found: {known})")
    return [Lab(n, found[n]) for n in names]


def _cell_label(index: int, cell) -> str:
    grade_id = cells.nbgrader(cell).get("grade_id")
    return f"cell {index}" + (f" (grade_id '{grade_id}')" if grade_id else "")


def _check_regions(where: str, source: str) -> list[str]:
    """Problems with the BEGIN/END markers of one cell's source."""
    problems = []
    for kind, (begin, end) in _REGIONS.items():
        depth = 0
        for lineno, line in enumerate(source.splitlines(), 1):
            stripped = line.strip()
            if stripped == begin:
                if depth:
                    problems.append(f"{where}: line {lineno} opens a {kind} region inside another; close the first with '{end}'")
                depth += 1
            elif stripped == end:
                if not depth:
                    problems.append(f"{where}: line {lineno} has '{end}' without a matching '{begin}'")
                depth = max(depth - 1, 0)
        if depth:
            problems.append(f"{where}: '{begin}' is never closed; add '{end}' after the {kind}")
    return problems


def validate(path: Path) -> nbformat.NotebookNode:
    """Read a solution notebook and raise ReleaseError listing every problem found."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # invalid JSON, wrong nbformat, unreadable file
        raise ReleaseError(f"{path}: cannot read the notebook ({exc.__class__.__name__}: {exc})") from None

    problems: list[str] = []
    seen: dict[str, int] = {}
    tags_found = set()
    for index, cell in enumerate(nb.cells):
        where = f"{path}, {_cell_label(index, cell)}"
        meta = cells.nbgrader(cell)
        tags_found.update(cell.get("metadata", {}).get("tags", []))
        source = cell.get("source", "")
        problems += _check_regions(where, source)
        if "### BEGIN SOLUTION" in source and not cells.is_solution_cell(cell):
            problems.append(f"{where}: has a solution region but is not a solution cell; "
                            "set metadata nbgrader.solution = true (Create Assignment toolbar: 'Autograded answer')")
        if "### BEGIN HIDDEN TESTS" in source and not cells.is_grade_cell(cell):
            problems.append(f"{where}: has hidden tests but is not a graded test cell; set nbgrader.grade = true")
        if not meta:
            continue
        grade_id = meta.get("grade_id")
        if (cells.is_grade_cell(cell) or cells.is_solution_cell(cell) or cells.is_locked(cell)) and not grade_id:
            problems.append(f"{where}: nbgrader cell without a grade_id; give it a unique grade_id")
        if grade_id:
            if grade_id in seen:
                problems.append(f"{where}: duplicate grade_id '{grade_id}' (also cell {seen[grade_id]}); grade_ids must be unique")
            seen.setdefault(grade_id, index)
        if cells.is_grade_cell(cell):
            points = meta.get("points")
            if isinstance(points, bool) or not isinstance(points, (int, float)) or points < 0:
                problems.append(f"{where}: graded cell without points (got {points!r}); set nbgrader.points to a number >= 0")
    for tag in ("colab-badge", "setup"):
        if tag not in tags_found:
            problems.append(f"{path}: no cell tagged '{tag}'; every lab starts with a Colab badge cell and a setup cell")
    if problems:
        raise ReleaseError("cannot release:\n  " + "\n  ".join(problems))
    return nb


def render_install(url: str) -> str:
    """The install part of the setup cell for the course at `url` (INSTALL_SOURCE with this URL)."""
    if '"' in url or "\\" in url or not url.strip():
        raise ReleaseError(f"pyproject.toml: [project.urls] Repository {url!r} is not a usable URL")
    first, rest = INSTALL_SOURCE.read_text(encoding="utf-8").split("\n", 1)
    if not (_REPOSITORY_LINE.fullmatch(first) and rest.endswith(INSTALL_END + "\n")):
        raise ReleaseError(f"{INSTALL_SOURCE}: must start with a line `REPOSITORY = \"...\"` and end with the line "
                           f"{INSTALL_END!r}; restore it from git")
    return f'REPOSITORY = "{url}"\n' + rest[:-1]


def render_setup_source(source: str, url: str, where: str = "the setup cell") -> str:
    """`source` with its install part (from the REPOSITORY line on) rendered from INSTALL_SOURCE."""
    lines = source.split("\n")
    starts = [i for i, line in enumerate(lines) if _REPOSITORY_LINE.fullmatch(line)]
    if len(starts) != 1:
        raise ReleaseError(f"{where}: expected exactly one line `REPOSITORY = \"...\"` where the Colab install goes, "
                           f"found {len(starts)}")
    start = end = starts[0]
    if INSTALL_END in lines[start:]:
        end = lines.index(INSTALL_END, start)
    elif start + 1 < len(lines) and lines[start + 1].startswith('if "google.colab" in sys.modules'):
        end = start + 1  # the older form: an if-line and its indented body
        while end + 1 < len(lines) and lines[end + 1].startswith((" ", "\t")):
            end += 1
    return "\n".join(lines[:start] + render_install(url).split("\n") + lines[end + 1:])


def _render_course_cells(nb: nbformat.NotebookNode, lab: str, url: str) -> None:
    """Rewrite the Colab badge and the setup cell's REPOSITORY line from the repository URL."""
    github = url.split("github.com/", 1)[-1]
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "colab-badge" in tags:
            cell.source = (
                "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
                f"(https://colab.research.google.com/github/{github}/blob/main/notebooks/{lab}.ipynb)"
            )
        if "setup" in tags:
            cell.source = render_setup_source(cell.source, url)


SELF_CHECK_INTRO = """## Before you hand in: will this notebook grade?

Save the notebook first (Ctrl-S, or File > Save), then run the cell below. It reads the notebook *as saved* (in \
Colab, the notebook as File > Download saves it) and checks that every graded cell is still there with its type and \
grade_id, that the locked cells are unchanged and that the file is this lab's. It counts the public checks that \
passed in the saved outputs and prints a receipt with the file's SHA-256 and the time. It changes nothing. In Colab, \
hand in the file that File > Download > Download .ipynb gives."""


def render_self_check(nb: nbformat.NotebookNode, lab: str) -> None:
    """Append the self-check cells to the student notebook `nb` (replacing any earlier ones).

    The code cell is not an nbgrader cell (no grade_id: nbgrader and the gradebook never see it as
    graded; the grader skips it, `course_utils.selfcheck.is_check_cell`); JupyterLab keeps it read-only.
    """
    nb.cells = [c for c in nb.cells if not {selfcheck.TAG, f"{selfcheck.TAG}-intro"} & set(c.metadata.get("tags", []))]
    manifest = selfcheck.build_manifest(nb, lab)
    intro = nbformat.v4.new_markdown_cell(SELF_CHECK_INTRO, id=f"{selfcheck.TAG}-intro")
    intro.metadata["tags"] = [f"{selfcheck.TAG}-intro"]
    code = nbformat.v4.new_code_cell(selfcheck.cell_source(lab, selfcheck.manifest_digest(manifest)), id=selfcheck.TAG)
    code.metadata.update({"tags": [selfcheck.TAG], "editable": False, "deletable": False,
                          selfcheck.METADATA_KEY: manifest})
    nb.cells += [intro, code]


def _generate(lab: Lab, nb: nbformat.NotebookNode, url: str, scratch: Path) -> nbformat.NotebookNode:
    """Run nbgrader's generate_assignment on one validated lab notebook inside a scratch course directory."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    # nbgrader calls the `alembic` executable, which lives beside this interpreter.
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    course = scratch / lab.name
    (course / "source" / lab.name).mkdir(parents=True)
    (scratch / "exchange").mkdir(exist_ok=True)
    _render_course_cells(nb, lab.name, url)
    nbformat.write(nb, course / "source" / lab.name / f"{lab.name}.ipynb")

    config = Config()
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.source_directory = "source"
    config.CourseDirectory.release_directory = "release"
    config.ClearSolutions.code_stub = {"python": CODE_STUB}
    config.ClearSolutions.text_stub = TEXT_STUB
    config.Exchange.root = str(scratch / "exchange")
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    result = NbGraderAPI(config=config).generate_assignment(lab.name, force=True, create=True)
    out = course / "release" / lab.name / f"{lab.name}.ipynb"
    if not result.get("success") or not out.exists():
        log = (result.get("log") or "") + (result.get("error") or "")
        raise ReleaseError(f"{lab.source}: nbgrader generate_assignment failed:\n{log.strip()}")
    student = nbformat.read(out, as_version=4)
    for cell in student.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
    render_self_check(student, lab.name)
    return student


def render(labs: list[Lab], root: Path = ROOT) -> dict[Path, str]:
    """The student notebooks' text, keyed by their path, without writing anything."""
    url = repository_url(root)
    errors, validated = [], {}
    for lab in labs:  # validate them all first so one run reports every problem
        try:
            validated[lab.name] = validate(lab.source)
        except ReleaseError as exc:
            errors.append(str(exc))
    if errors:
        raise ReleaseError("\n".join(errors))
    rendered = {}
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        for lab in labs:
            rendered[lab.student] = nbformat.writes(_generate(lab, validated[lab.name], url, Path(tmp))) + "\n"
    return rendered


def release(names: list[str] | None = None, *, check: bool = False, root: Path = ROOT, out=sys.stdout) -> int:
    """Write (or with check=True, compare) notebooks/<lab>.ipynb for the given labs."""
    rendered = render(find_labs(names, root), root)
    if check:
        stale = [p for p, text in rendered.items() if not p.exists() or p.read_text() != text]
        for path in stale:
            print(f"{path.relative_to(root)} is out of date with solutions/: run `make release`", file=out)
        if not stale:
            print(f"notebooks/ is in sync with solutions/ ({len(rendered)} lab(s))", file=out)
        return 1 if stale else 0
    for path, text in rendered.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".ipynb.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        print(f"wrote {path.relative_to(root)}", file=out)
    return 0
