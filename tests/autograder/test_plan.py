"""autograder.plan: what a batch checks and refuses before anyone is graded."""
from __future__ import annotations

import io
import json
import re

import nbformat

from autograder import batch
from tests.autograder.test_batch import _threaded_client, fake_grade, run_cli
from tests.autograder.fixtures_gradebook import LAB, make_course, solved


def test_refusals_name_what_is_missing_and_write_nothing(tmp_path):
    """Does autograde name a folder without nbgrader_config.py as such, list the course's labs for an unknown lab,
    refuse a course without submitted/ (exit 2), and in each case leave no gradebook.db or folder behind?"""
    root = make_course(tmp_path / "course", {})
    before = sorted(p.name for p in root.iterdir())
    rc, out, err = run_cli(["autograde", LAB, "--course-dir", str(root)])
    assert rc == 2 and out == "" and "submitted" in err and "does not exist" in err and "collect" in err
    rc, _, err = run_cli(["autograde", "nolab", "--course-dir", str(root)])
    assert rc == 2 and f"unknown lab nolab: the labs of {root} are: {LAB}" in err
    assert sorted(p.name for p in root.iterdir()) == before  # no gradebook.db, no autograded/
    bare = tmp_path / "bare"
    (bare / "solutions" / LAB).mkdir(parents=True)
    (bare / "submitted").mkdir()
    rc, _, err = run_cli(["autograde", LAB, "--course-dir", str(bare)])
    assert rc == 2 and "has no nbgrader_config.py" in err and "unknown lab" not in err
    assert sorted(p.name for p in bare.iterdir()) == ["solutions", "submitted"]


def test_another_labs_notebook_and_stray_files_are_named(tmp_path, monkeypatch):
    """Is a notebook of another lab of the course NOT GRADED as such (no kernel run), a folder without the lab's
    notebook NOT GRADED with what it holds, and every stray file listed as ignored?"""
    root = make_course(tmp_path / "course", {"alice": solved(), "bob": solved()})
    other = root / "solutions" / "other" / "other.ipynb"
    other.parent.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": {
        "grade_id": "other_answer", "solution": True, "grade": False, "locked": False, "schema_version": 3}})]
    nbformat.write(nb, other)
    nbformat.write(nb, root / "submitted" / "bob" / LAB / f"{LAB}.ipynb")  # the other lab's notebook
    (root / "submitted" / "alice" / LAB / "notes.txt").write_text("notes")
    (root / "submitted" / "carol" / LAB).mkdir(parents=True)
    (root / "submitted" / "carol" / LAB / f"{LAB}-1.ipynb").write_text("{}")
    monkeypatch.setattr(batch, "dask_client", _threaded_client)
    out = io.StringIO()
    summary = batch.autograde(LAB, root, grade_fn=fake_grade, progress=False, out=out)
    assert summary.graded == ["alice"]
    assert summary.ungraded["bob"].startswith(f"this is other's notebook, not {LAB}'s")
    assert summary.ungraded["carol"].startswith(f"no {LAB}.ipynb in submitted/carol/{LAB}/ (found: {LAB}-1.ipynb)")
    assert summary.ignored == {"alice": [("notes.txt", "not the lab's notebook")],
                               "carol": [(f"{LAB}-1.ipynb", f"not the lab's notebook: only {LAB}.ipynb is graded "
                                                            "(rename it if it is the submission)")]}
    text = out.getvalue()
    assert re.search(r"^\s+alice\s+5 / 6\n\s+ignored: notes.txt \(not the lab's notebook\)$", text, re.M), text
    assert len(re.findall(r"^\s+carol\s+NOT GRADED", text, re.M)) == 1
    kept = json.loads((root / "not-graded" / f"{LAB}.json").read_text())["students"]
    assert sorted(kept) == ["bob", "carol"] and kept["carol"]["sha256"] is None


def test_every_lab_of_a_batch_shares_one_preload(tmp_path):
    """Does each lab of a batch get the same kernel-template preload, what any of them needs (so that a worker
    grading both keeps one template), with the lab's source and data in its payload as before?"""
    from types import SimpleNamespace

    from autograder.plan import share_preload
    from autograder.sandbox import PRELOAD

    sources = {}
    for name, code in (("plain", "import numpy"), ("optim", "import torch.optim")):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(code)]
        sources[name] = tmp_path / name / f"{name}.ipynb"
        sources[name].parent.mkdir()
        nbformat.write(nb, sources[name])
    course = SimpleNamespace(source=lambda name: sources[name])
    labs = [SimpleNamespace(name=name, course=course, payload=None) for name in sources]
    share_preload(labs[:1])
    assert "torch._dynamo" not in labs[0].payload["preload"]
    share_preload(labs)
    assert labs[0].payload["preload"] == labs[1].payload["preload"] == list(PRELOAD)
    assert labs[1].payload["source"] == sources["optim"].read_bytes()
