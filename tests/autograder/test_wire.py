"""Attacks on the grader's protocol (autograder/wire.py and what reads it): floods of bytes, hostile text,
malformed values.

Each attack comes from inside the student's kernel (a notebook cell or a graded
function), or from a fake kernel socket, and must end with the submission
graded no higher than its honest score, valid JSON, and the grader's memory
bounded.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

import nbformat
import numpy as np
import pytest

from autograder.grading import grade_notebook, sanitize
from autograder.remote import clean_text
from autograder.sandbox import Limits
from autograder.wire import Budget, Connection, Overflow
from tests.conftest import ROOT, child_environment
from tests.files.fixture_lab import LAB, source_notebook, with_solution, write_lab

LIMITS = Limits(cell_timeout_s=20, call_timeout_s=10, test_timeout_s=30, notebook_timeout_s=60, memory_mb=1024,
                processes=64, interrupt_grace_s=1, max_restarts=2)
FULL = {"test_sigmoid": 2.0, "test_perceptron": 3.0}


def add_cell(nb, code, at=None):
    nb = nbformat.from_dict(nb)
    nb.cells.insert(len(nb.cells) if at is None else at, nbformat.v4.new_code_cell(code))
    return nb


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    return write_lab(tmp_path_factory.mktemp("course"))


def grade(nb, lab, tmp_path, limits=LIMITS):
    path = tmp_path / "submission.ipynb"
    nbformat.write(nb, path)
    return grade_notebook(LAB, path, source=lab, limits=limits, seed=0)


# ------------------------------------------------------------------ floods of bytes
_FOLDERS: list[str] = []  # the fake kernels' socket folders, removed after each test


@pytest.fixture(autouse=True)
def _remove_fake_kernel_folders():
    yield
    while _FOLDERS:
        shutil.rmtree(_FOLDERS.pop(), ignore_errors=True)


def _fake_kernel(frames_after_handshake):
    """A Unix socket that greets as a ZMTP 3 ROUTER, then sends the given raw bytes; returns (path, thread)."""
    import tempfile

    folder = tempfile.mkdtemp(prefix="agtest-kernel-")
    _FOLDERS.append(folder)
    path = os.path.join(folder, "k-1")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def run():
        conn, _ = server.accept()
        with conn:
            conn.settimeout(60)
            try:
                # A real kernel reads the grader's greeting and READY command before its frames
                # follow; reading them here also keeps the grader's handshake from writing into a
                # socket this side already closed, however the two threads are scheduled.
                _recv_exact(conn, 64)
                flags, size = _recv_exact(conn, 2)
                assert flags == 0x04, "the grader's READY command is a short command frame"
                _recv_exact(conn, size)
                conn.sendall(b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x01" + b"NULL" + b"\x00" * 16 + b"\x00" * 32)
                ready = b"\x05READY\x0bSocket-Type" + struct.pack(">I", 6) + b"ROUTER"
                conn.sendall(bytes([0x04, len(ready)]) + ready)
                for chunk in frames_after_handshake():
                    conn.sendall(chunk)
                while conn.recv(65536):  # stay connected until the grader hangs up
                    pass
            except OSError:
                pass  # the grader hung up: what it should do
        server.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return path, thread


def _recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionResetError("the grader hung up during the handshake")
        data += chunk
    return data


def _frame(size, more=True):
    return bytes([0x03 if more else 0x02]) + struct.pack(">Q", size)


def _read_until_error(conn, seconds=20):
    deadline = time.monotonic() + seconds
    messages = []
    while time.monotonic() < deadline:
        messages += conn.read()
        if conn.closed:
            break
        time.sleep(0.001)
    return messages


def test_unfinished_message_is_refused_before_its_bytes_are_read():
    """Does a message whose frames never end stop at the per-message bound, long before the bytes arrive?"""
    sent = []

    def frames():
        for _ in range(75):  # 75 frames of 20 MB, never a last frame: 1.5 GB
            sent.append(1)
            yield _frame(20 << 20)
            for _ in range(20):
                yield b"x" * (1 << 20)

    path, _ = _fake_kernel(frames)
    budget = Budget(per_message=28 << 20, total=512 << 20)
    conn = Connection(path, b"grader", budget)
    assert conn.try_connect()
    with pytest.raises(Overflow, match="message of more than 28 MB"):
        _read_until_error(conn)
    assert budget.received <= 28 << 20
    assert len(conn._buffer) <= (20 << 20) + (1 << 20)  # at most one frame's bytes were ever held
    conn.close()


def test_many_small_frames_and_many_messages_are_bounded():
    """Do empty frames (cheap to send, costly to hold) and a stream of complete messages hit their bounds?"""
    path, _ = _fake_kernel(lambda: iter([bytes([0x01, 0x00]) * 100_000]))
    conn = Connection(path, b"grader", Budget(max_frames=256))
    assert conn.try_connect()
    with pytest.raises(Overflow, match="more than 256 frames"):
        _read_until_error(conn)
    conn.close()

    def messages():
        for _ in range(200):  # 200 complete messages of 1 MB
            yield _frame(1 << 20, more=False) + b"y" * (1 << 20)

    path, _ = _fake_kernel(messages)
    conn = Connection(path, b"grader", Budget(total=50 << 20))
    assert conn.try_connect()
    with pytest.raises(Overflow, match="more than 50 MB to the grader in all"):
        _read_until_error(conn)
    conn.close()


def test_fake_kernel_messages_are_framed_exactly():
    """Are multipart messages split at their last frame, whatever the read boundaries?"""
    payload = _frame(3) + b"abc" + bytes([0x00, 0x02]) + b"de" + bytes([0x02]) + struct.pack(">Q", 300) + b"z" * 300

    def trickle():
        for i in range(0, len(payload), 7):
            yield payload[i:i + 7]
            time.sleep(0.001)

    path, thread = _fake_kernel(trickle)
    conn = Connection(path, b"grader", Budget())
    assert conn.try_connect()
    messages = []
    deadline = time.monotonic() + 10
    while len(messages) < 2 and time.monotonic() < deadline:
        messages += conn.read()
        time.sleep(0.002)
    assert messages == [[b"abc", b"de"], [b"z" * 300]]
    conn.close()


FLOOD = """\
import os, socket, struct
# Raw ZMTP frames written straight into the kernel's end of the grader's shell connection,
# each with the MORE flag: a message that never ends.
_chunk = b"x" * (8 << 20)
for _fd in map(int, os.listdir("/proc/self/fd")):
    try:
        _s = socket.socket(fileno=os.dup(_fd))
    except OSError:
        continue
    try:
        if _s.family == socket.AF_UNIX and not _s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) \\
                and str(_s.getsockname()).endswith("-{port}"):
            _s.settimeout(60)
            for _ in range({frames}):
                _s.sendall(b"\\x03" + struct.pack(">Q", len(_chunk)) + _chunk)
    except OSError:
        pass
    finally:
        _s.close()
"""

GRADE_AND_MEASURE = """\
import json, sys
from pathlib import Path
from autograder.grading import grade_notebook
from autograder.sandbox import Limits
limits = Limits(cell_timeout_s=30, call_timeout_s=10, test_timeout_s=30, notebook_timeout_s=90, memory_mb=1024)
result = grade_notebook(sys.argv[1], Path(sys.argv[2]), source=Path(sys.argv[3]), limits=limits, seed=0)
# VmHWM, the peak RSS of this process's own memory: getrusage's ru_maxrss would also count the pytest process
# this one was forked from (Linux keeps the larger of the two across fork and exec).
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"result": result, "maxrss_kb": peak}))
"""


@pytest.mark.parametrize("port", [1, 3], ids=["shell", "stdin"])
def test_kernel_flooding_unfinished_frames_is_stopped_with_bounded_grader_memory(lab, tmp_path, port):
    """A cell sends 75 frames of 8 MB (600 MB) and never ends the message: is the grader's peak RSS bounded,
    the kernel stopped, and every test scored 0 with the reason?"""
    nb = add_cell(source_notebook(), FLOOD.format(frames=75, port=port), at=2)
    path = tmp_path / "flood.ipynb"
    nbformat.write(nb, path)
    out = subprocess.run([sys.executable, "-c", GRADE_AND_MEASURE, LAB, str(path), str(lab)], capture_output=True,
                         text=True, timeout=240, cwd=ROOT, env=child_environment())
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads(out.stdout.strip().splitlines()[-1])
    result = data["result"]
    assert result["score"] == 0.0, result
    text = " | ".join(result["errors"] + [t["message"] for t in result["tests"]])
    assert "more than 28 MB" in text and "not graded" in text, text
    assert result["kernels"] == 1, result  # no fresh kernel for a flood: it would flood again
    # The bound: one message (28 MB) plus a read buffer, over the grader's own ~100-200 MB.
    assert data["maxrss_kb"] < 400 * 1024, f"grader peak RSS {data['maxrss_kb'] / 1024:.0f} MB"


# ------------------------------------------------------------------ hostile text
# `python -m autograder ...` with the fixture lab as the source (argv[1]).
CLI = """\
import sys
from pathlib import Path
import autograder.grading as grading
from autograder import cli
source = Path(sys.argv[1])
grading.find_source = lambda lab, root=None: source
sys.exit(cli.main(sys.argv[2:]))
"""
HOSTILE = "\x1b[2J\x1b]0;pwned\x07\x1b[31mred\u202e\ud800\x00\x9b1m" + "A" * 100_000


def test_clean_text_removes_escapes_surrogates_and_bounds_length():
    """Is hostile text printable, encodable as UTF-8, escape-free and bounded after clean_text/sanitize?"""
    out = clean_text(HOSTILE, 200)
    assert len(out) <= 200 and out.endswith("...")
    assert "\x1b" not in out and "\ud800" not in out and "\x00" not in out and "\u202e" not in out and "\x9b" not in out
    assert "pwned" not in out and out.startswith("red")
    out.encode("utf-8")
    result = sanitize({"errors": [HOSTILE], "tests": [{"message": HOSTILE, "score": float("nan")}], HOSTILE: 1})
    text = json.dumps(result, ensure_ascii=False)
    text.encode("utf-8")
    assert "\\u001b" not in json.dumps(result) and "\\ud800" not in json.dumps(result)


SWAP_PACKER = """\
import json
_k = get_ipython().kernel
# Lone surrogates survive json.dumps with ensure_ascii (as escapes): the kernel's replies now carry them.
_k.session.pack = lambda obj: json.dumps(obj, ensure_ascii=True, default=str).encode()
Evil = type("Evil\\x1b[2J\\x1b]0;x\\x07\\u202e", (Exception,), {})
raise Evil("lone \\ud800 surrogate \\x1b[2J and escapes " + "B" * 50_000)
"""


def test_hostile_error_names_and_messages_give_clean_json_and_exit_0(lab, tmp_path):
    """A cell raises an exception whose class name holds escapes and whose message holds a lone surrogate
    (sent through a swapped message packer), and sigmoid returns such text: does the CLI exit 0 with valid,
    clean JSON, and does the text output stay clean too?"""
    nb = add_cell(source_notebook(), SWAP_PACKER, at=2)
    nb = with_solution(nb, "sigmoid", "raise ValueError('\\x1b[2J\\ud800\\u202e' + 'C' * 100_000)")
    path = tmp_path / "text.ipynb"
    nbformat.write(nb, path)
    for args in (["--json"], []):
        out = subprocess.run([sys.executable, "-c", CLI, str(lab), "grade", LAB, str(path), "--seed", "0", *args],
                             capture_output=True, timeout=240, cwd=ROOT, env=child_environment())
        assert out.returncode == 0, out.stderr[-2000:]
        text = out.stdout.decode("utf-8")  # valid UTF-8
        assert "\x1b" not in text and "\u202e" not in text and "\\ud800" not in text and "\\u001b" not in text
        if args:
            result = json.loads(text)
            assert result["score"] <= 3.0 and result["tests"][0]["score"] == 0.0
            assert all(len(e) <= 1000 for e in result["errors"]) and len(result["tests"][0]["message"]) <= 1000
            assert any("Evil" in e for e in result["errors"]), result["errors"]


CRAFTED_RESTORE = """\
import json
for _name in [n for n in list(globals()) if n.startswith('__autograder')]:
    _real = globals()[_name]
    def _fake(nonce, text, _real=_real):
        if json.loads(text).get("op") in ("restore", "call"):
            class _R:
                def _repr_mimebundle_(self, include=None, exclude=None):
                    return {"application/x-autograder+json": json.dumps({"nonce": nonce, "ok": True, "value":
                        {"__ndarray__": "", "dtype": "float64", "shape": [2**63, 0]}, "changed":
                        {"0": {"__ndarray__": "", "dtype": "float64", "shape": [2**63, 0]}}})}, {}
            return _R()
        return _real(nonce, text)
    globals()[_name] = _fake
"""


def test_crafted_replies_to_calls_and_restore_cost_points_not_the_grader(lab, tmp_path):
    """The helper is wrapped to answer calls and the restore request with an array of shape [2**63, 0]:
    is it graded (exit 0, JSON) with those tests failed as protocol errors?"""
    nb = add_cell(source_notebook(), CRAFTED_RESTORE)
    path = tmp_path / "crafted.ipynb"
    nbformat.write(nb, path)
    out = subprocess.run([sys.executable, "-c", CLI, str(lab), "grade", LAB, str(path), "--seed", "0", "--json"],
                         capture_output=True, text=True, timeout=240, cwd=ROOT, env=child_environment())
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert result["tests"][0]["score"] == 0.0 and "cannot accept" in result["tests"][0]["message"], result
