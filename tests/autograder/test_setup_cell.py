"""The setup cell's Colab install: one file, autograder/_setup_cell.py, rendered into every lab by the release tool.

The full install onto a Colab-like stack is `make test-colab` (tests/colab/); here, the fast parts:
every released lab carries the same install, rendered from pyproject's URL, and a failing install
ends in one readable paragraph, not a pip traceback.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import venv

import nbformat
import pytest

from autograder.release import INSTALL_END, ReleaseError, render_install, render_setup_source, repository_url
from tests.conftest import LABS, ROOT

LEGACY = textwrap.dedent('''\
    # Setup
    import os, subprocess, sys
    REPOSITORY = "https://github.com/old/place"
    if "google.colab" in sys.modules:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", f"x @ git+{REPOSITORY}"])

    import numpy as np''')


def test_render_replaces_the_older_form_and_is_idempotent():
    """Does rendering replace the one-line install, keep the rest, and give the same text twice?"""
    url = "https://github.com/someone/fork"
    once = render_setup_source(LEGACY, url)
    assert once.startswith("# Setup\nimport os, subprocess, sys\n" + render_install(url) + "\n\nimport numpy as np")
    assert "check_call" not in once and once.count(INSTALL_END) == 1
    assert render_setup_source(once, url) == once
    assert render_setup_source(once, "https://github.com/other/one") == render_setup_source(LEGACY, "https://github.com/other/one")


@pytest.mark.parametrize("source", ["import numpy as np", 'REPOSITORY = "a"\nREPOSITORY = "b"'])
def test_render_names_a_setup_cell_without_one_repository_line(source):
    with pytest.raises(ReleaseError, match="exactly one line `REPOSITORY"):
        render_setup_source(source, "https://github.com/a/b", "lab.ipynb, cell 1")


def test_install_is_colab_only_and_changes_no_dependency():
    """Does the install run only on Colab, skip dependencies, and honour COURSE_PIP_SOURCE?"""
    block = render_install(repository_url())
    assert 'if "google.colab" in sys.modules' in block
    assert '"--no-deps"' in block and 'os.environ.get("COURSE_PIP_SOURCE", f"git+{REPOSITORY}")' in block
    for name in ("numpy", "tensorflow", "keras", "torch", "ipywidgets", "matplotlib"):
        assert f'"{name}"' in block, f"the version check leaves out {name}"


@pytest.mark.parametrize("lab", LABS)
def test_every_released_lab_has_the_same_install(lab):
    """Does each student notebook's setup cell hold the install rendered from pyproject's URL?"""
    nb = nbformat.read(ROOT / "notebooks" / f"{lab}.ipynb", as_version=4)
    setup = [c for c in nb.cells if "setup" in c.metadata.get("tags", [])]
    assert len(setup) == 1, f"notebooks/{lab}.ipynb: expected one cell tagged setup"
    assert render_install(repository_url()) in setup[0].source, f"notebooks/{lab}.ipynb: run `make release LAB={lab}`"


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """A fresh venv with pip and nothing else (no course_utils), like a runtime before the setup cell."""
    where = tmp_path_factory.mktemp("bare-venv")
    venv.create(where, with_pip=True)
    return where / "bin" / "python"


@pytest.mark.parametrize("where, said", [
    # pip 24 (Colab's) runs git, which says this; older pips reject a git+file URL outright
    ("not-a-repository", ("fatal: '", "does not appear to be a git repository", "ERROR: Invalid requirement")),
    ("unreachable-host", ("fatal: ", "Could not resolve host")),
])
def test_failed_install_says_one_paragraph(bare_python, tmp_path, where, said):
    """With a wrong or unreachable source, does the cell stop with one readable paragraph naming the fix?"""
    source = {"not-a-repository": f"git+file://{tmp_path}", "unreachable-host": "git+https://course.invalid/labs"}[where]
    fake = tmp_path / "fake"
    (fake / "google" / "colab").mkdir(parents=True)
    (fake / "google" / "colab" / "__init__.py").write_text("")
    script = tmp_path / "cell.py"
    script.write_text("import json\nimport google.colab\ntry:\n" + textwrap.indent(render_install(repository_url()), "    ")
                      + "\nexcept Exception as exc:\n    print(json.dumps({'type': type(exc).__name__, "
                      "'shown': exc._render_traceback_()}))\nelse:\n    print(json.dumps(None))\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(fake), "GIT_TERMINAL_PROMPT": "0",
           "COURSE_PIP_SOURCE": source}
    done = subprocess.run([str(bare_python), str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result is not None, "the install of a missing checkout did not fail"
    assert result["type"] == "CourseInstallError"
    [paragraph] = result["shown"]
    assert "\n" not in paragraph and "Traceback" not in paragraph
    assert f"could not be installed from {source} (pip: " in paragraph
    pip_said = paragraph.split("(pip: ", 1)[1]
    assert pip_said.startswith(said[0]) and said[1] in pip_said or len(said) > 2 and pip_said.startswith(said[2]), pip_said
    assert "connected to the internet" in paragraph and "tell your instructor" in paragraph
    freeze = subprocess.run([str(bare_python), "-m", "pip", "freeze"], capture_output=True, text=True, env=env)
    assert "dl-foundations-labs" not in freeze.stdout
