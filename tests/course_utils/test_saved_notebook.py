"""Reading a notebook as saved (course_utils.saved_notebook).

What a student reads when the notebook cannot be read is tested through
`selfcheck.check` in test_selfcheck.py; these are the readers themselves.
"""
import json
import sys
import types

import pytest

from course_utils import saved_notebook
from course_utils.saved_notebook import COLAB_ADVICE, HOW_TO_SAVE, Unreadable


def test_from_file_returns_the_json_the_bytes_and_the_save_time(tmp_path):
    """Does a saved notebook come back parsed, with the file's bytes and its modification time?"""
    path = tmp_path / "lab.ipynb"
    path.write_text(json.dumps({"cells": []}))
    notebook, data, saved = saved_notebook.from_file(path)
    assert notebook == {"cells": []} and data == path.read_bytes()
    assert saved.timestamp() == pytest.approx(path.stat().st_mtime) and saved.tzinfo is not None


@pytest.mark.parametrize("content, said", [
    (None, "does not exist"), (b"  \n", "is empty"), (b'{"cells": [', "not JSON"), (b"\xff\xfe", "not JSON"),
])
def test_from_file_says_why_a_file_cannot_be_read(tmp_path, content, said):
    """Is an absent, empty or garbled file an Unreadable whose advice is how to save?"""
    path = tmp_path / "lab.ipynb"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(Unreadable, match=said) as info:
        saved_notebook.from_file(path)
    assert info.value.advice == HOW_TO_SAVE


def test_session_path_prefers_vs_code_then_the_session_then_the_environment(tmp_path, monkeypatch):
    """Is the first name that ends in .ipynb taken, and a relative one found from the working directory?"""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lab.ipynb").write_text("{}")
    monkeypatch.setenv("JPY_SESSION_NAME", "course/notebooks/lab.ipynb")
    assert saved_notebook.session_path(None) == tmp_path / "lab.ipynb"
    shell = types.SimpleNamespace(user_ns={"__vsc_ipynb_file__": "/abs/vs.ipynb", "__session__": "/abs/s.ipynb"})
    assert str(saved_notebook.session_path(shell)) == "/abs/vs.ipynb"
    monkeypatch.delenv("JPY_SESSION_NAME")
    assert saved_notebook.session_path(types.SimpleNamespace(user_ns={"__session__": "console-1"})) is None


def test_from_colab_asks_the_page_and_explains_silence(colab):
    """Is the notebook asked for through Colab's message channel, and no answer an Unreadable with Colab's advice?"""
    calls = colab({"ipynb": {"cells": []}})
    assert saved_notebook.from_colab(2.0, "retry()") == {"cells": []} and calls == [("get_ipynb", 2.0)]
    colab(None)
    with pytest.raises(Unreadable, match=r"within 2 s .* run retry\(\) in a new cell") as info:
        saved_notebook.from_colab(2.0, "retry()")
    assert info.value.advice == COLAB_ADVICE


def test_running_shell_is_none_outside_ipython(monkeypatch):
    """Without IPython loaded, is there no shell (and nothing imported to find out)?"""
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert saved_notebook.running_shell() is None
    assert "IPython" not in sys.modules
