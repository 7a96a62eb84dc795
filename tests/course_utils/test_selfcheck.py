"""course_utils.selfcheck: the last cell of every lab, "will this notebook grade?", on saved notebooks.

The notebooks are the committed releases (notebooks/<lab>.ipynb), saved to a scratch folder as a
student's JupyterLab would save them, then changed the way students change them by accident.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from course_utils import selfcheck

ROOT = Path(__file__).resolve().parents[2]
LAB = "01_perceptron"
OTHER = "02_dense_networks"


def released(lab: str = LAB) -> dict:
    return json.loads((ROOT / "notebooks" / f"{lab}.ipynb").read_text())


def release_of(nb: dict) -> str:
    """The digest the check cell of `nb` is called with (what its source says)."""
    cell = next(c for c in nb["cells"] if selfcheck.TAG in c["metadata"].get("tags", []))
    source = "".join(cell["source"])
    return source.split('release="')[1].split('"')[0]


def save(nb: dict, path: Path) -> Path:
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return path


def cell_of(nb: dict, grade_id: str) -> dict:
    return next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def check_file(path: Path, lab: str = LAB, nb: dict | None = None, **kwargs) -> selfcheck.Report:
    return selfcheck.check(lab, release_of(nb or released(lab)), path=path, shell=types.SimpleNamespace(user_ns={}),
                           **kwargs)


@pytest.fixture(autouse=True)
def _not_in_colab(monkeypatch):
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab._message", raising=False)


def test_every_released_lab_ends_with_its_check_cell():
    """Does each released notebook end with the check cell, called with its lab and its manifest's digest?"""
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        cell = nb["cells"][-1]
        manifest = cell["metadata"][selfcheck.METADATA_KEY]
        assert selfcheck.TAG in cell["metadata"]["tags"] and "nbgrader" not in cell["metadata"], path
        assert "".join(cell["source"]) == selfcheck.cell_source(path.stem, selfcheck.manifest_digest(manifest))
        assert selfcheck.is_check_cell(cell) and manifest["lab"] == path.stem
        graded = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id")]
        assert [e["grade_id"] for e in manifest["cells"]] == [c["metadata"]["nbgrader"]["grade_id"] for c in graded]


def test_intact_saved_notebook_gives_a_receipt(tmp_path):
    """An untouched release, saved: will grade; the receipt names the lab, the cells, the checks, the hash, the time."""
    path = save(released(), tmp_path / f"{LAB}.ipynb")
    report = check_file(path)
    assert report.ok, report.text()
    assert report.answers == (5, 5) and report.tests == (5, 5) and report.locked == (6, 6)
    assert report.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert report.checks_passed == [] and len(report.checks_not_run) == 5
    text = report.text()
    for expected in ("Lab 01 (01_perceptron)", "graded cells:    10 of 10 found", "locked cells:    6 of 6 unchanged",
                     "0 of 5 passed in the saved outputs; none has run", report.sha256, "checked at:",
                     "✔ This notebook will grade", "not the whole grade"):
        assert expected in text, text


def test_public_checks_are_counted_from_the_saved_outputs(tmp_path):
    """Passed, failed (with the error's first line) and not-run test cells, as the saved outputs show them."""
    nb = released()
    for n, grade_id in enumerate(["test_activations", "test_linear_collapse", "test_decision_boundary"], 1):
        cell = cell_of(nb, grade_id)
        cell["execution_count"] = n
        cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["✔ all good\n"]}]
    failed = cell_of(nb, "test_perceptron")
    failed["execution_count"] = 4
    failed["outputs"] = [{"output_type": "error", "ename": "CheckFailed", "traceback": ["\x1b[0;31m..."],
                          "evalue": "perceptron_forward(x, w, w0) returned shape (3, 1), expected (3,)\nmore"}]
    report = check_file(save(nb, tmp_path / "lab.ipynb"))
    assert report.ok and report.checks_passed == ["test_activations", "test_linear_collapse", "test_decision_boundary"]
    assert report.checks_failed == [("test_perceptron",
                                     "CheckFailed: perceptron_forward(x, w, w0) returned shape (3, 1), expected (3,)")]
    assert report.checks_not_run == ["test_frameworks"]
    text = report.text()
    assert "3 of 5 passed in the saved outputs; failed: test_perceptron; not run: test_frameworks" in text
    assert "  - test_perceptron: CheckFailed: perceptron_forward(x, w, w0) returned shape (3, 1)" in text


def test_graded_cell_turned_into_markdown_is_named(tmp_path):
    """The classic accident: a graded code cell retyped to Markdown is named, with the fix."""
    nb = released()
    cell = cell_of(nb, "perceptron")
    cell["cell_type"] = "markdown"
    del cell["outputs"], cell["execution_count"]
    report = check_file(save(nb, tmp_path / "lab.ipynb"))
    assert not report.ok and report.answers == (4, 5)
    assert len(report.problems) == 1
    assert report.problems[0].startswith("cell `perceptron` was turned into Markdown: restore it from the release")
    assert "✘ The grader would not find your work" in report.text()


def test_deleted_graded_cell_is_named(tmp_path):
    nb = released()
    nb["cells"].remove(cell_of(nb, "linear_collapse"))
    nb["cells"].remove(cell_of(nb, "test_frameworks"))
    report = check_file(save(nb, tmp_path / "lab.ipynb"))
    assert not report.ok and report.answers == (4, 5) and report.tests == (4, 5) and report.locked == (5, 6)
    assert [p.split(":")[0] for p in report.problems] == ["cell `linear_collapse` is missing",
                                                         "cell `test_frameworks` is missing"]
    assert "your answer cell was deleted" in report.problems[0] and "the test cell was deleted" in report.problems[1]


def test_graded_cell_that_lost_its_metadata_or_was_copied_is_named(tmp_path):
    nb = released()
    answer = cell_of(nb, "perceptron")
    nb["cells"].insert(nb["cells"].index(answer), copy.deepcopy(answer))  # a duplicated cell keeps its grade_id
    cell_of(nb, "frameworks")["metadata"]["nbgrader"]["grade_id"] = "frameworks_v2"
    report = check_file(save(nb, tmp_path / "lab.ipynb"))
    assert any(p.startswith("cell `perceptron` appears 2 times") for p in report.problems), report.problems
    assert any(p.startswith("cell `frameworks` is missing") and "`frameworks_v2`" in p for p in report.problems)


def test_edited_locked_cells_are_named_and_whitespace_is_not_an_edit(tmp_path):
    nb = released()
    test = cell_of(nb, "test_perceptron")
    test["source"] = ["pass  # the checks are annoying\n"]
    setup = cell_of(nb, "setup")
    setup["source"] = [line.rstrip("\n") + "   \n" for line in setup["source"]]  # trailing blanks, as editors add
    report = check_file(save(nb, tmp_path / "lab.ipynb"))
    assert report.locked == (5, 6) and len(report.problems) == 1, report.problems
    assert report.problems[0].startswith("locked cell `test_perceptron` was edited: "
                                         "the grader runs the release's version")
    assert "public checks may pass here and fail there" in report.problems[0]


def test_malformed_cells_are_reported_not_raised(tmp_path):
    """Cells that are not objects, metadata that is not an object: named as missing cells, never a traceback."""
    nb = released()
    cell_of(nb, "perceptron")["metadata"] = ["not", "an", "object"]
    nb["cells"].insert(0, "not a cell")
    report = check_file(save(nb, tmp_path / "lab.ipynb"))
    assert report.readable and [p.split(":")[0] for p in report.problems] == ["cell `perceptron` is missing"]


def test_another_labs_notebook_is_never_accepted(tmp_path):
    """Lab 01's check reading Lab 02's saved file (a kernel shared between notebooks) says whose file it is."""
    path = save(released(OTHER), tmp_path / f"{LAB}.ipynb")  # renamed: the name proves nothing
    report = check_file(path, LAB, released(LAB))
    assert not report.ok and report.other_lab == OTHER
    assert "is the notebook of Lab 02 (02_dense_networks), not of Lab 01 (01_perceptron)" in report.text()


def test_notebook_without_a_check_cell_is_named_by_its_badge(tmp_path):
    """A Lab 02 file from before the check existed (no check cell) is still recognised by its Colab badge."""
    nb = released(OTHER)
    ours = {"self-check", "self-check-intro"}
    nb["cells"] = [c for c in nb["cells"] if not set(c["metadata"].get("tags", [])) & ours]
    report = check_file(save(nb, tmp_path / "old.ipynb"), LAB, released(LAB))
    assert report.other_lab == OTHER and not report.ok


def test_edited_manifest_or_another_release_is_unreadable(tmp_path):
    nb = released()
    nb["cells"][-1]["metadata"][selfcheck.METADATA_KEY]["cells"].pop()
    report = check_file(save(nb, tmp_path / "lab.ipynb"), nb=released())
    assert not report.readable and "another release of this lab" in report.why_unreadable
    del nb["cells"][-1]["metadata"][selfcheck.METADATA_KEY]  # an editor that drops unknown cell metadata
    report = check_file(save(nb, tmp_path / "lab.ipynb"), nb=released())
    assert not report.readable and "lost its hidden metadata" in report.why_unreadable
    assert "notebooks/01_perceptron.ipynb, the last cell" in report.why_unreadable


@pytest.mark.parametrize("content, said", [
    (None, "does not exist: it was never saved, or it was renamed or moved"),
    (b"", "is empty"),
    (b'{"cells": [', "is not a readable notebook (not JSON"),
    (b'{"metadata": {}}', "is not a notebook (no list of cells)"),
    (b"\xff\xfe not utf-8", "is not a readable notebook"),
])
def test_unreadable_or_absent_file_says_cannot_read_and_how_to_save(tmp_path, content, said):
    path = tmp_path / f"{LAB}.ipynb"
    if content is not None:
        path.write_bytes(content)
    report = check_file(path)
    assert not report.readable and not report.ok
    text = report.text()
    assert text.startswith("✘ Cannot check Lab 01 (01_perceptron): ") and said in text, text
    assert "Save the notebook (Ctrl-S, or File > Save)" in text and "File > Download > Download .ipynb" in text


def test_outside_colab_and_jupyterlab_it_says_it_cannot_tell(capsys):
    selfcheck.run(LAB, release_of(released()))  # no Colab, no session: as under nbgrader's or our grader's kernel
    out = capsys.readouterr().out
    assert out.startswith("✘ Cannot check Lab 01 (01_perceptron): this check cannot tell which file")
    assert f"python -m course_utils.selfcheck path/to/{LAB}.ipynb" in out


def test_jupyterlab_session_path_is_read(tmp_path, monkeypatch):
    """ipykernel's __session__ (from JPY_SESSION_NAME), the variable itself, and a path relative to the server root."""
    path = save(released(), tmp_path / f"{LAB}.ipynb")
    release = release_of(released())
    shell = types.SimpleNamespace(user_ns={"__session__": str(path)}, execution_count=1)
    report = selfcheck.check(LAB, release, shell=shell)
    assert report.ok and report.source == str(path)
    monkeypatch.setenv("JPY_SESSION_NAME", f"notebooks/{LAB}.ipynb")  # relative to the server's root
    monkeypatch.chdir(tmp_path)  # the kernel's working directory is the notebook's folder
    report = selfcheck.check(LAB, release, shell=types.SimpleNamespace(user_ns={}))
    assert report.ok and Path(report.source) == path


def test_cells_run_after_the_last_save_give_a_note(tmp_path):
    """Cells run after the save (IPython's input history beyond the file's last execution count) give a note;
    runs of the check cell itself do not, nor does a file saved from an earlier kernel."""
    nb = released()
    cell_of(nb, "setup")["execution_count"] = 1
    cell_of(nb, "activations")["execution_count"] = 2
    path = save(nb, tmp_path / f"{LAB}.ipynb")
    check_source = "".join(nb["cells"][-1]["source"])
    history = ["", "# setup", "def sigmoid(z): ...", "x = 1", "y = 2", check_source]  # this cell is [5]
    shell = types.SimpleNamespace(user_ns={"__session__": str(path)},
                                  history_manager=types.SimpleNamespace(input_hist_raw=history))
    report = selfcheck.check(LAB, release_of(nb), shell=shell)
    assert report.ok and len(report.notes) == 1
    assert report.notes[0].startswith("this kernel has run 2 cells since the file was saved (the saved file's last "
                                      "run is [2], this cell is [5])"), report.notes
    assert "Note: this kernel has run 2 cells" in report.text()
    history[3:5] = [check_source, check_source + "\n"]  # only this check ran since the save
    assert selfcheck.check(LAB, release_of(nb), shell=shell).notes == []
    del history[2:]  # a new kernel: [1] is this cell, the file has runs up to [2]
    history.append(check_source)
    assert selfcheck.check(LAB, release_of(nb), shell=shell).notes == []


def colab_json(nb: dict) -> dict:
    """The notebook as Colab's front end sends it: sources as lists of lines, Colab's own metadata added."""
    nb = copy.deepcopy(nb)
    nb["metadata"]["colab"] = {"provenance": [], "name": f"{LAB}.ipynb"}
    for cell in nb["cells"]:
        cell.pop("id", None)
        cell["metadata"]["id"] = "abcdefgh1234"
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        cell["source"] = text.splitlines(keepends=True)
    return nb


def test_colab_reads_the_notebook_through_its_message_channel(colab):
    nb = colab_json(released())
    calls = colab({"ipynb": nb})
    report = selfcheck.check(LAB, release_of(released()), shell=types.SimpleNamespace(user_ns={}))
    assert calls == [("get_ipynb", selfcheck.COLAB_TIMEOUT_S)]
    assert report.ok and report.source.startswith("Colab") and report.saved_at is None
    assert report.hash_of == "of the notebook's content" and len(report.sha256) == 64
    text = report.text()
    assert "graded cells:    10 of 10 found" in text and "0 of 5 passed in the notebook's outputs" in text


@pytest.mark.parametrize("reply, said", [
    (None, "Colab did not send the notebook within 1.5 s"),
    (RuntimeError("frontend error"), "Colab did not send the notebook (RuntimeError: frontend error)"),
    ({"error": "no notebook"}, "Colab answered without a notebook"),
])
def test_colab_without_an_answer_says_so(colab, reply, said):
    colab(reply)
    report = selfcheck.check(LAB, release_of(released()), shell=types.SimpleNamespace(user_ns={}))
    assert not report.readable and said in report.text()
    assert "Run this cell again in a moment. To hand in: File > Save, then File > Download" in report.text()


def test_colab_timeout_names_a_longer_wait(colab, capsys):
    """A page too slow for the 1.5 s default: the message gives the call with a longer wait, and that call waits."""
    colab(None)
    release = release_of(released())
    selfcheck.run(LAB, release)
    out = capsys.readouterr().out
    assert f'run course_utils.selfcheck.run("{LAB}", release="{release}", wait_s=10) in a new cell' in out
    calls = colab({"ipynb": colab_json(released())})
    selfcheck.run(LAB, release, wait_s=10)
    assert calls == [("get_ipynb", 10)] and "✔ This notebook will grade" in capsys.readouterr().out


def test_the_check_changes_nothing(tmp_path, capsys):
    """The notebook file keeps its bytes and its modification time; the folder gains no file."""
    nb = released()
    cell_of(nb, "perceptron")["cell_type"] = "markdown"  # a problem to report: still nothing is written
    path = save(nb, tmp_path / f"{LAB}.ipynb")
    os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    before = (path.read_bytes(), path.stat().st_mtime_ns, sorted(tmp_path.iterdir()))
    shell = types.SimpleNamespace(user_ns={"__session__": str(path)})
    report = selfcheck.check(LAB, release_of(nb), shell=shell)
    assert not report.ok and report.saved_at.timestamp() == 1_700_000_000
    assert selfcheck.main([str(path)]) == 1
    assert "turned into Markdown" in capsys.readouterr().out
    assert (path.read_bytes(), path.stat().st_mtime_ns, sorted(tmp_path.iterdir())) == before


def test_command_line_checks_a_file_against_its_own_check_cell(tmp_path, capsys):
    assert selfcheck.main([str(save(released(), tmp_path / "handed-in.ipynb"))]) == 0
    assert "✔ This notebook will grade" in capsys.readouterr().out
    plain = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    assert selfcheck.main([str(save(plain, tmp_path / "other.ipynb"))]) == 1
    assert "has no self-check cell: it is not a released lab notebook" in capsys.readouterr().out
    assert selfcheck.main([]) == 2


def test_check_cell_is_recognised_only_as_released():
    """The grader skips the check cell only when it holds exactly the released call."""
    cell = released()["cells"][-1]
    assert selfcheck.is_check_cell(cell)
    for source in ("".join(cell["source"]) + "\nsolution = 42", "import course_utils.selfcheck"):
        assert not selfcheck.is_check_cell({**cell, "source": source})
    assert not selfcheck.is_check_cell({**cell, "cell_type": "markdown"})


def test_check_of_a_large_notebook_takes_under_2_s(tmp_path):
    """Lab 03 with 36 MB of figure outputs: the whole check, file read and hash included, under 2 s."""
    nb = released("03_backprop")
    image = {"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBORw0KGgo" + "A" * 400_000}}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = [image] * 2
    path = save(nb, tmp_path / "03_backprop.ipynb")
    assert path.stat().st_size > 30_000_000
    start = time.perf_counter()
    report = check_file(path, "03_backprop")
    elapsed = time.perf_counter() - start
    assert report.ok, report.text()
    assert elapsed < 2.0, f"the check took {elapsed:.2f} s"


def test_the_cell_runs_under_2_s_in_a_fresh_python(tmp_path):
    """The check cell's own code, import included, in a fresh interpreter (the setup cell imported course_utils)."""
    path = save(released(), tmp_path / f"{LAB}.ipynb")
    nb = released()
    code = ("import time, course_utils\nstart = time.perf_counter()\n" + "".join(nb["cells"][-1]["source"])
            + "\nprint(f'elapsed {time.perf_counter() - start:.3f}')")
    env = {**os.environ, "JPY_SESSION_NAME": str(path), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "✔ This notebook will grade" in done.stdout, done.stdout
    elapsed = float(done.stdout.strip().splitlines()[-1].split()[-1])
    assert elapsed < 2.0, done.stdout
