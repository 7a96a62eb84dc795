"""Every solution notebook runs top to bottom under nbval (lax mode: only cells tagged nbval-check-output are compared)."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.conftest import LABS, ROOT

TIME_LIMIT_S = 60  # DESIGN.md: a lab runs top to bottom on a 2-core CPU in under 60 seconds


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS)
def test_solution_notebook_runs_under_nbval(lab, child_env, tmp_path):
    """Does the solution notebook execute without errors, with its checked outputs unchanged, in under 60 s?"""
    notebook = ROOT / "solutions" / lab / f"{lab}.ipynb"
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "--nbval-cell-timeout=120",
         "-p", "no:cacheprovider", "-q", "--rootdir", str(tmp_path), str(notebook)],
        cwd=tmp_path, env=child_env, capture_output=True, text=True, timeout=600,
    )
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
    assert elapsed < TIME_LIMIT_S, f"{lab} took {elapsed:.1f} s under nbval (limit {TIME_LIMIT_S} s)"


@pytest.mark.parametrize("lab", LABS)
def test_solution_notebook_has_checked_outputs(lab):
    """Does each solution notebook pin at least one deterministic output for nbval to compare?"""
    import nbformat

    nb = nbformat.read(ROOT / "solutions" / lab / f"{lab}.ipynb", as_version=4)
    checked = [c for c in nb.cells if "nbval-check-output" in c.metadata.get("tags", [])]
    assert checked, f"{lab}: tag at least one cell with nbval-check-output"
    assert all(c.outputs for c in checked), f"{lab}: a cell tagged nbval-check-output has no saved output"
    others = [c for c in nb.cells if c.cell_type == "code" and c not in checked]
    assert all(not c.outputs and c.execution_count is None for c in others), f"{lab}: only checked cells keep outputs"
