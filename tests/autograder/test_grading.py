"""`grade_notebook` and `python -m autograder grade`: honest submissions, unreadable files, the CLI contract."""
from __future__ import annotations

import json
import time

import nbformat
import pytest

from autograder import cli
from autograder.grading import GradingError, grade_notebook
from autograder.hidden import HiddenTestError, load_suite
from autograder.sandbox import Limits
from tests.conftest import ROOT
from tests.files.fixture_lab import LAB, release, source_notebook, with_solution, write_lab

FAST = Limits(cell_timeout_s=10, call_timeout_s=5, test_timeout_s=20, notebook_timeout_s=60, memory_mb=1024)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The fixture lab's source notebook, written to a scratch solutions/ folder."""
    return write_lab(tmp_path_factory.mktemp("course"))


def grade(lab, nb, tmp_path, name="submission.ipynb", **kwargs):
    path = tmp_path / name
    if isinstance(nb, (bytes, str)):
        path.write_bytes(nb if isinstance(nb, bytes) else nb.encode())
    else:
        nbformat.write(nb, path)
    kwargs.setdefault("limits", FAST)
    kwargs.setdefault("seed", 0)
    return grade_notebook(LAB, path, source=lab, **kwargs)


def scores(result):
    return {t["grade_id"]: t["score"] for t in result["tests"]}


def test_solution_scores_full_marks(lab, tmp_path):
    """Does the instructor's own notebook get every point, in the issue's JSON shape?"""
    result = grade(lab, source_notebook(), tmp_path)
    assert result["score"] == result["max_score"] == 5.0
    assert [t["grade_id"] for t in result["tests"]] == ["test_sigmoid", "test_perceptron"]
    assert all(t["passed"] and t["score"] == t["max_score"] for t in result["tests"])
    assert set(result) >= {"lab", "score", "max_score", "tests", "errors", "sandbox", "seed"}
    assert result["errors"] == []
    assert json.loads(json.dumps(result)) == result


def test_release_scores_zero_with_messages(lab, tmp_path):
    """Does the untouched student notebook score 0, each test saying that the stub raised NotImplementedError?"""
    result = grade(lab, release(source_notebook()), tmp_path)
    assert result["score"] == 0 and result["max_score"] == 5.0
    for test in result["tests"]:
        assert not test["passed"] and "NotImplementedError" in test["message"]
    assert "sigmoid(<array (3, 4) float64>)" in result["tests"][0]["message"]


def test_one_wrong_function_loses_only_its_points(lab, tmp_path):
    """Does a sigmoid with the wrong sign lose test_sigmoid's 2 points and nothing else?"""
    result = grade(lab, with_solution(source_notebook(), "sigmoid", "return 1 / (1 + np.exp(z))"), tmp_path)
    assert scores(result) == {"test_sigmoid": 0.0, "test_perceptron": 3.0}
    assert "sigmoid(z) on a (3, 4) array returned" in result["tests"][0]["message"]


def test_correct_but_different_implementation_passes(lab, tmp_path):
    """Does a right answer written another way (float32, prints, a helper) keep full marks?"""
    body = "def _half(x):\n    return 0.5 * x\nprint('computing')\nreturn (0.5 + _half(np.tanh(_half(z)))).astype(np.float32)"
    result = grade(lab, with_solution(source_notebook(), "sigmoid", body), tmp_path)
    assert result["score"] == 5.0, result["tests"]


def test_cell_errors_are_recorded_and_execution_goes_on(lab, tmp_path):
    """Is a failing cell's error listed (first line) while the cells after it still run?"""
    nb = source_notebook()
    nb.cells.insert(2, nbformat.v4.new_code_cell("raise RuntimeError('oops\\nsecond line')"))
    result = grade(lab, nb, tmp_path)
    assert result["score"] == 5.0
    assert result["errors"] == ["cell 2: RuntimeError: oops"]


def test_seed_is_reported_and_reproducible(lab, tmp_path):
    """Is a random seed drawn and reported when none is given, and does the same seed give the same messages?"""
    wrong = with_solution(source_notebook(), "sigmoid", "return 1 / (1 + np.exp(z))")
    first = grade(lab, wrong, tmp_path, seed=None)
    again = grade(lab, wrong, tmp_path, seed=first["seed"])
    assert isinstance(first["seed"], int)
    assert first["tests"][0]["message"] == again["tests"][0]["message"]


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file"),
    (b"{not json", "not a valid notebook file"),
    (b"[1, 2]", "not a notebook"),
    (json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}).encode(), "no cells"),
    (b"\xff\xfe\x00garbage", "not a valid notebook file"),
])
def test_unreadable_submissions_score_zero_with_the_reason(lab, tmp_path, content, reason):
    """Is an empty, non-JSON or cell-less file graded 0 with the reason in errors, never an exception?"""
    result = grade(lab, content, tmp_path)
    assert result["score"] == 0 and result["max_score"] == 5.0 and len(result["tests"]) == 2
    assert reason in result["errors"][0]
    assert all(reason in t["message"] for t in result["tests"])


def test_nbformat3_submission_is_upgraded_and_graded(lab, tmp_path):
    """Is an old nbformat 3 notebook converted and graded like its v4 equivalent?"""
    v3 = nbformat.convert(source_notebook(), 3)
    result = grade(lab, nbformat.writes(v3, version=3), tmp_path)
    assert result["score"] == 5.0, result


def test_oversized_submission_is_refused_quickly(lab, tmp_path):
    """Is a notebook over the size limit graded 0 without being parsed?"""
    nb = source_notebook()
    nb.cells[-1].outputs = [nbformat.v4.new_output("stream", text="x" * (3 << 20))]
    start = time.monotonic()
    result = grade(lab, nb, tmp_path, limits=Limits(notebook_mb=2))
    assert time.monotonic() - start < 2
    assert result["score"] == 0 and "more than the 2 MB limit" in result["errors"][0]


def test_source_test_cell_without_hidden_tests_is_an_instructor_error(tmp_path):
    """Does a test cell with only public checks fail loudly at load time, naming the cell?"""
    nb = source_notebook()
    nb.cells[3].source = "assert sigmoid(0) == 0.5"
    path = tmp_path / "lab.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(HiddenTestError, match="test_sigmoid.*no hidden tests"):
        load_suite(path)


def test_only_hidden_test_functions_are_compiled(lab):
    """Are the import and run_hidden_test lines of a hidden region left out of the grader's tests?"""
    suite = load_suite(lab)
    assert [[t.name for t in c.tests] for c in suite.cells] == [
        ["hidden_test_sigmoid", "hidden_test_sigmoid_shape"], ["hidden_test_perceptron"]]
    assert "run_hidden_test" not in suite.cells[0].tests[0].fn.__globals__


def test_grading_errors_for_bad_invocations(lab, tmp_path):
    """Does grade_notebook raise GradingError for an unknown lab or a missing file?"""
    with pytest.raises(GradingError, match="unknown lab"):
        grade_notebook("no_such_lab", tmp_path / "x.ipynb")
    with pytest.raises(GradingError, match="no such submission"):
        grade_notebook(LAB, tmp_path / "missing.ipynb", source=lab)


# ------------------------------------------------------------------- CLI
def test_cli_unknown_lab_and_missing_file_exit_2(capsys, tmp_path):
    """Do an unknown lab and a missing file exit 2 with one `error:` line on stderr and nothing on stdout?"""
    assert cli.main(["grade", "no_such_lab", str(tmp_path / "x.ipynb"), "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: unknown lab") and err.count("\n") == 1
    labs = sorted(p.parent.name for p in ROOT.glob("solutions/*/*.ipynb") if p.stem == p.parent.name)
    if labs:
        assert cli.main(["grade", labs[0], str(tmp_path / "missing.ipynb")]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.startswith("error: no such submission file")


def test_cli_help_has_an_example(capsys):
    """Does `grade --help` describe the command and show an example?"""
    with pytest.raises(SystemExit):
        cli.main(["grade", "--help"])
    assert "example: python -m autograder grade" in capsys.readouterr().out


LAB01 = ROOT / "solutions" / "01_perceptron" / "01_perceptron.ipynb"


@pytest.mark.slow
def test_lab01_solution_full_marks_and_release_zero(capsys, tmp_path):
    """Does `grade 01_perceptron` give the solution full marks and the stubbed release 0, as one JSON object each?"""
    assert cli.main(["grade", "01_perceptron", str(LAB01), "--json", "--seed", "0"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["score"] == result["max_score"] > 0, result
    student = tmp_path / "01_perceptron.ipynb"
    nbformat.write(release(nbformat.read(LAB01, as_version=4)), student)
    assert cli.main(["grade", "01_perceptron", str(student), "--json"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out)
    assert out.count("\n") == 1 and result["score"] == 0 and result["max_score"] > 0
    assert all("NotImplementedError" in t["message"] for t in result["tests"]), result["tests"]


def test_what_the_hidden_tests_import_is_known_before_they_run():
    """Does the suite list the modules its hidden tests import (TensorFlow through import_tensorflow() too), so the
    grader can import them while the kernel runs, and does a module that cannot be imported stop nothing?"""
    import sys

    from autograder.grading import _import_ahead

    suite = load_suite(ROOT / "solutions" / "02_dense_networks" / "02_dense_networks.ipynb")
    assert {"torch", "tensorflow", "scipy.special", "course_utils.checks"} <= set(suite.modules), suite.modules
    thread = _import_ahead(("autograder_no_such_module", "json"))
    assert thread is not None
    thread.join(timeout=30)
    assert not thread.is_alive() and "autograder_no_such_module" not in sys.modules
    assert _import_ahead(("json", "numpy")) is None  # nothing left to import: no thread


def test_torch_dynamo_is_imported_ahead_with_torch_optim(monkeypatch):
    """With torch.optim among the tests' imports, is torch._dynamo imported ahead too (a first optimizer step would
    otherwise import it during a test, seconds on the grading path), right after torch and before TensorFlow, as
    in the kernel's template; and not where the tests use no optimizer (it would only take CPU from the kernel)?"""
    import sys

    import course_utils.devices
    from autograder import grading

    imported = []
    monkeypatch.setattr(grading.importlib, "import_module", imported.append)
    monkeypatch.setattr(course_utils.devices, "import_tensorflow", lambda: imported.append("tensorflow"))
    for name in ("torch", "torch._dynamo", "tensorflow"):
        monkeypatch.setitem(sys.modules, name, None)  # as if not imported yet
    grading._import_ahead(("numpy", "tensorflow", "torch", "torch.optim")).join(timeout=30)
    assert imported[:3] == ["torch", "torch._dynamo", "tensorflow"], imported
    imported.clear()
    grading._import_ahead(("numpy", "tensorflow", "torch")).join(timeout=30)  # no optimizer in the tests
    assert imported == ["tensorflow", "torch"], imported


def test_grader_processes_do_not_build_the_rfc3987_grammar():
    """Do the grader's processes (the command line, the batch's coordinator and workers) start without jsonschema's
    optional RFC 3987 grammar (about 1.5 s of start-up), while nbformat still reads and validates notebooks?"""
    import subprocess
    import sys

    solution = ROOT / "solutions" / "01_perceptron" / "01_perceptron.ipynb"
    probe = ("import sys\n"
             "import autograder.batch, nbformat\n"
             f"nbformat.validate(nbformat.read({str(solution)!r}, as_version=4))\n"
             "print('grammar built' if sys.modules.get('rfc3987_syntax') else 'no grammar')\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "no grammar", (done.stdout, done.stderr)


def test_a_grading_run_without_a_kernel_reports_what_it_knows(lab):
    """Without a kernel started, does a GradingRun say which test cells the submission lacks and which locked cells
    it edited, score every cell 0 "not graded" with the reason, cap the errors, and clean every string?"""
    from autograder.grading import MAX_ERRORS, GradingRun

    suite = load_suite(lab, LAB)
    run = GradingRun(suite, FAST, seed=5)
    run.check_cells(["test_sigmoid"], ["setup"])
    run.not_graded(suite.cells[1:], "the kernel could not be started (\x1b[31mno\x1b[0m)")
    run.errors += [f"error {i}" for i in range(MAX_ERRORS)]
    result = run.result(LAB, time.monotonic())
    assert result["seed"] == 5 and result["kernels"] == 0 and result["locked_cells_edited"] == ["setup"]
    assert "no cell with grade_id test_perceptron" in result["errors"][0]
    assert "locked cell setup was" in result["errors"][1]
    assert len(result["errors"]) == MAX_ERRORS + 1 and result["errors"][-1] == "... and 2 more errors"
    assert [t["message"] for t in result["tests"]] == ["not graded",
                                                       "not graded: the kernel could not be started (no)"]
    assert result["score"] == 0.0 and result["max_score"] == suite.max_score
