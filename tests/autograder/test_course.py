"""autograder.course: opening a course directory for the TA's commands and checking the labs they name, before
anything is written."""
from __future__ import annotations

import pytest

from autograder.course import (check_labs, gradebook_path, graded_labs, open_course, require_gradebook,
                               source_labs)
from autograder.gradebook import CourseError
from tests.autograder.fixtures_gradebook import LAB, make_course, solved


@pytest.fixture
def toy(tmp_path):
    return open_course(make_course(tmp_path / "course", {"alice": solved()}))


def test_a_missing_folder_or_one_without_nbgrader_config_is_refused_with_the_fix(tmp_path):
    with pytest.raises(CourseError, match="no such directory; pass --course-dir DIR"):
        open_course(tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()
    with pytest.raises(CourseError, match="has no nbgrader_config.py.*copy this repository's nbgrader_config.py"):
        open_course(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_the_course_s_labs_and_its_gradebook_file(toy):
    assert source_labs(toy) == [LAB]
    path = gradebook_path(toy)
    assert path is not None and path.name == "gradebook.db" and path.parent.resolve() == toy.root.resolve()
    assert graded_labs(toy) == [] and not path.exists()  # asking creates no gradebook


def test_named_labs_are_checked_once_each_against_the_known_ones(toy):
    check_labs(toy, [LAB], [LAB])
    with pytest.raises(CourseError, match=f"lab {LAB} named more than once"):
        check_labs(toy, [LAB, LAB], [LAB])
    with pytest.raises(CourseError, match=f"unknown lab 07_nope: the labs of .* are: {LAB}"):
        check_labs(toy, ["07_nope"], [LAB])
    with pytest.raises(CourseError, match="are: none"):
        check_labs(toy, ["07_nope"], [])


def test_export_and_report_need_a_gradebook_and_create_none(toy):
    with pytest.raises(CourseError, match=f"nothing has been graded .* run `python -m autograder autograde {LAB}"):
        require_gradebook(toy, [LAB])
    assert not gradebook_path(toy).exists()
