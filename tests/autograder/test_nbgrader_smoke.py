"""Stock nbgrader in a scratch course: the solution scores full marks, the release 0, one wrong function loses only its points."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys

import nbformat
import pytest

from tests.conftest import ROOT, child_environment

LAB = "01_perceptron"

# collapse_linear that forgets to push the earlier biases through the later weights.
WRONG_COLLAPSE = """\
W, b = layers[0]
for W_next, b_next in layers[1:]:
    W = W @ W_next
    b = b_next
return W, b"""


def replace_solution(nb, grade_id: str, body: str):
    """Replace the solution region of one cell by `body`, indented like the region markers."""
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    pattern = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION[ \t]*$", re.S | re.M)
    match = pattern.search(cell.source)
    assert match, f"no solution region in {grade_id}"
    indented = "\n".join(match.group(1) + line for line in body.splitlines())
    cell.source = cell.source[: match.start()] + indented + cell.source[match.end():]
    return nb


def nbgrader(args, course, env):
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Autograde three submissions with stock nbgrader; return {student: {grade_id: (score, max_score)}}."""
    env = child_environment()
    course = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions" / LAB, course / "solutions" / LAB)
    nbgrader(["generate_assignment", LAB, "--force"], course, env)

    solution = nbformat.read(ROOT / "solutions" / LAB / f"{LAB}.ipynb", as_version=4)
    submissions = {
        "solution": solution,
        "untouched": nbformat.read(ROOT / "notebooks" / f"{LAB}.ipynb", as_version=4),
        "wrongcollapse": replace_solution(nbformat.from_dict(solution), "linear_collapse", WRONG_COLLAPSE),
    }
    for student, nb in submissions.items():
        folder = course / "submitted" / student / LAB
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{LAB}.ipynb")
        nbgrader(["db", "student", "add", student], course, env)
    nbgrader(["autograde", LAB, "--force"], course, env)

    from nbgrader.api import Gradebook

    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="dl-foundations") as gb:
        for student in submissions:
            nb = gb.find_submission_notebook(LAB, LAB, student)
            scores[student] = {g.name: (g.score, g.max_score) for g in nb.grades}
    return scores


def test_solution_scores_full_marks(graded):
    """Does the instructor's solution get every point under stock nbgrader?"""
    grades = graded["solution"]
    assert grades and all(score == max_score > 0 for score, max_score in grades.values()), grades


def test_untouched_release_scores_zero(graded):
    """Does the unedited student notebook score 0 without crashing the grader?"""
    grades = graded["untouched"]
    assert set(grades) == set(graded["solution"])
    assert all(score == 0 for score, _ in grades.values()), grades


def test_one_wrong_function_loses_only_its_points(graded):
    """Does a wrong collapse_linear lose exactly test_linear_collapse's points and nothing else?"""
    grades = graded["wrongcollapse"]
    for grade_id, (score, max_score) in grades.items():
        expected = 0 if grade_id == "test_linear_collapse" else max_score
        assert score == expected, f"{grade_id}: {score}/{max_score}"
