"""The rlimit table: which limits a kernel gets and their values, and how they are set."""
import json
import resource
import subprocess
import sys

from autograder.sandbox import Limits
from autograder.sandbox.limits import (ADDRESS_SPACE_HEADROOM_MB, MB, RLIMIT_NAMES, _rlimits, apply_rlimits,
                                       by_resource_name)
from autograder.sandbox.policy import ROOT


def test_the_table_for_each_kind_of_kernel():
    """CPU, file size and no core always; RLIMIT_NPROC only confined without a pids cgroup; RLIMIT_AS only
    without a memory cgroup, with headroom over the memory limit?"""
    limits = Limits(memory_mb=1000, processes=7, cpu_s=30, file_size_mb=5)
    always = {"cpu": 30, "fsize": 5 * MB, "core": 0}
    address = (1000 + ADDRESS_SPACE_HEADROOM_MB) * MB
    assert _rlimits(limits, confined=True, memory_cgroup=True, pids_cgroup=True) == always
    assert _rlimits(limits, confined=True, memory_cgroup=False, pids_cgroup=False) == {**always, "nproc": 7,
                                                                                       "as": address}
    assert _rlimits(limits, confined=False, memory_cgroup=False, pids_cgroup=False) == {**always, "as": address}
    assert _rlimits(limits, confined=True, memory_cgroup=True, pids_cgroup=False) == {**always, "nproc": 7}


def test_every_name_is_a_resource_limit():
    """Does each short name map to a limit of the resource module, as a template sets them by name?"""
    assert all(hasattr(resource, name) for name in RLIMIT_NAMES.values())
    assert by_resource_name({"cpu": 1, "as": 2}) == {"RLIMIT_CPU": 1, "RLIMIT_AS": 2}


def run_child(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_apply_sets_soft_and_hard_at_most_the_hard_limit():
    """In a fresh process: are the limits set as soft and hard, one above the hard limit lowered to it, and
    the keys left out untouched?"""
    got = run_child(
        "import json, resource\n"
        "from autograder.sandbox.limits import apply_rlimits\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))\n"
        "before = resource.getrlimit(resource.RLIMIT_CPU)\n"
        "apply_rlimits({'fsize': 1 << 30, 'core': 0, 'cpu': 5}, keys=('fsize', 'core'))\n"
        "print(json.dumps([resource.getrlimit(resource.RLIMIT_FSIZE), resource.getrlimit(resource.RLIMIT_CORE),\n"
        "                  resource.getrlimit(resource.RLIMIT_CPU) == before]))\n")
    assert got == [[1 << 20, 1 << 20], [0, 0], True]


def test_an_unconfined_kernel_gets_no_task_limit():
    """The fallback path sets CPU, file size, core and address space, never RLIMIT_NPROC."""
    got = run_child(
        "import json, resource\n"
        "from autograder.sandbox.limits import _set_rlimits\n"
        "before = resource.getrlimit(resource.RLIMIT_NPROC)\n"
        "_set_rlimits({'cpu': 100, 'nproc': 1, 'as': 8 << 30})\n"
        "print(json.dumps([resource.getrlimit(resource.RLIMIT_CPU), resource.getrlimit(resource.RLIMIT_AS),\n"
        "                  resource.getrlimit(resource.RLIMIT_NPROC) == before]))\n")
    assert got == [[100, 100], [8 << 30, 8 << 30], True]
    assert apply_rlimits({}) is None
