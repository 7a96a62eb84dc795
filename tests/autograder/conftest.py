"""Fixtures shared by the tests of the autograder package."""
from __future__ import annotations

import pytest

from tests.files import fixture_lab


@pytest.fixture
def source(tmp_path):
    return fixture_lab.write_lab(tmp_path)
