"""How a reference worker (and its zygote) confines itself: rlimits, no new privileges, death with the grader.

Loaded by ``_reference_worker.py`` from its folder by path; the standard library only. The rlimits are set by
``autograder/sandbox/limits.py``'s `apply_rlimits` (the rule of the grader's unconfined kernels; a confined
kernel's template sets the same values with its own copy, `_child/template_main.set_rlimits`, as only `_child/` is
reachable there), which this file loads by its path in turn (the worker runs with ``python -I``: the repository
is not importable there).
"""
import importlib.util
import os
import signal
import sys

PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38  # prctl options (linux/prctl.h)
DEFAULT_MEMORY_MB, DEFAULT_CPU_S = 2048, 600
MAX_FILES = 32  # descriptors a worker may hold
LIMITS_PY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sandbox", "limits.py")


def _load_limits():
    """``autograder/sandbox/limits.py``, loaded by path under a name of its own (standard library only)."""
    spec = importlib.util.spec_from_file_location("_sandbox_limits", LIMITS_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_limits = _load_limits()


def die_with_grader() -> None:
    """No new privileges, and SIGKILL when the parent (the grader, or the zygote) ends (Linux; elsewhere nothing)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def confine(config: dict) -> None:
    """Limits of this process, set before any request is read."""
    memory = int(config.get("memory_mb", DEFAULT_MEMORY_MB)) << 20
    cpu = int(config.get("cpu_s", DEFAULT_CPU_S))
    _limits.apply_rlimits({"as": memory, "cpu": cpu, "fsize": 0, "core": 0, "nofile": MAX_FILES})
    die_with_grader()
    if config.get("parent") and os.getppid() != config["parent"]:
        os._exit(0)  # the grader ended before the death signal was armed
