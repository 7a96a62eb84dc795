"""make release: nbgrader's generate_assignment plus validation, course cells and sync checks."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder import cli
from autograder.release import CODE_STUB, ROOT, ReleaseError, find_labs, release, repository_url
from tests.files.cells import nbgrader_cell

LAB = "99_tiny"


def tiny_notebook():
    """A minimal lab in the course's form: badge, setup, one exercise and its test."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbgrader_cell("[![Open In Colab](old-badge)](old-url)", kind="markdown", tags=["colab-badge"]),
        nbgrader_cell('REPOSITORY = "https://example.org/old"\nimport numpy as np', "setup", tags=["setup"], locked=True),
        nbgrader_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION", "double", solution=True),
        nbgrader_cell("assert double(2) == 4\n### BEGIN HIDDEN TESTS\nassert double(-3) == -6\n### END HIDDEN TESTS",
              "test_double", grade=True, locked=True, points=1),
    ]
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="leftover output\n")]
    nb.cells[2].execution_count = 7
    return nb


@pytest.fixture
def course(tmp_path):
    """A scratch course root holding pyproject.toml and one tiny lab."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "solutions" / LAB).mkdir(parents=True)
    nbformat.write(tiny_notebook(), tmp_path / "solutions" / LAB / f"{LAB}.ipynb")
    return tmp_path


def _write(course, nb):
    nbformat.write(nb, course / "solutions" / LAB / f"{LAB}.ipynb")


def test_release_writes_student_notebook(course):
    """Does the release stub the solution, drop hidden tests and outputs, and render the badge?"""
    assert release([LAB], root=course) == 0
    student = nbformat.read(course / "notebooks" / f"{LAB}.ipynb", as_version=4)
    sources = [c.source for c in student.cells]
    assert "    " + CODE_STUB.replace("\n", "\n    ") in sources[2] and "return 2 * x" not in sources[2]
    assert "def double(x):" in sources[2]
    assert "HIDDEN" not in sources[3] and "double(-3)" not in sources[3]
    assert "assert double(2) == 4" in sources[3]
    assert all(c.get("outputs", []) == [] and c.get("execution_count") is None for c in student.cells if c.cell_type == "code")
    url = repository_url(course)
    github = url.split("github.com/")[1]
    assert f"colab.research.google.com/github/{github}/blob/main/notebooks/{LAB}.ipynb" in sources[0]
    assert f'REPOSITORY = "{url}"' in sources[1]
    assert student.cells[3].metadata["nbgrader"]["points"] == 1


def test_release_ends_with_the_self_check_and_the_grader_skips_it(course):
    """Is the last cell the self-check ("will this notebook grade?") with the release's manifest, outside nbgrader,
    and does the grader leave it out of the code it runs, unless a student put code into it?"""
    from autograder.grading import read_submission
    from autograder.sandbox import Limits
    from course_utils import selfcheck

    release([LAB], root=course)
    path = course / "notebooks" / f"{LAB}.ipynb"
    student = nbformat.read(path, as_version=4)
    intro, check = student.cells[-2:]
    assert intro.cell_type == "markdown" and "will this notebook grade?" in intro.source
    assert check.metadata["tags"] == [selfcheck.TAG] and "nbgrader" not in check.metadata
    manifest = check.metadata[selfcheck.METADATA_KEY]
    assert manifest["lab"] == LAB
    assert [(e["grade_id"], e["role"], "hash" in e) for e in manifest["cells"]] == [
        ("setup", "locked", True), ("double", "answer", False), ("test_double", "test", True)]
    assert check.source == selfcheck.cell_source(LAB, selfcheck.manifest_digest(manifest))
    assert selfcheck.check(LAB, selfcheck.manifest_digest(manifest), path=path).ok
    assert len([c for c in student.cells if selfcheck.TAG in c.metadata.get("tags", [])]) == 1

    code, ids, problem, _ = read_submission(path, Limits())
    assert problem is None and "self_check" not in ids
    assert not any("course_utils.selfcheck" in source for _, source in code)
    check.source += "\nprint('my own line')"  # no longer the released cell: it is the student's code, and runs
    nbformat.write(student, path)
    code, _, _, _ = read_submission(path, Limits())
    assert any("course_utils.selfcheck" in source for _, source in code)


def test_release_is_deterministic_and_check_detects_drift(course):
    """Does --check pass right after a release and fail, naming `make release`, after an edit?"""
    release([LAB], root=course)
    first = (course / "notebooks" / f"{LAB}.ipynb").read_text()
    release([LAB], root=course)
    assert (course / "notebooks" / f"{LAB}.ipynb").read_text() == first
    assert release([LAB], check=True, root=course) == 0
    nb = tiny_notebook()
    nb.cells[3].source = nb.cells[3].source.replace("double(2) == 4", "double(5) == 10")
    _write(course, nb)
    import io
    out = io.StringIO()
    assert release([LAB], check=True, root=course, out=out) == 1
    assert f"notebooks/{LAB}.ipynb" in out.getvalue() and "make release" in out.getvalue()
    assert (course / "notebooks" / f"{LAB}.ipynb").read_text() == first, "--check must not write"


def _unclosed(nb):
    nb.cells[2].source = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x"


def _outside(nb):
    nb.cells.insert(2, nbgrader_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION"))


def _duplicate(nb):
    nb.cells[3].metadata["nbgrader"]["grade_id"] = "double"


def _no_points(nb):
    del nb.cells[3].metadata["nbgrader"]["points"]


def _stray_end(nb):
    nb.cells[3].source += "\n### END HIDDEN TESTS"


@pytest.mark.parametrize(
    "break_it, expected",
    [
        (_unclosed, "cell 2 (grade_id 'double'): '### BEGIN SOLUTION' is never closed"),
        (_outside, "cell 2: has a solution region but is not a solution cell"),
        (_duplicate, "cell 3 (grade_id 'double'): duplicate grade_id 'double' (also cell 2)"),
        (_no_points, "cell 3 (grade_id 'test_double'): graded cell without points"),
        (_stray_end, "'### END HIDDEN TESTS' without a matching"),
    ],
    ids=["unclosed-region", "region-outside-solution-cell", "duplicate-grade-id", "test-without-points", "stray-end"],
)
def test_bad_solution_notebook_stops_before_writing(course, break_it, expected, capsys):
    """Does a broken solution notebook stop the release, name notebook and cell, and leave notebooks/ alone?"""
    release([LAB], root=course)
    before = (course / "notebooks" / f"{LAB}.ipynb").read_text()
    nb = tiny_notebook()
    break_it(nb)
    _write(course, nb)
    with pytest.raises(ReleaseError) as info:
        release([LAB], root=course)
    message = str(info.value)
    assert f"solutions/{LAB}/{LAB}.ipynb" in message
    assert expected in message
    assert (course / "notebooks" / f"{LAB}.ipynb").read_text() == before


def test_invalid_json_is_named(course):
    """Is a notebook that is not JSON reported with its path instead of a traceback?"""
    (course / "solutions" / LAB / f"{LAB}.ipynb").write_text("{not json")
    with pytest.raises(ReleaseError, match=rf"{LAB}\.ipynb: cannot read the notebook"):
        release([LAB], root=course)
    assert not (course / "notebooks").exists()


def test_unknown_lab_lists_known_ones(course):
    """Does asking for a lab that does not exist say which labs do?"""
    with pytest.raises(ReleaseError, match=rf"unknown lab 00_nope.*labs found: {LAB}"):
        find_labs(["00_nope"], root=course)


def test_cli_unknown_lab_exits_2_with_an_error_line(capsys):
    """Does the CLI exit 2 with an `error:` line for an unknown lab?"""
    assert cli.main(["release", "00_no_such_lab"]) == 2
    assert "error: unknown lab 00_no_such_lab" in capsys.readouterr().err


def test_cli_help_has_an_example(capsys):
    """Does every subcommand's help show an example?"""
    with pytest.raises(SystemExit):
        cli.main(["release", "--help"])
    assert "example: python -m autograder release" in capsys.readouterr().out


def test_committed_notebooks_are_in_sync_with_solutions(capsys):
    """Is notebooks/ exactly what `make release` would write from solutions/?"""
    status = release(check=True)
    assert status == 0, capsys.readouterr().out


def test_every_lab_has_a_released_notebook_without_outputs():
    """Does each solutions/<lab> have a committed notebooks/<lab>.ipynb with no outputs or execution counts?"""
    labs = find_labs()
    for lab in labs:
        assert lab.student.exists(), f"{lab.student} missing: run `make release`"
        nb = json.loads(lab.student.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, lab.student
