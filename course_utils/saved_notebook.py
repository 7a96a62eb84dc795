"""Reading a notebook as saved: from its file, or in Colab from the page (what File > Download gives).

Used by `course_utils.selfcheck`; it only reads. Where the notebook cannot
be read, `Unreadable` says why and what to do.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import sys
from pathlib import Path

__all__ = ["HOW_TO_SAVE", "COLAB_ADVICE", "Unreadable", "running_shell", "session_path", "from_colab", "from_file"]

HOW_TO_SAVE = ("Save the notebook (Ctrl-S, or File > Save) and run this cell again. In Colab, File > Save, then "
               "File > Download > Download .ipynb gives the file to hand in.")
COLAB_ADVICE = ("Run this cell again in a moment. To hand in: File > Save, then File > Download > Download .ipynb, "
                "and hand in that file.")


class Unreadable(Exception):
    """The saved notebook cannot be read; the message says why, `advice` what to do."""

    def __init__(self, message: str, advice: str = HOW_TO_SAVE):
        super().__init__(message)
        self.advice = advice


def running_shell():
    """The running IPython shell, or None (no IPython loaded, or not in a kernel)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    try:
        return get() if get is not None else None
    except Exception:
        return None


def session_path(shell) -> Path | None:
    """The notebook file of this kernel's session (JupyterLab, Notebook 7, VS Code), or None."""
    namespace = getattr(shell, "user_ns", None) or {}
    for name in (namespace.get("__vsc_ipynb_file__"), namespace.get("__session__"), os.environ.get("JPY_SESSION_NAME")):
        if not isinstance(name, str) or not name.endswith(".ipynb"):
            continue
        path = Path(name).expanduser()
        if path.is_absolute():
            return path
        for candidate in (Path.cwd() / path, Path.cwd() / path.name):  # relative to the server root: try the cwd
            if candidate.is_file():
                return candidate
        return Path.cwd() / path
    return None


def from_colab(wait_s: float, retry: str) -> dict:
    """The notebook as Colab's page sends it (within `wait_s` seconds); `retry` is the call to suggest after a timeout."""
    try:
        from google.colab import _message
    except Exception as exc:  # noqa: BLE001 - whatever Colab's module raises, say it plainly
        raise Unreadable(f"Colab's message channel is not available here ({type(exc).__name__}: {exc}).",
                         COLAB_ADVICE) from None
    try:
        reply = _message.blocking_request("get_ipynb", request="", timeout_sec=wait_s)
    except Exception as exc:  # noqa: BLE001 - MessageError from the front end, a closed channel
        raise Unreadable(f"Colab did not send the notebook ({type(exc).__name__}: {exc}).", COLAB_ADVICE) from None
    if reply is None:
        raise Unreadable(f"Colab did not send the notebook within {wait_s:g} s (the page is busy, or the browser "
                         "lost its connection to the runtime). If it happens again, a notebook with many large "
                         f"figures may need longer: run {retry} in a new cell.", COLAB_ADVICE)
    notebook = reply.get("ipynb") if isinstance(reply, dict) else None
    if not isinstance(notebook, dict):
        raise Unreadable("Colab answered without a notebook.", COLAB_ADVICE)
    return notebook


def from_file(path: Path) -> tuple[dict, bytes, _dt.datetime]:
    """The notebook saved at `path`: (its JSON, the file's bytes, when it was saved)."""
    try:
        data = path.read_bytes()
        saved = _dt.datetime.fromtimestamp(path.stat().st_mtime).astimezone()
    except FileNotFoundError:
        raise Unreadable(f"the notebook file {path} does not exist: it was never saved, or it was renamed or "
                         "moved after its kernel started (then close the notebook with File > Close and Shut Down "
                         "Notebook, open it again, and run this cell again).") from None
    except OSError as exc:
        raise Unreadable(f"the notebook file {path} cannot be read ({exc.strerror or exc}).") from None
    if not data.strip():
        raise Unreadable(f"the notebook file {path} is empty.")
    try:
        notebook = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Unreadable(f"the notebook file {path} is not a readable notebook (not JSON: {exc}).") from None
    return notebook, data, saved
