"""Shared fixtures for the course_utils tests.

matplotlib draws with Agg (no display), and TensorFlow, which takes about
5 s to import, is imported at most once per session.
"""
import contextlib
import io
import os
import sys
import tempfile
import types

os.environ["MPLBACKEND"] = "Agg"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


@pytest.fixture(scope="session")
def tf_import():
    """TensorFlow imported through course_utils, with what that wrote to stderr (fd 2 and sys.stderr)."""
    from course_utils.devices import import_tensorflow

    fresh = sys.modules.get("tensorflow") is None
    python_err = io.StringIO()
    with tempfile.TemporaryFile() as fd_err:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(fd_err.fileno(), 2)
        try:
            with contextlib.redirect_stderr(python_err):
                tf = import_tensorflow()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        fd_err.seek(0)
        stderr = fd_err.read().decode(errors="replace") + python_err.getvalue()
    if tf is None:
        pytest.skip("TensorFlow is not installed")
    return types.SimpleNamespace(tf=tf, stderr=stderr, fresh=fresh)


@pytest.fixture
def tf(tf_import):
    return tf_import.tf


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.fixture
def block(monkeypatch):
    """Make modules unimportable: ``block("torch", "tensorflow")``, as if not installed."""

    def _block(*names):
        for name in names:
            monkeypatch.setitem(sys.modules, name, None)  # `import name` now raises ImportError

    return _block


@pytest.fixture(scope="session")
def kernel(tmp_path_factory):
    """A real Jupyter kernel, as nbclient/nbval run notebooks: ``kernel(source) -> outputs``.

    The kernel starts once per session; a cell that raises fails the test
    with nbclient's CellExecutionError.
    """
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = nbformat.v4.new_notebook()
    workdir = tmp_path_factory.mktemp("kernel")
    client = nbclient.NotebookClient(
        notebook, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    with client.setup_kernel(env={**os.environ, "MPLBACKEND": "module://matplotlib_inline.backend_inline"}):

        def run(source: str):
            cell = nbformat.v4.new_code_cell(source)
            notebook.cells.append(cell)
            client.execute_cell(cell, len(notebook.cells) - 1)
            return cell.outputs

        yield run


@pytest.fixture
def colab(monkeypatch):
    """A stand-in google.colab: ``colab(reply)`` installs one whose message channel answers `reply` (or raises it)
    and returns the list of (request type, timeout) it is asked with."""

    def install(reply):
        calls = []

        def blocking_request(request_type, request="", timeout_sec=5, parent=None):
            calls.append((request_type, timeout_sec))
            if isinstance(reply, Exception):
                raise reply
            return reply

        message = types.ModuleType("google.colab._message")
        message.blocking_request = blocking_request
        package = types.ModuleType("google.colab")
        package._message = message
        monkeypatch.setitem(sys.modules, "google.colab", package)
        monkeypatch.setitem(sys.modules, "google.colab._message", message)
        return calls

    return install
