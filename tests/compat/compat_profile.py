"""`make test-compat`: the labs and the course_utils tests on the edges of the version ranges.

Not part of `make test` (the file name does not match test_*.py; the Makefile names it, once per
profile). COMPAT_VENV names the environment under test, built by the Makefile from
tests/compat/requirements-<profile>.txt: "oldest" holds the lowest version of each range in
pyproject.toml, "newest" the newest PyPI offers. The course package is installed there from this
checkout without dependencies; then every solution notebook (discovered) runs top to bottom in a
kernel of that environment, and the course_utils tests run under its interpreter.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

from tests.conftest import LABS, ROOT

VENV = Path(os.environ.get("COMPAT_VENV", ROOT / ".venv-compat-oldest"))
PYTHON = VENV / "bin" / "python"
KERNEL = "compat-profile"
REPORTED = ("numpy", "matplotlib", "ipywidgets", "tqdm", "scikit-learn", "torch", "tensorflow-cpu", "keras")


def _clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "JUPYTER_PATH", "VIRTUAL_ENV")}


@pytest.fixture(scope="module")
def profile():
    if not PYTHON.exists():
        pytest.fail(f"{PYTHON} is missing: run `make test-compat`, which builds it")
    freeze = subprocess.run([str(PYTHON), "-m", "pip", "freeze"], capture_output=True, text=True, check=True).stdout
    pins = {line.split("==")[0].lower().replace("_", "-"): line.split("==")[1]
            for line in freeze.splitlines() if "==" in line}
    python = subprocess.run([str(PYTHON), "-c", "import platform; print(platform.python_version())"],
                            capture_output=True, text=True, check=True).stdout.strip()
    print(f"\n{VENV.name}: Python {python}, " + ", ".join(f"{n} {pins.get(n, 'missing')}" for n in REPORTED))
    return pins


@pytest.fixture(scope="module")
def kernel(profile, tmp_path_factory):
    """A kernelspec of the profile's Python with the course package installed from this checkout (no dependencies)."""
    build = tmp_path_factory.mktemp("build")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (build / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, build / name)
    done = subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", str(build)],
                          capture_output=True, text=True, env=_clean_env(), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    base = tmp_path_factory.mktemp("jupyter")
    spec = base / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(PYTHON), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python ({VENV.name})", "language": "python"}))
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(base)
    yield KERNEL
    if old is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = old


@pytest.mark.parametrize("lab", LABS)
def test_lab_runs_on_profile(lab, kernel, tmp_path):
    """Does the solution notebook run top to bottom, without errors, on this profile?

    A kernel that dies (a native abort or crash) fails with its last lines on stderr, which say why."""
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    work = tmp_path / lab
    shutil.copytree(ROOT / "solutions" / lab, work)
    nb = nbformat.read(work / f"{lab}.ipynb", as_version=4)
    # capture_fd_output=False: what native code writes to fd 2 (an abort's message) goes straight to the
    # log, not through ipykernel's pipe, whose reader thread dies with the process before passing it on.
    client = NotebookClient(nb, timeout=300, kernel_name=kernel, resources={"metadata": {"path": str(work)}},
                            extra_arguments=["--IPKernelApp.capture_fd_output=False"])
    log = tmp_path / "kernel-stderr.txt"
    start = time.perf_counter()
    with log.open("w") as stderr:
        try:
            client.execute(stderr=stderr)
        except DeadKernelError:
            stderr.flush()
            said = "\n".join(log.read_text(errors="replace").strip().splitlines()[-10:]) or "(nothing)"
            pytest.fail(f"{lab}: the kernel died on {VENV.name}; its last lines on stderr:\n{said}", pytrace=False)
    print(f"{lab} on {VENV.name}: {time.perf_counter() - start:.1f} s")


def test_course_utils_unit_tests_pass_on_profile(profile, tmp_path):
    """Do the course_utils tests pass under the profile's interpreter and versions?"""
    # The 0.3 s import-time budget is left out, as in tests/colab: on a loaded machine it measures the load.
    timing = "tests/course_utils/test_devices.py::test_import_without_frameworks_is_fast_and_lazy"
    done = subprocess.run([str(PYTHON), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore",
                           "--deselect", timing, "--rootdir", str(ROOT), str(ROOT / "tests" / "course_utils")],
                          cwd=tmp_path, capture_output=True, text=True, env=_clean_env(), timeout=900)
    tail = done.stdout[-6000:] + done.stderr[-2000:]
    assert done.returncode == 0, tail
    assert " passed" in done.stdout and " failed" not in done.stdout, tail
