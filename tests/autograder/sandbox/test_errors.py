"""The sandbox's exceptions, as the grader catches them (`autograder.grading`, `autograder.remote`)."""
import pytest

import autograder.remote
import autograder.sandbox
from autograder.sandbox.errors import KernelDied, SandboxError, _CallEnded


def test_the_errors_are_the_ones_the_grader_imports():
    """One class each, whichever name the grader uses (`autograder.sandbox`, `autograder.remote`)."""
    assert autograder.sandbox.SandboxError is SandboxError and autograder.sandbox.KernelDied is KernelDied
    assert autograder.sandbox._CallEnded is _CallEnded and autograder.remote.KernelDied is KernelDied


def test_a_start_failure_and_a_death_are_told_apart():
    """The grader catches `SandboxError` (no kernel: not a grade) and `KernelDied` (a fresh kernel may go on) in
    separate clauses: neither may be the other; both are runtime errors, caught by ``except Exception``."""
    assert issubclass(SandboxError, RuntimeError) and issubclass(KernelDied, RuntimeError)
    assert not issubclass(KernelDied, SandboxError) and not issubclass(SandboxError, KernelDied)
    with pytest.raises(SandboxError, match="^the kernel failed to start: why$"):
        raise SandboxError("the kernel failed to start: why")
    with pytest.raises(KernelDied):
        try:
            raise KernelDied("out of memory")
        except SandboxError:  # pragma: no cover - must not catch it
            pytest.fail("a KernelDied was caught as a SandboxError")


def test_a_dead_kernel_says_how_it_ended():
    """``reason`` is what the grade's messages quote (``exc.reason``); the message is the reason itself."""
    exc = KernelDied("it was killed by signal 9")
    assert exc.reason == "it was killed by signal 9" and str(exc) == exc.reason and exc.args == (exc.reason,)


def test_an_ended_call_passes_every_except_exception():
    """`_CallEnded` ends an input exchange: no ``except Exception`` between the exchange and `Sandbox.execute`
    (a reference worker's relay, an input handler) may stop it."""
    assert issubclass(_CallEnded, BaseException) and not issubclass(_CallEnded, Exception)
    with pytest.raises(_CallEnded, match="the kernel ended the call"):
        try:
            raise _CallEnded("the kernel ended the call")
        except Exception:  # pragma: no cover - must not catch it
            pytest.fail("_CallEnded was caught by except Exception")
