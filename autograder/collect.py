"""From an LMS download (a zip or a folder) to nbgrader's ``submitted/<student>/<lab>/<lab>.ipynb``.

``python -m autograder collect LAB ZIP_OR_DIR [--lms canvas|moodle|generic]`` replaces
nbgrader's ``zip_collect`` for this course. What it reads of each file's path:

* canvas: ``lastname_12345_67890_<file>`` (``lastname_LATE_12345_67890_<file>`` when late):
  12345 is the Canvas user id, the student id everywhere after (export matches Canvas's ID
  column on it);
* moodle: ``Full Name_12345_assignsubmission_file_/<file>`` (or the same as one flat name):
  12345 is Moodle's participant id;
* generic: ``<student>/<file>``, one folder per student: the student is the folder that holds the
  file, or the one above it when that folder is named after the lab (nbgrader's own
  ``<student>/<lab>/<lab>.ipynb``), so a wrapping folder of the whole download does not matter.

``<file>`` is the name the student uploaded. Canvas's resubmission suffix ``-1``, a
browser's or Colab's download copy `` (1)`` and Colab's ``Copy of `` are removed before it
is compared with the lab's notebook name ``<lab>.ipynb``. When a student handed in several
versions, the one kept is the one with the highest resubmission number (``-N``), then the
highest copy number (`` (N)``), then the newest modification time, then the last path in
sort order; every other file is listed with its reason, as is every file that is not a
notebook, is another lab's notebook or cannot be read.

A rerun gives the same result: an identical file is not written again; a changed one
replaces the old one only after the old one was copied to
``collect-backup/<time>/<student>/<lab>/`` (and the run says so). Students already in
``submitted/`` but absent from the download are left as they are.

Every member name is untrusted: absolute paths, ``..``, links and devices are never
followed or extracted (the destination path is built from the student id alone, which
must be a plain name), and no file is read past ``MAX_FILE_MB`` however large its
header says it is (a zip bomb stops there).
"""
from __future__ import annotations

import datetime
import json
import os
import re
import stat
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

from autograder.autograded import clean
from autograder.course import check_labs, open_course, source_labs
from autograder.gradebook import CourseError, _atomic_write

MAX_FILE_MB = 256  # the largest file read from a download (a notebook over the grader's limit is still collected)
MAX_MEMBERS = 100_000  # more entries than this: not an LMS download
LMS = ("canvas", "moodle", "generic")

_CANVAS = re.compile(r"^(?P<name>[^/]+?)(?P<late>_LATE)?_(?P<uid>\d+)_(?P<sid>\d+)_(?P<file>[^/]+)$")
_MOODLE = re.compile(r"(?:^|/)(?P<name>[^/]+?)_(?P<uid>\d+)_assignsubmission_(?P<kind>[a-z]+)_/?(?P<file>[^/]*)$")
_STUDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
_COPY_OF = re.compile(r"^(?:copy[ _+-]of[ _+-]+)+", re.IGNORECASE)
_COPY_N = re.compile(r"[ _+]*\((\d{1,6})\)$")
_RESUBMISSION = re.compile(r"-(\d{1,6})$")


class CollectError(ValueError):
    """The download cannot be read at all (not a zip, no such path)."""


class _TooLarge(Exception):
    pass


@dataclass
class Entry:
    """One file of the download: its path inside it, size and time as stated, a bounded reader."""

    name: str
    size: int
    mtime: float
    read: Callable[[], bytes] | None  # None when the entry must not be read (link, unsafe name)
    problem: str | None = None


@dataclass
class Candidate:
    entry: Entry
    student: str
    version: tuple[int, int]  # (resubmission -N, copy (N))
    late: bool = False

    def order(self):
        return (self.version, self.entry.mtime, self.entry.name)


@dataclass
class Outcome:
    """What a collect did: one row per student collected, one per file not collected."""

    lab: str
    collected: dict[str, tuple[str, str]] = field(default_factory=dict)  # student: (file in the download, status)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file in the download, reason)
    late: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)  # student: why the collected file is no notebook

    def count(self, status: str) -> int:
        return sum(1 for _, s in self.collected.values() if s.startswith(status))


def _shown(name: str) -> str:
    return clean(name, 300)


# ---------------------------------------------------------------- reading the download

def _bounded(opener: Callable, limit: int) -> Callable[[], bytes]:
    def read() -> bytes:
        with opener() as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise _TooLarge()
        return data
    return read


def _unsafe(name: str) -> str | None:
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "an absolute path inside the zip: not extracted"
    if ".." in PurePosixPath(name).parts:
        return "a path with '..' inside the zip: not extracted"
    if "\x00" in name:
        return "a name with a NUL character: not extracted"
    return None


def zip_entries(path: Path, limit: int) -> list[Entry]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CollectError(f"{path}: not a readable zip file ({exc}); pass the zip the LMS gave you, "
                           "or the folder it was unpacked into") from None
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise CollectError(f"{path}: {len(infos)} entries, more than {MAX_MEMBERS}: not an LMS download")
    entries = []
    for info in infos:
        name = info.filename.replace("\\", "/")
        if info.is_dir():
            continue
        try:
            mtime = datetime.datetime(*info.date_time).timestamp()
        except (ValueError, OverflowError):
            mtime = 0.0
        entry = Entry(name, info.file_size, mtime, None)
        mode = info.external_attr >> 16
        entry.problem = _unsafe(name)
        if entry.problem is None and stat.S_ISLNK(mode):
            entry.problem = "a symbolic link inside the zip: not followed"
        elif entry.problem is None and stat.S_IFMT(mode) not in (0, stat.S_IFREG):  # 0: no Unix type recorded
            entry.problem = "not a regular file inside the zip"
        elif entry.problem is None and info.flag_bits & 0x1:
            entry.problem = "an encrypted zip member: unreadable"
        if entry.problem is None:
            entry.read = _bounded(lambda info=info: archive.open(info), limit)
        entries.append(entry)
    return entries


def dir_entries(root: Path, limit: int) -> list[Entry]:
    entries = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        for name in sorted(dirs):
            if (here / name).is_symlink():
                entries.append(Entry((here / name).relative_to(root).as_posix(), 0, 0.0, None,
                                     "a symbolic link to a folder: not followed"))
        dirs[:] = sorted(d for d in dirs if not (here / d).is_symlink())
        for name in sorted(files):
            path = here / name
            rel = path.relative_to(root).as_posix()
            try:
                info = path.lstat()
            except OSError as exc:
                entries.append(Entry(rel, 0, 0.0, None, f"unreadable ({exc.strerror or exc})"))
                continue
            if stat.S_ISLNK(info.st_mode):
                entries.append(Entry(rel, 0, info.st_mtime, None, "a symbolic link: not followed"))
            elif not stat.S_ISREG(info.st_mode):
                entries.append(Entry(rel, 0, info.st_mtime, None, "not a regular file"))
            else:
                opener = (lambda path=path: os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb"))
                entries.append(Entry(rel, info.st_size, info.st_mtime, _bounded(opener, limit)))
    return entries


def read_download(source: Path, limit: int) -> list[Entry]:
    if source.is_dir():
        return dir_entries(source, limit)
    if source.is_file():
        return zip_entries(source, limit)
    raise CollectError(f"{source}: no such file or folder; pass the LMS's zip or the folder it was unpacked into")


# ---------------------------------------------------------------- names

def notebook_key(filename: str) -> tuple[str, tuple[int, int]] | None:
    """(the lab-name key of an uploaded file name, its (resubmission, copy) numbers); None when not .ipynb.

    ``Copy of 05_minibatch_sgd (1)-2.ipynb`` -> ("05_minibatch_sgd", (2, 1)).
    """
    stem, dot, ext = filename.rpartition(".")
    if not dot or ext.lower() != "ipynb":
        return None
    stem = _COPY_OF.sub("", stem.strip())
    resubmission = copy = 0
    for _ in range(4):  # a few suffixes at most: "x (1)-2", "x-1 (1)"
        if match := _RESUBMISSION.search(stem):
            resubmission = resubmission or int(match.group(1))
        elif match := _COPY_N.search(stem):
            copy = copy or int(match.group(1))
        else:
            break
        stem = stem[:match.start()]
    return lab_key(stem), (resubmission, copy)


def lab_key(name: str) -> str:
    """Lab names compared without case, with spaces, '+' and '-' read as '_' (LMSs rewrite them)."""
    return re.sub(r"[\s+-]+", "_", name.strip().casefold())


def parse_name(name: str, lms: str, lab: str = "") -> tuple[str, str, bool] | str:
    """(student id, uploaded file name, late) of one download path, or why it does not fit the LMS's names."""
    base = name.rsplit("/", 1)[-1]
    if lms == "canvas":
        match = _CANVAS.match(base)
        if not match:
            return "not named as Canvas names submissions (lastname_12345_67890_file.ipynb)"
        return match["uid"], match["file"], bool(match["late"])
    if lms == "moodle":
        match = _MOODLE.search(name)
        if not match:
            return "not named as Moodle names submissions (Full Name_12345_assignsubmission_file_/file.ipynb)"
        if match["kind"] != "file":
            return f"Moodle's {match['kind']} submission, not a file"
        return match["uid"], match["file"] or base, False
    folders = name.split("/")[:-1]
    if folders and lab and lab_key(folders[-1]) == lab_key(lab):
        folders.pop()
    if not folders:
        return "not inside a student's folder (the generic layout is <student>/<file>.ipynb)"
    return folders[-1], base, False


# ---------------------------------------------------------------- collecting

def plan(entries: list[Entry], lab: str, lms: str, other_labs: list[str]) -> tuple[dict[str, list[Candidate]],
                                                                                   list[tuple[str, str]]]:
    """Candidates per student, best first, and the files that are not candidates with their reasons."""
    others = {lab_key(other): other for other in other_labs if other != lab}
    wanted = lab_key(lab)
    candidates: dict[str, list[Candidate]] = {}
    skipped = []
    for entry in entries:
        base = entry.name.rsplit("/", 1)[-1]
        if entry.problem:
            skipped.append((entry.name, entry.problem))
            continue
        if base.startswith("._") or entry.name.startswith("__MACOSX/") or base in (".DS_Store", "Thumbs.db"):
            skipped.append((entry.name, "operating-system metadata, not a submission"))
            continue
        parsed = parse_name(entry.name, lms, lab)
        if isinstance(parsed, str):
            skipped.append((entry.name, parsed))
            continue
        student, filename, late = parsed
        key = notebook_key(filename)
        if key is None:
            suffix = Path(filename).suffix.lower() or "no extension"
            skipped.append((entry.name, f"not a notebook ({suffix})"))
            continue
        if not _STUDENT.match(student) or student in (".", ".."):
            skipped.append((entry.name, f"student id {student!r} is not a plain name"))
            continue
        if key[0] != wanted:
            other = others.get(key[0])
            why = (f"this is {other}'s notebook, not {lab}'s" if other else
                   f"not this lab's notebook name ({lab}.ipynb expected)")
            skipped.append((entry.name, why))
            continue
        candidates.setdefault(student, []).append(Candidate(entry, student, key[1], late))
    for found in candidates.values():
        found.sort(key=Candidate.order, reverse=True)
    return candidates, skipped


def _write(path: Path, data: bytes, mtime: float) -> None:
    """Atomically, with the download's modification time kept."""
    _atomic_write(path, data)
    if mtime > 0:
        os.utime(path, (mtime, mtime))


def collect(lab: str, source: str | Path, course_dir: str | Path = ".", lms: str = "canvas",
            now: datetime.datetime | None = None) -> Outcome:
    """Collect `lab`'s notebooks from `source` into the course's submitted/; see the module's docstring."""
    if lms not in LMS:
        raise CollectError(f"--lms {lms}: unknown; use one of {', '.join(LMS)}")
    course = open_course(course_dir)
    labs = source_labs(course)
    check_labs(course, [lab], labs)
    source = Path(source)
    entries = read_download(source, MAX_FILE_MB << 20)
    candidates, skipped = plan(entries, lab, lms, labs)
    outcome = Outcome(lab, skipped=skipped)
    stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
    for student in sorted(candidates):
        chosen, data = None, None
        for candidate in candidates[student]:
            if chosen is not None:
                outcome.skipped.append((candidate.entry.name, f"an older version of student {student}'s notebook "
                                                              f"(kept: {_shown(chosen.entry.name)})"))
                continue
            try:
                data = candidate.entry.read()
            except _TooLarge:
                outcome.skipped.append((candidate.entry.name, f"larger than {MAX_FILE_MB} MB: not read"))
                continue
            except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError,
                    RuntimeError, ValueError) as exc:
                what = "unreadable zip member" if not source.is_dir() else "unreadable file"
                outcome.skipped.append((candidate.entry.name, f"{what} ({type(exc).__name__}: {_shown(str(exc))})"))
                continue
            except Exception as exc:  # noqa: BLE001 - zlib.error and kin: a broken member, never a crash
                outcome.skipped.append((candidate.entry.name, f"unreadable ({type(exc).__name__}: {_shown(str(exc))})"))
                continue
            chosen = candidate
        if chosen is None:
            continue
        outcome.collected[student] = (chosen.entry.name, _place(course, lab, student, data, chosen.entry.mtime, stamp))
        if chosen.late:
            outcome.late.append(student)
        problem = notebook_problem(data)
        if problem:
            outcome.unreadable[student] = problem
    return outcome


def notebook_problem(data: bytes) -> str | None:
    """Why `data` is not a notebook (collected all the same: it is what the student handed in), or None."""
    try:
        nb = json.loads(data)
    except (ValueError, RecursionError) as exc:
        return f"not valid JSON ({type(exc).__name__}: {str(exc)[:100]})"
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return "JSON without a list of cells"
    return None


def _place(course, lab: str, student: str, data: bytes, mtime: float, stamp: str) -> str:
    """Write one student's notebook unless it is there already; back up a different one first."""
    dest = course.submitted(student, lab)
    submitted_root = Path(course.coursedir.format_path(course.coursedir.submitted_directory, ".", ".")).resolve()
    if submitted_root not in dest.resolve().parents:
        raise CollectError(f"{dest}: outside {submitted_root}; refusing to write")  # unreachable with plain ids
    if dest.is_file() and not dest.is_symlink():
        old = dest.read_bytes()
        if old == data:
            return "unchanged"
        backup = course.root / "collect-backup" / stamp / student / lab / dest.name
        backup.parent.mkdir(parents=True, exist_ok=True)
        _write(backup, old, dest.stat().st_mtime)
        _write(dest, data, mtime)
        return f"replaced (the earlier file is in {backup.relative_to(course.root)})"
    if dest.is_symlink() or (dest.exists() and not dest.is_file()):
        raise CollectError(f"{dest} exists and is not a plain file: move it away and run collect again")
    dest.parent.mkdir(parents=True, exist_ok=True)
    _write(dest, data, mtime)
    return "new"


def print_outcome(outcome: Outcome, source: Path, lms: str, out=None) -> None:
    out = out or sys.stdout
    collected = outcome.collected
    print(f"collect {outcome.lab} from {source} ({lms} names): {len(collected)} student(s) collected "
          f"({outcome.count('new')} new, {outcome.count('unchanged')} unchanged, {outcome.count('replaced')} "
          f"replaced), {len(outcome.skipped)} file(s) not collected", file=out)
    width = max(map(len, collected), default=0)
    for student, (name, status) in sorted(collected.items()):
        late = "  (late)" if student in outcome.late else ""
        print(f"  {student:<{width}}  {status:<9}  {_shown(name)}{late}", file=out)
        if student in outcome.unreadable:
            why = _shown(outcome.unreadable[student])
            print(f"  {'':<{width}}  warning: this file is not a readable notebook ({why}): it cannot be graded; "
                  "ask the student to download it again (File > Download) and resubmit", file=out)
    if outcome.skipped:
        print("not collected:", file=out)
        for name, reason in sorted(outcome.skipped):
            print(f"  {_shown(name)}: {_shown(reason)}", file=out)
    print("rule: per student, the notebook with the highest resubmission number (-N), then copy number (' (N)'), "
          "then the newest modification time is kept", file=out)


def main(args) -> int:
    source = Path(args.source)
    try:
        outcome = collect(args.lab, source, args.course_dir, args.lms)
    except (CourseError, CollectError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the course's folders cannot be written: what was written before stays, run again
        print(f"error: cannot write into {args.course_dir}: {exc}; fix it and run collect again (files already "
              "collected are kept and not written twice)", file=sys.stderr)
        return 2
    print_outcome(outcome, source, args.lms)
    if not outcome.collected:
        hint = ""
        if any("not named as Canvas" in reason for _, reason in outcome.skipped):
            hint = " (is this a Moodle download? pass --lms moodle, or --lms generic for <student>/<file> folders)"
        print(f"error: no notebook of {outcome.lab} was collected from {source}{hint}", file=sys.stderr)
        return 1
    return 0
