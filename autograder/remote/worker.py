"""The grader's end of the reference worker (`_reference_worker.py`): start it, talk to it, kill it.

A worker is forked in milliseconds from this process's `_Zygote` (a process
that has imported numpy), or started directly where a zygote cannot work.
Frames go to its stdin and come from its stdout, never blocking past a
deadline; a worker that does not answer in time is killed.
"""
from __future__ import annotations

import json
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

from autograder.remote.reference import PURE_FUNCTIONS

_WORKER = Path(__file__).with_name("_reference_worker.py")
HEAD_BYTES = 64  # the longest frame head ("R <bytes>\n") a worker may send
READ_CHUNK = 1 << 20
POLL_S = 0.5  # longest wait in select, so that a worker's death is seen
FORK_TIMEOUT_S = 30
FRAME_SLACK = 4096  # bytes of a frame beyond twice the payload limit (JSON escapes)


class _WorkerFailed(Exception):
    """The reference worker cannot answer (it ran out of time, died or broke the protocol); the message says why."""

    def __init__(self, message: str, kind: str = "RuntimeError"):
        super().__init__(message)
        self.kind = kind


def _worker_env() -> dict:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}


class _Zygote:
    """A process that has imported numpy and forks reference workers on request (``--zygote`` mode).

    One per grader process, started with its first `RemoteStudent` (while the notebook runs): a worker
    then starts in milliseconds instead of a Python start and a numpy import (about 0.1 s of CPU, far
    more on a busy machine). The zygote runs no reference and reads no student data; it dies with the
    grader (PR_SET_PDEATHSIG), and its workers with it.
    """

    def __init__(self, threads: int):
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        config = {"threads": threads, "pure": list(PURE_FUNCTIONS), "parent": os.getpid()}
        try:
            self.proc = subprocess.Popen([sys.executable, "-I", str(_WORKER), json.dumps(config), "--zygote",
                                          str(child.fileno())], pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/",
                                         env=_worker_env(), start_new_session=True)
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        self.sock = parent
        self.threads = threads
        self.owner = os.getpid()  # a forked copy of the grader starts its own
        self._finalizer = weakref.finalize(self, _kill_process, self.proc, parent)

    def alive(self) -> bool:
        return self.proc.poll() is None and self.owner == os.getpid()

    def kill(self) -> None:
        self._finalizer()

    def fork(self, config: dict, timeout: float) -> tuple[int, int, int, int]:
        """A fresh worker: (pid, its stdin's write end, its stdout's read end, a pidfd). Raises OSError."""
        to_worker, from_worker = os.pipe(), os.pipe()
        try:
            self.sock.settimeout(timeout)
            socket.send_fds(self.sock, [json.dumps(config).encode()], [to_worker[0], from_worker[1]])
            pid = json.loads(self.sock.recv(4096) or b"{}").get("pid")
            if type(pid) is not int or pid <= 0:
                raise OSError("the reference zygote did not fork")
            pidfd = os.pidfd_open(pid)
        except BaseException:
            os.close(to_worker[1])
            os.close(from_worker[0])
            raise
        finally:
            os.close(to_worker[0])
            os.close(from_worker[1])
        return pid, to_worker[1], from_worker[0], pidfd


_ZYGOTE: list = [None]
_ZYGOTE_LOCK = threading.Lock()
_SPAWNER: list = []  # [(thread, its queue)] once started


def _spawn(fn):
    """`fn()` run by one long-lived daemon thread of this process, which returns its result (or raises).

    The zygote dies when the thread that started it ends (PR_SET_PDEATHSIG is per thread): started by
    a grading thread of a pool that retires idle threads, it would take running workers with it.
    """
    if not _SPAWNER or not _SPAWNER[0][0].is_alive():
        requests: queue.SimpleQueue = queue.SimpleQueue()

        def serve():
            while True:
                job, box, done = requests.get()
                try:
                    box.append(job())
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    box.append(exc)
                done.set()

        thread = threading.Thread(target=serve, name="autograder-zygote-spawner", daemon=True)
        thread.start()
        _SPAWNER[:] = [(thread, requests)]
    box, done = [], threading.Event()
    _SPAWNER[0][1].put((fn, box, done))
    done.wait()
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


def _zygote(threads: int) -> _Zygote | None:
    """This process's zygote (started, or restarted after it died), or None where it cannot work."""
    if not (hasattr(os, "pidfd_open") and hasattr(socket, "send_fds") and hasattr(signal, "pidfd_send_signal")):
        return None
    with _ZYGOTE_LOCK:
        zygote = _ZYGOTE[0]
        if zygote is None or not zygote.alive() or zygote.threads != threads:
            if zygote is not None and zygote.owner == os.getpid():
                zygote.kill()
            try:
                zygote = _spawn(lambda: _Zygote(threads))
            except OSError:
                zygote = None
            _ZYGOTE[0] = zygote
        return zygote


class _ReferenceWorker:
    """One reference worker process (`autograder/remote/_reference_worker.py`), seen from the grader.

    Forked by this process's `_Zygote` (a fresh process that never served anyone else), or started
    directly where a zygote cannot work. The grader writes frames to its stdin and reads frames from
    its stdout, never blocking past a deadline; a worker that does not answer in time is killed. What
    it reads is bounded by `max_bytes` per frame, before the bytes are read.
    """

    def __init__(self, limits, max_bytes: int):
        config = {"memory_mb": limits.memory_mb, "cpu_s": limits.cpu_s, "threads": limits.threads,
                  "max_bytes": max_bytes, "pure": list(PURE_FUNCTIONS), "parent": os.getpid()}
        self.max_bytes = max_bytes
        self.defined: set[str] = set()
        self._buffer = bytearray()
        self.proc, self._pidfd = None, None
        zygote = _zygote(limits.threads)
        forked = None
        if zygote is not None:
            try:
                with _ZYGOTE_LOCK:
                    forked = zygote.fork(config, timeout=FORK_TIMEOUT_S)
            except OSError:
                zygote.kill()  # it is broken or too slow: the next worker gets a fresh one
        if forked is not None:
            self.pid, self._in, self._out, self._pidfd = forked
        else:
            self.proc = subprocess.Popen([sys.executable, "-I", str(_WORKER), json.dumps(config)],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                         cwd="/", env=_worker_env(), close_fds=True, start_new_session=True)
            self.pid, self._in, self._out = self.proc.pid, self.proc.stdin.fileno(), self.proc.stdout.fileno()
        os.set_blocking(self._in, False)
        os.set_blocking(self._out, False)
        self._finalizer = weakref.finalize(self, _kill_worker, self.proc, self._pidfd, self._in, self._out)

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return self._finalizer.alive and not select.select([self._pidfd], [], [], 0)[0]

    def kill(self) -> None:
        self._finalizer()

    def send(self, header: dict, payload: str, deadline: float) -> None:
        head = json.dumps(header).encode()
        body = payload.encode("utf-8", "surrogatepass")
        data = memoryview(b"%d %d\n" % (len(head), len(body)) + head + body)
        fd = self._in
        while data:
            if not self.alive():
                raise _WorkerFailed(self._death())
            try:
                data = data[os.write(fd, data):]
                continue
            except BlockingIOError:
                pass
            except OSError:
                raise _WorkerFailed(self._death()) from None
            left = deadline - time.monotonic()
            if left <= 0:
                raise _WorkerFailed("it did not read its input in time", "TimeoutError")
            select.select([], [fd], [], min(left, POLL_S))

    def receive(self, deadline: float) -> tuple[str, str]:
        """The next frame: ("R", answer) or ("C", a call of a kernel function), as JSON text."""
        head = self._read(lambda buf: buf.find(b"\n") + 1 if b"\n" in buf[:HEAD_BYTES]
                          else (-1 if len(buf) >= HEAD_BYTES else 0), deadline)
        kind, _, size = head.decode("ascii", "replace").strip().partition(" ")
        if kind not in ("R", "C") or not size.isdigit():
            raise _WorkerFailed("it broke the protocol")
        n = int(size)
        if n > self.max_bytes * 2 + FRAME_SLACK:
            raise _WorkerFailed(f"its answer is larger than {self.max_bytes >> 20} MB")
        body = self._read(lambda buf: n if len(buf) >= n else 0, deadline)
        return kind, body.decode("utf-8", "replace")

    def _read(self, complete, deadline: float) -> bytes:
        fd = self._out
        while True:
            n = complete(self._buffer)
            if n < 0:
                raise _WorkerFailed("it broke the protocol")
            if n > 0:
                out = bytes(self._buffer[:n])
                del self._buffer[:n]
                return out
            left = deadline - time.monotonic()
            if left <= 0:
                raise _WorkerFailed("it did not finish within the time left to the call", "TimeoutError")
            if select.select([fd], [], [], min(left, POLL_S))[0]:
                try:
                    chunk = os.read(fd, READ_CHUNK)
                except BlockingIOError:
                    continue
                if not chunk:
                    raise _WorkerFailed(self._death())
                self._buffer += chunk

    def _death(self) -> str:
        if self.proc is None:  # the zygote's child: the system reaped it
            return "it ended (its memory or CPU limit, or an error)"
        try:
            rc = self.proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            return "it stopped answering"
        if rc < 0:
            return f"it ended with signal {-rc}" + (" (its CPU time limit)" if -rc == signal.SIGXCPU else "")
        return f"it ended with status {rc}"


def _kill_process(proc: subprocess.Popen, *closing) -> None:
    if proc.poll() is None:
        try:
            proc.kill()
        except OSError:
            pass
    for stream in (proc.stdin, proc.stdout, *closing):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _kill_worker(proc, pidfd, *fds) -> None:
    if proc is not None:
        _kill_process(proc)
        return
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except OSError:  # it has ended already
        pass
    for fd in (pidfd, *fds):
        try:
            os.close(fd)
        except OSError:
            pass

