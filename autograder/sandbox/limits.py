"""The rlimits of a submission's kernel: ONE table of which limits apply and their values, and how they are set.

`_rlimits` gives the values (keyed by short names: ``cpu``, ``fsize``, ``core``, ``nproc``, ``as``);
`RLIMIT_NAMES` maps those to the `resource` constants' names (a confined kernel's template sets them
by name, importing nothing of the grader); `apply_rlimits` sets them in this process (each at most
its hard limit). The reference worker sets its own limits with `apply_rlimits` too: its
``autograder/remote/_confine.py`` loads this file by path (the worker runs with ``python -I``), so this
module imports the standard library only.
"""
from __future__ import annotations

import contextlib

MB = 1 << 20
ADDRESS_SPACE_HEADROOM_MB = 4096  # RLIMIT_AS beyond memory_mb: PyTorch and TensorFlow reserve far more than they use
RLIMIT_NAMES = {"cpu": "RLIMIT_CPU", "fsize": "RLIMIT_FSIZE", "core": "RLIMIT_CORE", "as": "RLIMIT_AS",
                "nproc": "RLIMIT_NPROC", "nofile": "RLIMIT_NOFILE"}


def _rlimits(limits, *, confined: bool, memory_cgroup: bool, pids_cgroup: bool) -> dict[str, int]:
    """The rlimits of a kernel with `limits` (an `autograder.sandbox.Limits`), by short name.

    CPU seconds, file size and no core dumps always; RLIMIT_NPROC only for a confined kernel without a pids
    cgroup; RLIMIT_AS only without a memory cgroup (``memory_mb`` plus address-space headroom).
    """
    out = {"cpu": int(limits.cpu_s), "fsize": limits.file_size_mb * MB, "core": 0}
    if confined and not pids_cgroup:
        # RLIMIT_NPROC counts every task of uid nobody on the machine, other sandboxes' included:
        # only a fallback for when the per-sandbox pids cgroup is not available.
        out["nproc"] = limits.processes
    if not memory_cgroup:
        out["as"] = (limits.memory_mb + ADDRESS_SPACE_HEADROOM_MB) * MB
    return out


def by_resource_name(values: dict[str, int]) -> dict[str, int]:
    """`values` keyed by the `resource` module's names (``RLIMIT_CPU`` ...), as a template sets them."""
    return {RLIMIT_NAMES[key]: value for key, value in values.items()}


def apply_rlimits(values: dict[str, int], *, keys=None) -> None:
    """Set each rlimit of `values` (short names, see `RLIMIT_NAMES`) as soft and hard limit, at most the
    current hard limit; only those in `keys` when given. A limit this platform lacks or refuses is skipped."""
    import resource

    for key, value in values.items():
        limit = getattr(resource, RLIMIT_NAMES.get(key, ""), None)
        if limit is None or (keys is not None and key not in keys):
            continue
        with contextlib.suppress(ValueError, OSError):
            hard = resource.getrlimit(limit)[1]
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(limit, (value, value))


UNCONFINED_KEYS = ("cpu", "fsize", "core", "as")  # what an unconfined kernel gets (it has no nproc)


def _set_rlimits(values: dict[str, int]) -> None:
    """In an unconfined kernel's child, before exec: the rlimits of `values` (fallback path only)."""
    apply_rlimits(values, keys=UNCONFINED_KEYS)
