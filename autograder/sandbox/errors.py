"""The sandbox's exceptions."""
from __future__ import annotations


class SandboxError(RuntimeError):
    """The kernel could not be started (the message says why and what to check)."""


class _CallEnded(BaseException):
    """An input exchange ended without a next request: the kernel answered the execute request, or time ran out.

    A BaseException, so that no ``except Exception`` between the exchange and `Sandbox.execute` stops it.
    """


class KernelDied(RuntimeError):
    """The student's kernel is gone; ``reason`` says how it ended."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
