"""How a reference worker (and its zygote) confines itself: rlimits, no new privileges, death with the grader.

Loaded by ``_reference_worker.py`` from its folder by path; the standard library only.
"""
import os
import signal
import sys

PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38  # prctl options (linux/prctl.h)
DEFAULT_MEMORY_MB, DEFAULT_CPU_S = 2048, 600
MAX_FILES = 32  # descriptors a worker may hold


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
    import resource

    memory = int(config.get("memory_mb", DEFAULT_MEMORY_MB)) << 20
    cpu = int(config.get("cpu_s", DEFAULT_CPU_S))
    for name, value in (("RLIMIT_AS", memory), ("RLIMIT_CPU", cpu), ("RLIMIT_FSIZE", 0), ("RLIMIT_CORE", 0),
                        ("RLIMIT_NOFILE", MAX_FILES)):
        limit = getattr(resource, name, None)
        if limit is None:
            continue
        try:
            hard = resource.getrlimit(limit)[1]
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(limit, (value, value))
        except (ValueError, OSError):
            pass
    die_with_grader()
    if config.get("parent") and os.getppid() != config["parent"]:
        os._exit(0)  # the grader ended before the death signal was armed
