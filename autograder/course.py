"""Open a course directory for the TA's commands (collect, export, report) and check the labs they name.

Every check happens before anything is written, so a command that refuses
leaves the course as it found it (no folder, no gradebook.db).
"""
from __future__ import annotations

from pathlib import Path

from autograder.gradebook import Course, CourseError, load_course


def open_course(course_dir: str | Path) -> Course:
    """The nbgrader course at `course_dir`; CourseError when it is missing or has no nbgrader_config.py."""
    root = Path(course_dir)
    if not root.is_dir():
        raise CourseError(f"{course_dir}: no such directory; pass --course-dir DIR, the folder that holds "
                          "the course's nbgrader_config.py")
    if not (root / "nbgrader_config.py").is_file():
        raise CourseError(f"{root.resolve()} has no nbgrader_config.py, so it is not an nbgrader course directory: "
                          "pass --course-dir with the course's folder (the one holding nbgrader_config.py and "
                          "solutions/), or copy this repository's nbgrader_config.py there")
    return load_course(root)


def source_labs(course: Course) -> list[str]:
    """The labs with a source notebook: <source_directory>/<lab>/<lab>.ipynb, sorted."""
    source = Path(course.coursedir.format_path(course.coursedir.source_directory, ".", "x")).parent
    if not source.is_dir():
        return []
    return sorted(p.name for p in source.iterdir() if (p / f"{p.name}.ipynb").is_file())


def gradebook_path(course: Course) -> Path | None:
    """The course's sqlite gradebook file, or None when the course keeps its gradebook elsewhere."""
    url = course.db_url
    return Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None


def graded_labs(course: Course) -> list[str]:
    """The labs (nbgrader assignments) recorded in the gradebook; [] when there is no gradebook file yet."""
    path = gradebook_path(course)
    if path is not None and not path.is_file():
        return []
    from nbgrader.api import Assignment

    with course.gradebook() as gb:
        return sorted(name for (name,) in gb.db.query(Assignment.name))


def check_labs(course: Course, labs: list[str], known: list[str], what: str = "labs") -> None:
    """Stop with the list of the course's labs when a named lab is not among `known` or is named twice."""
    repeated = sorted({lab for lab in labs if labs.count(lab) > 1})
    if repeated:
        raise CourseError(f"lab {', '.join(repeated)} named more than once; name each lab once")
    unknown = [lab for lab in labs if lab not in known]
    if unknown:
        listing = ", ".join(known) if known else "none"
        raise CourseError(f"unknown lab {', '.join(unknown)}: the {what} of {course.root} are: {listing}")


def require_gradebook(course: Course, labs: list[str]) -> None:
    """Stop unless the gradebook exists and records every lab in `labs` (export and report read, never create)."""
    path = gradebook_path(course)
    if path is not None and not path.is_file():
        raise CourseError(f"{path} does not exist: nothing has been graded in {course.root} yet; run "
                          f"`python -m autograder autograde {' '.join(labs)} --course-dir {course.root}` first")
    recorded = graded_labs(course)
    known = sorted(set(recorded) | set(source_labs(course)))
    check_labs(course, labs, known)
    missing = [lab for lab in labs if lab not in recorded]
    if missing:
        raise CourseError(f"{', '.join(missing)} has no grades in the gradebook yet: run `python -m autograder "
                          f"autograde {' '.join(missing)} --course-dir {course.root}` first, or leave it out")
