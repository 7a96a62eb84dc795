"""What the tests of `autograder.remote` share: a fake sandbox, a live kernel with the helper installed."""
from __future__ import annotations

import contextlib

from autograder.remote import RemoteStudent
from autograder.remote.codec import MIME
from autograder.sandbox import Execution, Limits, Sandbox


class FakeSandbox:
    """Stands in for a kernel: answers every call with a fixed user-expression entry."""

    limits = Limits(reply_mb=1, call_timeout_s=1)

    def __init__(self, entry):
        self.entry = entry

    def execute(self, code, **kwargs):
        return Execution("ok", user_expressions={"r": self.entry})


def answer(text: str) -> dict:
    """A user-expression entry whose reply bundle holds `text`."""
    return {"status": "ok", "data": {MIME: text}}


@contextlib.contextmanager
def installed_student(limits: Limits):
    """A `RemoteStudent` on a live sandboxed kernel, its helper installed (before any notebook code)."""
    with Sandbox({}, limits=limits) as sandbox:
        student = RemoteStudent(sandbox)
        student._ag_install()
        yield student, sandbox
