"""The kernel template: one confined process per grader process and settings, which has imported the modules
its settings name (`PRELOAD`, less what `preload_for` leaves out for a lab) and forks every kernel (see
"Confinement" in the notes of `autograder.sandbox`).

The template's programs are ``_child/setup.py`` (run by path) and ``_child/template_main.py`` (its text,
read from the file, run by the setup after ``pivot_root``).
"""
from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from autograder.sandbox.cleanup import private_dir, remove_tree
from autograder.sandbox.errors import SandboxError
from autograder.sandbox.procfs import _children, _innermost_pid, _start_time

CHILD = Path(__file__).resolve().parent / "_child"
SETUP = CHILD / "setup.py"
TEMPLATE_MAIN = CHILD / "template_main.py"
#: What the template imports once, so that every kernel forked from it finds these modules loaded (the labs'
#: setup cells import them: TensorFlow, PyTorch and torch._dynamo alone take about 5 s per kernel otherwise).
#: torch._dynamo comes before TensorFlow, as in the labs (loaded after TensorFlow 2.21 it aborts the process).
#: Only modules whose import does not depend on running inside a kernel: not tqdm.auto (it picks its notebook
#: or text bar when imported) nor ipywidgets (it registers its comm target with the kernel when imported).
PRELOAD = ("numpy", "matplotlib", "matplotlib.pyplot", "torch", "torch._dynamo", "tensorflow",
           "IPython", "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel_launcher")
#: Entries of `PRELOAD` imported only for a lab whose notebook imports one of these modules (`preload_for`):
#: torch._dynamo costs about 1.6 s of each template's start, and only the labs with optimizers load it.
ON_DEMAND = {"torch._dynamo": ("torch._dynamo", "torch.optim")}
PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent dies
POLL_S = 0.002  # how often `_wait_for` looks again
REPLY_BYTES = 1 << 16  # the template's answers are small JSON objects
STATUS_BYTES = 64  # a wait status, in decimal
LOG_TAIL_BYTES, LOG_TAIL_CHARS = 2000, 600  # what an error message quotes of a log
CLOSE_WAIT_S = 10
UNSHARE = ["unshare", "--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child", "--mount-proc",
           "--propagation", "private", "--"]
SETUP_ENV = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}


def preload_for(imported) -> tuple[str, ...]:
    """What a template imports for kernels that run code importing the modules `imported` (dotted names, as
    written in the code): `PRELOAD`, less each `ON_DEMAND` entry that nothing in `imported` asks for. The
    frameworks are always imported (the kernel side takes their tensor classes before a submission runs).
    A module left out is only slower: the kernel imports it when the notebook does."""
    imported = set(imported)

    def asked(name):
        return any(m == want or m.startswith(want + ".") for m in imported for want in ON_DEMAND[name])

    return tuple(name for name in PRELOAD if name not in ON_DEMAND or asked(name))


def _wait_for(find, deadline: float, alive) -> int | None:
    while time.monotonic() < deadline:
        found = find()
        if found is not None:
            return found
        if not alive():
            return None
        time.sleep(POLL_S)
    return None


def log_tail(path: Path) -> str:
    """The end of the log at `path`, its non-blank lines joined on one line (for an error message)."""
    try:
        text = path.read_bytes()[-LOG_TAIL_BYTES:].decode(errors="replace")
    except (OSError, TypeError):
        return ""
    return " | ".join(line for line in text.splitlines() if line.strip())[-LOG_TAIL_CHARS:]


def _die_with_parent() -> None:  # runs in the child before exec
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class _Forked:
    """The `subprocess.Popen` methods `Sandbox` uses, for a kernel forked by the template.

    ``pid`` is the kernel's parent (in the template's namespaces), which reports the kernel's wait
    status on a pipe and exits; a pipe that ends without a status means that parent was killed.
    """

    def __init__(self, pid: int, status_fd: int):
        self.pid = pid
        self.returncode: int | None = None
        self._fd = status_fd
        self._started = _start_time(pid)

    def _read(self, timeout: float) -> None:
        if self.returncode is not None:
            return
        ready, _, _ = select.select([self._fd], [], [], max(timeout, 0.0))
        if not ready:
            return
        data = b""
        with contextlib.suppress(OSError):
            data = os.read(self._fd, STATUS_BYTES)
        try:
            self.returncode = os.waitstatus_to_exitcode(int(data))
        except ValueError:
            self.returncode = -signal.SIGKILL  # the parent was killed before it could say
        os.close(self._fd)

    def poll(self) -> int | None:
        self._read(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = 3600.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired("kernel", timeout)
            self._read(left)
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None and self._started is not None and _start_time(self.pid) == self._started:
            os.kill(self.pid, signal.SIGKILL)  # the kernel has it as its parent-death signal's parent


class _Template:
    """A confined process that has imported ``config["preload"]`` (default `PRELOAD`); kernels are forked from it
    (see ``_child/template_main.py``).

    It lives in new mount, network, PID, IPC and UTS namespaces (as a user: in a new user namespace
    too) with the kernels' file system already built (the allow-list, read-only), the kernels'
    interpreter and environment, and (namespace-)root's powers, which it needs to give each kernel
    namespaces of its own. It runs no code of a submission: each kernel is a copy of it that gets
    fresh namespaces, its own /proc, /tmp and /dev/shm, and drops every power before ipykernel starts.
    One template serves every sandbox of this process with the same settings; it dies with the process.
    """

    def __init__(self, mode: str, config: dict, timeout: float):
        self.owner = os.getpid()
        self.lock = threading.Lock()
        self.base = private_dir()
        (self.base / "root").mkdir(mode=0o700)
        self.log = open(self.base / "template.log", "wb")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        setup = self.base / "setup.json"
        setup.write_text(json.dumps({"preload": list(PRELOAD), **config, "newroot": str(self.base / "root"),
                                     "template": TEMPLATE_MAIN.read_text()}))
        os.chmod(setup, 0o600)
        userns = ["--user", "--map-root-user"] if mode == "user" else []
        cmd = [UNSHARE[0], *userns, *UNSHARE[1:], sys.executable, "-I", "-S", str(SETUP), str(setup),
               str(theirs.fileno())]
        try:  # unshare dies with the grader, and its --kill-child takes the template with it
            self.proc = subprocess.Popen(cmd, cwd="/", env=SETUP_ENV, stdin=subprocess.DEVNULL, stdout=self.log,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=_die_with_parent, pass_fds=[theirs.fileno()])
        finally:
            theirs.close()
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.close()
            raise
        with contextlib.suppress(OSError):
            setup.unlink()

    def _wait_ready(self, timeout: float) -> None:
        """Until the template has said what it imported (its pid is then known)."""
        deadline = time.monotonic() + timeout
        self.pid = _wait_for(lambda: (_children(self.proc.pid) or [None])[0], deadline, self.alive)
        self.sock.settimeout(max(deadline - time.monotonic(), 1.0))
        try:
            ready = json.loads(self.sock.recv(REPLY_BYTES) or b"null")
        except (OSError, ValueError):
            ready = None
        if self.pid is None or not isinstance(ready, dict):
            raise SandboxError(f"the kernel template did not start within {timeout:g} s: {self.log_tail()}"
                               if self.alive() else f"the kernel template failed to start: {self.log_tail()}")
        self.loaded, self.failed = ready.get("loaded", []), ready.get("failed", {})

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self) -> str:
        return log_tail(self.base / "template.log")

    def spawn(self, request: dict, fds: list[int], timeout: float) -> int:
        """Fork a kernel's parent; return its pid here (the kernel is its only child)."""
        with self.lock:
            try:
                self.sock.settimeout(timeout)
                socket.send_fds(self.sock, [json.dumps(request).encode()], fds)
                reply = json.loads(self.sock.recv(REPLY_BYTES) or b"null")
            except (OSError, ValueError) as exc:
                raise SandboxError(f"the kernel template did not answer ({exc}): {self.log_tail()}") from None
        if not isinstance(reply, dict) or not isinstance(reply.get("pid"), int):
            raise SandboxError(f"the kernel template could not fork a kernel: {reply!r:.300}")
        inner = reply["pid"]
        parent = _wait_for(lambda: next((c for c in _children(self.pid) if _innermost_pid(c) == inner), None),
                           time.monotonic() + timeout, self.alive)
        if parent is None:
            raise SandboxError(f"the kernel template's child {inner} was not found: {self.log_tail()}")
        return parent

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        proc = getattr(self, "proc", None)
        if proc is not None:
            with contextlib.suppress(OSError):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=CLOSE_WAIT_S)
        self.log.close()
        remove_tree(self.base)


_templates: dict[str, _Template] = {}
_templates_lock = threading.Lock()


def _template(mode: str, config: dict, timeout: float) -> _Template:
    """This process's template for `config` (started, or started again after it died)."""
    key = json.dumps([mode, config], sort_keys=True)
    with _templates_lock:
        found = _templates.get(key)
        if found is not None and (found.owner != os.getpid() or not found.alive()):
            if found.owner == os.getpid():
                found.close()
            found = None  # a forked grader starts its own (the socket is its parent's)
        if found is None:
            found = _templates[key] = _Template(mode, config, timeout)
        return found


@atexit.register
def close_templates() -> None:
    """Stop this process's kernel templates (also done by the parent-death signal when it is killed)."""
    with _templates_lock:
        for key, found in list(_templates.items()):
            if found.owner == os.getpid():
                found.close()
            del _templates[key]
