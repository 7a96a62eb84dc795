"""What a call into the student's kernel raises here, and the text a submission controls made safe.

An exception of a common builtin type raised by the student's code is raised
here as a subclass of that type and of `RemoteError` (so ``except ValueError``
works); any other exception is a `RemoteError`; a name the notebook does not
define raises `NameMissing`; warnings come back as warnings of the same
builtin category (or `RemoteWarning`).
"""
from __future__ import annotations

import builtins
import warnings

from autograder.remote._wire_codec import BUILTIN_EXCEPTIONS
from autograder.text import clean_text
from course_utils.checks import NameMissing

__all__ = ["BUILTIN_EXCEPTIONS", "InPlaceChange", "NameMissing", "RemoteError", "RemoteProtocolError",
           "RemoteTimeout", "RemoteWarning", "clean_text"]

MAX_WARNINGS = 20  # warnings of one call re-emitted here
NAME_CHARS, MESSAGE_CHARS, WARNING_CHARS = 100, 500, 300  # lengths of the kernel's texts kept


class RemoteError(Exception):
    """The student's code raised an exception (``remote_type`` names it) or sent something unusable."""

    remote_type = "Exception"

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class RemoteProtocolError(RemoteError):
    """The kernel's answer broke the protocol: too large, malformed, a dtype not allowed, a missing helper."""

    remote_type = "ProtocolError"


class RemoteTimeout(TimeoutError):
    """A call into the kernel did not return within its time limit (the kernel was interrupted)."""


class InPlaceChange(RemoteError, AssertionError):
    """A call changed one of its array arguments in place (a test fails on it unless it used `allow_in_place`)."""

    remote_type = "InPlaceChange"


class RemoteWarning(UserWarning):
    """A warning of a type that is not a builtin one, raised by student code in the kernel."""


_remote_builtins: dict[str, type] = {}


def _remote_exception(type_name: str, module: str, message: str) -> Exception:
    """The exception to raise here for one the kernel reported (`type_name` of `module`)."""
    builtin = BUILTIN_EXCEPTIONS.get(type_name) if module == "builtins" else None
    if builtin is None:
        exc = RemoteError(message)
        exc.remote_type = f"{module}.{type_name}" if module not in ("builtins", "__main__", "") else type_name
        return exc
    cls = _remote_builtins.get(type_name)
    if cls is None:
        cls = type(f"Remote{type_name}", (builtin, RemoteError), {"remote_type": type_name, "__str__": RemoteError.__str__,
                                                                   "__module__": "autograder.remote"})
        _remote_builtins[type_name] = cls
    return cls(message)


def raise_failure(answer: dict, call: str):
    """Raise what a failed answer of the kernel's helper reports (a missing name, an exception of the call)."""
    if answer.get("ok") is False and isinstance(answer.get("missing"), str):
        name = _clean(answer["missing"], NAME_CHARS)
        raise NameMissing(f"`{name}` is not defined: run (or fix) the cell that defines it")
    error = answer.get("error")
    if answer.get("ok") is False and isinstance(error, dict):
        type_name = _clean(error.get("type"), NAME_CHARS) or "Exception"
        module = _clean(error.get("module"), NAME_CHARS)
        message = _clean(error.get("message"), MESSAGE_CHARS)
        if module == "autograder" and type_name == "ReplyTooLarge":
            raise RemoteProtocolError(f"{call}: {message}")
        raise _remote_exception(type_name, module, f"{call} raised {type_name}" + (f": {message}" if message else ""))
    raise RemoteProtocolError(f"malformed answer to {call}")


def _reemit_warnings(reported, call: str) -> None:
    """Raise here, as warnings of the same builtin category, the warnings a call raised in the kernel.

    A hidden test that turns warnings into errors (``warnings.simplefilter("error")``)
    then fails on a student's overflow exactly as it would in the kernel.
    """
    if not isinstance(reported, list):
        return
    for item in reported[:MAX_WARNINGS]:
        if not isinstance(item, dict):
            continue
        name = _clean(item.get("category"), NAME_CHARS)
        category = getattr(builtins, name, None)
        if not (isinstance(category, type) and issubclass(category, Warning)):
            category = RemoteWarning
        warnings.warn(f"{call}: {_clean(item.get('message'), WARNING_CHARS)}", category, stacklevel=3)


def _clean(text, limit: int = MESSAGE_CHARS) -> str:
    return clean_text(text if isinstance(text, str) else "", limit).strip()
