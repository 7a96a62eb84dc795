"""What calls into the kernel raise here: builtin types kept, names missing, warnings re-emitted, text cleaned."""
from __future__ import annotations

import warnings

import pytest

from autograder.remote import NameMissing, RemoteError, RemoteProtocolError, RemoteWarning, clean_text
from autograder.remote.errors import _reemit_warnings, raise_failure
from course_utils import checks


def test_a_builtin_exception_of_the_kernel_is_raised_as_its_type_and_a_remote_error():
    """Is a kernel's ValueError a ValueError and a RemoteError here (one class per type), and any other type a
    RemoteError that names its module?"""
    for _ in range(2):
        with pytest.raises(ValueError, match=r"f\(\) raised ValueError: bad") as info:
            raise_failure({"ok": False, "error": {"type": "ValueError", "module": "builtins", "message": "bad"}}, "f()")
        assert isinstance(info.value, RemoteError) and info.value.remote_type == "ValueError"
    with pytest.raises(RemoteError) as info:
        raise_failure({"ok": False, "error": {"type": "Boom", "module": "lib", "message": ""}}, "f()")
    assert info.value.remote_type == "lib.Boom" and str(info.value) == "f() raised Boom"


def test_missing_names_oversized_replies_and_malformed_answers():
    """Is a missing name the checks' NameMissing (an AssertionError and an AttributeError), a reply too large a
    protocol error, and anything else malformed a protocol error too?"""
    assert NameMissing is checks.NameMissing and issubclass(NameMissing, (AssertionError, AttributeError))
    with pytest.raises(NameMissing, match="`relu` is not defined"):
        raise_failure({"ok": False, "missing": "relu"}, "relu")
    with pytest.raises(RemoteProtocolError, match="f: too large"):
        raise_failure({"ok": False, "error": {"type": "ReplyTooLarge", "module": "autograder", "message": "too large"}},
                      "f")
    with pytest.raises(RemoteProtocolError, match="malformed answer to f"):
        raise_failure({"ok": "yes"}, "f")


def test_warnings_come_back_as_their_builtin_category():
    """Is a RuntimeWarning of the kernel a RuntimeWarning here, an unknown category a RemoteWarning, junk ignored?"""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _reemit_warnings([{"category": "RuntimeWarning", "message": "overflow"}, {"category": "MyWarning"}, 5], "f(x)")
        _reemit_warnings("not a list", "f(x)")
    assert [w.category for w in caught] == [RuntimeWarning, RemoteWarning]
    assert str(caught[0].message) == "f(x): overflow"


def test_clean_text_drops_escapes_and_control_characters():
    """Are escapes removed, control characters replaced and long text cut, and non-text made text?"""
    assert clean_text("\x1b[31mred\x1b[0m\x00\tok\n") == "red?\tok\n"
    assert clean_text("x" * 50, 10) == "xxxxxxx..."
    assert clean_text(None) == "" and clean_text(12) == "12"
