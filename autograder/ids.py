"""Student ids: folder names under submitted/, so they may hold anything.

How one is printed (`printable_id`, `ascii_id`), whether the gradebook can store it (`storable_id`), which ids
look alike (`id_skeleton`, `confusable_groups`), and the seed of a student's hidden-test inputs (`student_seed`).
"""
from __future__ import annotations

import hashlib
import hmac
import unicodedata

#: The bits of a student's seed (`student_seed`): numpy and the grader take any seed below 2**31.
SEED_MASK = 0x7FFFFFFF


#: Letters that look like a Latin letter, after NFKC and case folding: Cyrillic and Greek lower case (their upper
#: case folds to these), and the Latin letters of other alphabets that NFKC leaves alone. A small explicit table
#: of the common confusables, not Unicode's full confusables.txt: it catches the usual forgery (a Cyrillic 'а' in
#: 'аlice') without flagging ids that merely share letters.
CONFUSABLES = str.maketrans({
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "һ": "h", "н": "h", "і": "i", "ї": "i", "ј": "j", "к": "k",
    "ӏ": "l", "м": "m", "о": "o", "р": "p", "ԛ": "q", "ѕ": "s", "т": "t", "у": "y", "ү": "y",
    "х": "x", "с": "c", "ԁ": "d", "ԝ": "w",
    # Greek
    "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x", "ϲ": "c", "ϳ": "j",
    # Latin look-alikes
    "ı": "i", "ȷ": "j", "ɡ": "g", "ɑ": "a", "ʀ": "r", "ʏ": "y", "ɪ": "i",
})


def id_skeleton(student: str) -> str:
    """What `student` looks like: NFKC, case folded, without invisible format characters (zero-width spaces,
    direction marks), and with the look-alike letters of `CONFUSABLES` mapped to Latin. Two ids with one
    skeleton are flagged in the summary (`confusable_groups`), never merged."""
    text = unicodedata.normalize("NFKC", student).casefold()
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return unicodedata.normalize("NFKC", text.translate(CONFUSABLES))


def confusable_groups(students) -> list[tuple[str, ...]]:
    """The sets of two or more distinct ids in `students` with one `id_skeleton`, each sorted."""
    groups: dict[str, set[str]] = {}
    for student in students:
        groups.setdefault(id_skeleton(student), set()).add(student)
    return sorted(tuple(sorted(g)) for g in groups.values() if len(g) > 1)


def printable_id(student: str) -> str:
    """`student` as it may reach a terminal: every character that is not printable (escape sequences, newlines,
    tabs, direction overrides, zero-width characters) written as a Python escape (``\\x1b``, ``\\n``,
    ``\\u202e``), the raw bytes of a name that is not UTF-8 (surrogate escapes) as ``\\xNN``, and a backslash
    doubled, so that what is printed names one folder and can forge nothing."""
    out = []
    for ch in student:
        if "\udc80" <= ch <= "\udcff":
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ch == "\\":
            out.append("\\\\")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ascii(ch)[1:-1])
    return "".join(out)


def ascii_id(student: str) -> str:
    """`printable_id` with every non-ASCII character escaped too: how look-alike ids are told apart."""
    return printable_id(student).encode("ascii", "backslashreplace").decode("ascii")


def storable_id(student: str) -> bool:
    """Whether nbgrader's gradebook can store `student` (valid UTF-8: not a folder name of raw bytes)."""
    try:
        student.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def student_seed(secret: bytes, student: str) -> int:
    """The seed of `student`'s hidden-test inputs: HMAC-SHA256(secret, student id), 31 bits."""
    digest = hmac.new(secret, student.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") & SEED_MASK


def unstorable_reason(student: str) -> str:
    """Why `student` (not `storable_id`) is NOT GRADED, and the fix."""
    return (f"the folder name {student.encode('utf-8', 'surrogateescape')!r} under submitted/ is not valid UTF-8, "
            "which nbgrader's gradebook cannot store: rename the folder (e.g. to plain ASCII) and run again")
