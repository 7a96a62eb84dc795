"""A Lab 01 notebook saved by Google Colab grades the same as the notebook it came from, under both graders.

Colab writes nbformat 4.0 (no cell-level ``id``), adds top-level ``colab`` and ``accelerator``
metadata, and per cell ``metadata.id``, ``metadata.colab``, ``metadata.outputId`` and
``metadata.executionInfo``, with the outputs of the student's run. `colab_saved` rewrites a
notebook that way; a correct and a partly wrong submission (Lab 01's solution, and the solution
with a wrong `collapse_linear`) are saved so and graded by our grader (`grade_notebook`) and by
stock nbgrader: every test cell must score what the unsaved notebooks score. Those scores are
known without grading again (that would double this module's time): the solution scores full
marks (tests/autograder/test_grading.py, test_nbgrader_smoke.py) and the wrong function loses exactly
its cell's points (test_nbgrader_smoke.py, tests/mutations/lab01_perceptron.py).
"""
from __future__ import annotations

import json
import shutil
import zlib

import nbformat
import pytest

from autograder.grading import grade_notebook
from autograder.hidden import load_suite
from tests.conftest import ROOT, child_environment
from tests.autograder.test_nbgrader_smoke import WRONG_COLLAPSE, nbgrader, replace_solution

LAB = "01_perceptron"
SOURCE = ROOT / "solutions" / LAB / f"{LAB}.ipynb"


def _colab_id(*parts) -> str:
    """A stable 12-character id like Colab's (letters and digits)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    value = zlib.crc32("/".join(map(str, parts)).encode()) * 2654435761
    return "".join(alphabet[(value >> (5 * i)) % len(alphabet)] for i in range(12))


def colab_saved(nb: nbformat.NotebookNode) -> str:
    """The JSON text Colab's File > Download > .ipynb writes for `nb` after a run on a GPU runtime."""
    raw = json.loads(nbformat.writes(nb))
    raw["nbformat"], raw["nbformat_minor"] = 4, 0
    raw["metadata"] = {
        "colab": {"provenance": [], "gpuType": "T4", "toc_visible": True, "name": f"{LAB}.ipynb"},
        "kernelspec": {"name": "python3", "display_name": "Python 3"},
        "language_info": {"name": "python"},
        "accelerator": "GPU",
    }
    for index, cell in enumerate(raw["cells"]):
        cell.pop("id", None)  # nbformat 4.0 has no cell ids: Colab keeps its own in the metadata
        meta = cell.setdefault("metadata", {})
        meta["id"] = _colab_id(index, "cell")
        if cell["cell_type"] != "code":
            continue
        cell["execution_count"] = index + 1
        meta["colab"] = {"base_uri": "https://localhost:8080/", "height": 35}
        meta["outputId"] = f"{_colab_id(index, 'out')[:8]}-0d1c-4e2f-9a3b-{_colab_id(index, 'uuid')}"
        meta["executionInfo"] = {
            "status": "ok", "timestamp": 1767225600000 + 1000 * index, "user_tz": -60, "elapsed": 212,
            "user": {"displayName": "A Student", "userId": "01234567890123456789"},
        }
        cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": [f"output of cell {index}\n"]}]
        cell["source"] = cell["source"].splitlines(keepends=True) if isinstance(cell["source"], str) else cell["source"]
    return json.dumps(raw, indent=2, ensure_ascii=False) + "\n"


@pytest.fixture(scope="module")
def submissions(tmp_path_factory):
    """{name: path}: a correct and a partly wrong Lab 01 submission, each as written and as Colab saves it."""
    folder = tmp_path_factory.mktemp("colab-submissions")
    solution = nbformat.read(SOURCE, as_version=4)
    wrong = replace_solution(nbformat.from_dict(solution), "linear_collapse", WRONG_COLLAPSE)
    paths = {}
    for name, nb in {"correct": solution, "partlywrong": wrong}.items():
        paths[name] = folder / f"{name}.ipynb"
        nbformat.write(nb, paths[name])
        paths[f"{name}colab"] = folder / f"{name}colab.ipynb"
        paths[f"{name}colab"].write_text(colab_saved(nb))
    return paths


def test_colab_saved_notebook_looks_like_colabs(submissions):
    """Does the rewrite carry what Colab adds, and keep every cell's nbgrader metadata?"""
    raw = json.loads(submissions["correctcolab"].read_text())
    assert (raw["nbformat"], raw["nbformat_minor"]) == (4, 0)
    assert raw["metadata"]["accelerator"] == "GPU" and "colab" in raw["metadata"]
    code = [c for c in raw["cells"] if c["cell_type"] == "code"]
    assert all({"id", "colab", "outputId", "executionInfo"} <= set(c["metadata"]) for c in code)
    assert all("id" not in c for c in raw["cells"])
    original = nbformat.read(submissions["correct"], as_version=4)
    assert [c["metadata"].get("nbgrader") for c in raw["cells"]] == [c.metadata.get("nbgrader") for c in original.cells]


@pytest.fixture(scope="module")
def expected():
    """Each submission's scores before the Colab save: {name: {grade_id: points}}."""
    maximum = {cell.grade_id: float(cell.points) for cell in load_suite(SOURCE, LAB).cells}
    assert maximum.get("test_linear_collapse"), "Lab 01 has no test_linear_collapse cell with points"
    return {"correct": maximum, "partlywrong": {**maximum, "test_linear_collapse": 0.0}}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["correct", "partlywrong"])
def test_our_grader_scores_colab_saved_notebooks_the_same(submissions, expected, name):
    """Does grade_notebook give each test cell of the Colab-saved copy the score of the original?"""
    result = grade_notebook(LAB, submissions[f"{name}colab"], source=SOURCE, seed=0)
    assert {t["grade_id"]: t["score"] for t in result["tests"]} == expected[name], result
    assert not any("metadata" in error for error in result["errors"]), result["errors"]


@pytest.mark.slow
def test_stock_nbgrader_scores_colab_saved_notebooks_the_same(submissions, expected, tmp_path):
    """Does stock nbgrader's autograde give each test cell of the Colab-saved copies the score of the originals?"""
    env = child_environment()
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions" / LAB, course / "solutions" / LAB)
    nbgrader(["generate_assignment", LAB, "--force"], course, env)
    students = ("correctcolab", "partlywrongcolab")
    for student in students:
        folder = course / "submitted" / student / LAB
        folder.mkdir(parents=True)
        shutil.copy(submissions[student], folder / f"{LAB}.ipynb")
        nbgrader(["db", "student", "add", student], course, env)
    nbgrader(["autograde", LAB, "--force"], course, env)

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="dl-foundations") as gb:
        for student in students:
            grades = {g.name: g.score for g in gb.find_submission_notebook(LAB, LAB, student).grades}
            want = expected[student.removesuffix("colab")]
            assert {k: float(v) for k, v in grades.items() if k in want} == want, f"{student}: {grades}"
            assert set(want) <= set(grades), f"{student}: nbgrader graded {sorted(grades)}"
