"""`_confine.py`: the limits a reference worker sets on itself before it reads anything."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import autograder.remote

CONFINE = Path(autograder.remote.__file__).with_name("_confine.py")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="rlimits and prctl as on Linux")
def test_confine_sets_the_limits_of_its_config():
    """Run by path as the worker runs it: are the address space, CPU time, file size and descriptors limited?"""
    code = ("import importlib.util, json, resource, sys\n"
            "spec = importlib.util.spec_from_file_location('_confine', sys.argv[1])\n"
            "m = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(m)\n"
            "m.confine({'memory_mb': 700, 'cpu_s': 30})\n"
            "print(json.dumps([resource.getrlimit(getattr(resource, n))[1] for n in "
            "('RLIMIT_AS', 'RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_NOFILE')]))")
    out = subprocess.run([sys.executable, "-I", "-c", code, str(CONFINE)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    memory, cpu, fsize, files = json.loads(out.stdout)
    assert memory <= 700 << 20 and cpu <= 30 and fsize == 0 and files <= 32
