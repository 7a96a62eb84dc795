"""Shared fixtures: the repository root, the labs, a clean environment for child processes."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LABS = sorted(p.parent.name for p in ROOT.glob("solutions/*/*.ipynb") if p.stem == p.parent.name)


def child_environment() -> dict[str, str]:
    """Environment for subprocesses: this venv's bin first on PATH (nbgrader needs `alembic`)."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


@pytest.fixture
def child_env():
    return child_environment()
