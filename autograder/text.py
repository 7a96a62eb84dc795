"""Text a submission or a student controls, made safe to store and print: the one cleaner of the autograder.

`clean_text` cleans one string and `clean_value` every string of a result, recursively. Their parameters
say how each caller wants it done:

- what the kernel sends (`autograder.remote`) and a grade's result (`autograder.grading.sanitize`): the
  defaults, terminal escapes removed, every character that is not printable (but newlines and tabs)
  replaced with ``?``, cut with ``...``;
- what the batch prints beside a student's id: ``escapes=False, cut=""``;
- what the gradebook stores (`autograder.autograded.clean`, which `autograder.gradebook` re-exports):
  ``escapes=False, unsafe=UNSTORABLE, cut=""`` with ``strict=False``.

Whatever the rule, the result is valid UTF-8 (each lone surrogate becomes ``?``) and at most `limit`
characters long.
"""
from __future__ import annotations

import math
import re

#: Terminal escape sequences: CSI (``ESC [`` or the C1 ``\\x9b``), OSC (``ESC ]`` up to BEL or ST) and two-character
#: escapes, each also when cut short.
ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -~]?)|\x9b[0-?]*[ -/]*[@-~]?")

#: What the gradebook will not store: control characters (but tabs and newlines), zero-width and direction
#: marks, line and paragraph separators, direction overrides and isolates, the byte order mark.
UNSTORABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")

#: Longest dictionary key kept (`clean_value`).
KEY_LIMIT = 200

#: How much of a long text is looked at, per character of the limit: escapes removed from the rest could not
#: bring it under the limit anyway.
_SCAN_FACTOR, _SCAN_EXTRA = 4, 64


def clean_text(text, limit: int = 1000, *, escapes: bool = True, unsafe: re.Pattern | None = None,
               cut: str = "...") -> str:
    """`text` made safe to store and print.

    Parameters
    ----------
    text : str
        Anything else is ``str()``-ed first (None is the empty string).
    limit : int
        The most characters returned.
    escapes : bool
        Remove terminal escape sequences (`ESCAPES`) first.
    unsafe : re.Pattern, optional
        The characters replaced with ``?``; default: every one that is not printable (`str.isprintable`:
        control characters, lone surrogates, direction overrides, unassigned code points...) but newlines
        and tabs. Lone surrogates become ``?`` whatever the rule.
    cut : str
        Ends a text that was cut to `limit` (and counts in it); ``""`` cuts plainly.
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    text = text[: limit * _SCAN_FACTOR + _SCAN_EXTRA]  # every step below keeps or shortens the length
    if escapes:
        text = ESCAPES.sub("", text)
    text = text.encode("utf-8", "replace").decode("utf-8")
    if unsafe is None:
        text = "".join(ch if ch.isprintable() or ch in "\n\t" else "?" for ch in text)
    else:
        text = unsafe.sub("?", text)
    return text if len(text) <= limit else text[: max(limit - len(cut), 0)] + cut


def clean_value(value, limit: int = 1000, *, strict: bool = True, **rule):
    """`value` with every string cleaned by `clean_text` (`limit` and `rule`, its keyword arguments),
    recursively through dicts (keys cut at `KEY_LIMIT`), lists and tuples (which become lists).

    With `strict`, the result is plain JSON-safe data: keys and objects of other types become cleaned
    strings, and a float that is not finite becomes 0.0. Without it, only strings change (a key that is not
    a string, and a value that is no string, dict, list or tuple, are kept as they are).
    """
    if isinstance(value, str):
        return clean_text(value, limit, **rule)
    if isinstance(value, dict):
        return {_clean_key(k, strict, rule): clean_value(v, limit, strict=strict, **rule) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_value(v, limit, strict=strict, **rule) for v in value]
    if not strict or value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else 0.0
    return clean_text(str(value), limit, **rule)


def _clean_key(key, strict: bool, rule: dict):
    if strict or isinstance(key, str):
        return clean_text(str(key), KEY_LIMIT, **rule)
    return key
