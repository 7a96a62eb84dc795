"""autograder.text: the one cleaner of text a submission or a student controls, with each caller's rule."""
from __future__ import annotations

import re

import pytest

from autograder import autograded, gradebook, remote
from autograder.text import UNSTORABLE, clean_text, clean_value

HOSTILE = [
    "plain", "", "Zoë\tand\nnew line", "\x1b[2J\x1b]0;owned\x07 title", "\x1b", "\x1b?", "\x9b31m red",
    "lone \ud800 and \udcff surrogates", "\u202eevil\u200b\ufeff", "nbsp\u00a0here", "\x00\x07\x7f\x85",
    "a" * 5000, "\x1b[1m" * 700 + "b" * 3000, "e\u0301 \U0001f600 \u0378",
]


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize("limit", [0, 3, 10, 200, 1000])
def test_one_implementation_keeps_every_callers_rule(text, limit):
    """Do the kernel's rule (the defaults) and the gradebook's (its own set of unsafe characters, plain cut) give
    what `remote.clean_text` and `gradebook.clean` give?"""
    assert clean_text(text, limit) == remote.clean_text(text, limit)
    assert clean_text(text, limit, escapes=False, unsafe=UNSTORABLE, cut="") == gradebook.clean(text, limit)


def _nested(text):
    """`text` everywhere a grade result can hold it: as a value, a long key, in lists and tuples, beside values and
    keys of other types."""
    return {text: [text, (text, 1.5, None)], "k" + text * 50: {text: text, 7: text}, None: b"\x1b", "n": float("nan"),
            "list": [[text], (), {}, True, object]}


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize("limit", [0, 3, 10, 200, 1000, autograded.MAX_CLEAN_CHARS])
def test_the_gradebook_rule_is_clean_value_without_strict(text, limit):
    """Does `autograder.autograded.clean` (what the gradebook stores) give what `clean_value` gives with its rule
    (no strict walk, escapes kept, the storable set of unsafe characters, a plain cut), on strings and on nested
    values (keys cut at 200, tuples made lists, other values kept as they are)?"""
    rule = {"strict": False, "escapes": False, "unsafe": UNSTORABLE, "cut": ""}
    assert autograded.clean(text, limit) == clean_value(text, limit, **rule)
    value = _nested(text)
    out, expected = autograded.clean(value, limit), clean_value(value, limit, **rule)
    assert repr(out) == repr(expected)  # repr: nan is not equal to itself
    assert repr(autograded.clean(value)) == repr(clean_value(value, autograded.MAX_CLEAN_CHARS, **rule))


@pytest.mark.parametrize("text", HOSTILE)
def test_every_result_is_printable_utf8_and_bounded(text):
    """Whatever the rule, is the result valid UTF-8, free of control characters and at most `limit` long?"""
    for rule in ({}, {"escapes": False, "cut": ""}, {"escapes": False, "unsafe": UNSTORABLE, "cut": ""}):
        out = clean_text(text, 100, **rule)
        out.encode("utf-8")
        assert len(out) <= 100 and not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", out)


def test_the_batch_rule_replaces_what_it_cannot_print_and_cuts_plainly():
    """Without escapes removed and with a plain cut, is each unprintable character one '?' (escapes included), a
    newline and a tab kept, and the text cut at the limit without a marker?"""
    assert clean_text("\x1b[2Jbob\ud800\u202e\n\tx", escapes=False, cut="") == "?[2Jbob??\n\tx"
    assert clean_text("a" * 50, 10, escapes=False, cut="") == "a" * 10
    assert clean_text("a" * 50, 10) == "a" * 7 + "..."
    assert clean_text(None) == "" and clean_text(12) == "12"


def test_clean_value_strict_and_not():
    """Does the strict walk make plain JSON-safe data (keys and objects as strings, non-finite floats 0.0), and the
    other change only strings, as gradebook.clean does?"""
    value = {"m": "\x1b[1mx", 3: [float("nan"), ("\ud800",), None, True, 2.5, object], "k" * 300: 1}
    strict = clean_value(value, 100)
    assert strict["m"] == "x" and strict["3"][:5] == [0.0, ["?"], None, True, 2.5]
    assert strict["3"][5] == "<class 'object'>" and "k" * 197 + "..." in strict
    loose = clean_value(value, 100, strict=False, escapes=False, unsafe=UNSTORABLE, cut="")
    assert loose == gradebook.clean(value, 100)
    assert loose[3][0] != loose[3][0] and loose[3][5] is object and loose["m"] == "?[1mx"
