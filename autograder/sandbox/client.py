"""`Sandbox`: one kernel for one submission, started (confined: forked from the template), talked to over its
shell and stdin channels, watched for memory, and torn down (see the notes of `autograder.sandbox`)."""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

from autograder.limits import kernel_budget
from autograder.sandbox import policy
from autograder.sandbox.cgroups import _Cgroups
from autograder.sandbox.cleanup import _sweep_once, private_dir, remove_tree
from autograder.sandbox.errors import KernelDied, SandboxError, _CallEnded
from autograder.sandbox.limits import ADDRESS_SPACE_HEADROOM_MB, _rlimits, _set_rlimits, by_resource_name
from autograder.sandbox.memory import MEMORY_WATCH_S, NEAR_WATCH_S, _MemoryWatch
from autograder.sandbox.policy import (DEVICES, KERNEL_CONN, KERNEL_DIRS, KERNEL_WORK, NOBODY, SHM_MB, Limits,
                                       current_mode, kernel_environment, not_enforced)
from autograder.sandbox.procfs import _children, _parent_pid, _start_time
from autograder.sandbox.seccomp import _seccomp_program, syscall_number
from autograder.sandbox.template import PRELOAD, _Forked, _Template, _template, _wait_for, log_tail

LOG_BYTES = 1 << 20  # what the host's log keeps of a confined kernel's stdout and stderr (the rest is dropped)
# The kernel's ZeroMQ channels: ipc sockets <conn>/k-<port> (the grader reads shell and stdin only)
CHANNEL_PORTS = {"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5}
TEMPLATE_START_S = 120.0  # at least this long for a template's start (its imports take seconds, more under load)
EOF_INPUT = "\x04"  # the answer to an input request nobody handles (Ctrl-D: EOFError in the kernel)


@dataclass
class Execution:
    """The outcome of one execute request."""

    status: str  # "ok", "error", "timeout" (interrupted) or "died"
    ename: str = ""
    evalue: str = ""
    reason: str = ""  # for "timeout" and "died"
    user_expressions: dict | None = None
    elapsed_s: float = 0.0


class Sandbox(_MemoryWatch):
    """One kernel for one submission. Use as a context manager; `close` always kills everything.

    Parameters
    ----------
    files : mapping of str to bytes or Path
        What the working directory holds: file name -> content or a file to copy.
    limits : Limits
    hide : iterable of Path
        Extra paths the kernel must not see (a course directory, other submissions).
    confine : bool or None
        None: confine when the platform allows; False: never (the fallback path);
        True: raise `SandboxError` when confinement is not available.
    preload : sequence of str, optional
        What the kernel template imports before forking (default `PRELOAD`; see `preload_for`). Sandboxes
        with the same settings and preload share one template.
    """

    def __init__(self, files: Mapping[str, bytes | Path], *, limits: Limits | None = None, hide=(),
                 confine: bool | None = None, byte_budget=None, preload=None):
        self.limits = limits or Limits()
        mode, why = current_mode()
        available = bool(mode)
        if confine and not available:
            raise SandboxError(f"confinement requested but not available: {why}")
        self.confined = available if confine is None else (confine and available)
        self._mode = mode
        self._why = why
        self._available = available
        self._files = dict(files)
        self._preload = list(PRELOAD if preload is None else preload)
        self._hide = [Path(p) for p in hide]
        self._proc: subprocess.Popen | None = None
        self._kernel_pid: int | None = None
        self._cgroups: _Cgroups | None = None
        self._base: Path | None = None
        self._socket = None
        self._session = None
        self._log = None
        self._closed = False
        self._on_input = None
        self._pending_input: dict | None = None
        self._early_reply: dict | None = None
        self.byte_budget = byte_budget  # autograder.wire.Budget shared by a submission's kernels, or None
        self.violation: str | None = None  # why the grader stopped reading the kernel (it is killed then)
        self._memory_reason: str | None = None  # set when the memory watch killed the kernel
        self._watch_stop = threading.Event()
        self._watch: threading.Thread | None = None
        self.hidden: list[str] = []
        self.protections: dict = {}

    # ----------------------------------------------------------------- start
    def __enter__(self) -> "Sandbox":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        if self.confined:
            _sweep_once()  # what graders killed earlier left behind
        self._base = private_dir()
        work, conn = self._base / "work", self._base / "conn"
        work.mkdir()
        conn.mkdir(mode=0o700)
        for name, content in self._files.items():
            target = work / Path(name).name
            if isinstance(content, (bytes, bytearray)):
                target.write_bytes(content)
            else:
                shutil.copyfile(content, target)
        key = secrets.token_hex(32)
        inside_conn = KERNEL_CONN if self.confined else str(conn)
        info = {"transport": "ipc", "ip": f"{inside_conn}/k", "key": key, "signature_scheme": "hmac-sha256",
                "kernel_name": "python3", **CHANNEL_PORTS}
        name = f"autograder-{os.getpid()}-{_start_time(os.getpid()) or 0}-{secrets.token_hex(4)}"
        self._cgroups = _Cgroups(name, self.limits) if self._mode == "root" and self.confined else None
        rlimits = _rlimits(self.limits, confined=self.confined, memory_cgroup=self._memory_cgroup,
                           pids_cgroup=self._pids_cgroup)
        kernel_args = ["-f", f"{inside_conn}/kernel.json", "--HistoryManager.hist_file=:memory:"]
        self._log = open(self._base / "kernel.log", "wb")
        if self.confined:
            preloaded = self._start_confined(kernel_args, rlimits, json.dumps(info), work)
            # The connection directory lives in the kernel's own size-limited /tmp; the grader reaches it
            # through the kernel's root (/proc/<pid>/root), which only the kernel's owner may follow.
            ipc_prefix = Path(f"/proc/{self._kernel_pid}/root{inside_conn}/k")
        else:
            (conn / "kernel.json").write_text(json.dumps(info))
            self._start_unconfined(kernel_args, rlimits, work)
            preloaded, ipc_prefix = [], conn / "k"
        self.protections = self._protections(rlimits, preloaded)
        self._connect(ipc_prefix, key)
        self._wait_ready()
        self._start_watch(self._memory_cgroup)

    @property
    def _memory_cgroup(self) -> bool:
        return bool(self._cgroups and self._cgroups.memory)

    @property
    def _pids_cgroup(self) -> bool:
        return bool(self._cgroups and self._cgroups.pids)

    def _start_confined(self, kernel_args: list[str], rlimits: dict[str, int], kernel_json: str,
                        work: Path) -> list[str]:
        """Fork the kernel from this process's template (a fresh template should it have died); return what
        the template had imported."""
        env = kernel_environment(home=KERNEL_WORK, tmp="/tmp", threads=self.limits.threads)
        shared, request = self._setup_config(kernel_args, rlimits, env, kernel_json)
        template_timeout = max(self.limits.startup_timeout_s, TEMPLATE_START_S)  # its imports take seconds
        template = _template(self._mode, shared, template_timeout)
        try:
            self._start_forked(template, request, work)
        except SandboxError:
            if template.alive():
                raise
            # The template died (the machine's out-of-memory killer, say) just before or while forking:
            # once more, from a fresh one.
            self.kill()
            self._proc = self._kernel_pid = None
            template = _template(self._mode, shared, template_timeout)
            self._start_forked(template, request, work)
        return template.loaded

    def _start_unconfined(self, kernel_args: list[str], rlimits: dict[str, int], work: Path) -> None:
        """The kernel as the grader's user, in a session of its own, with a temporary folder on the host."""
        tmp = self._base / "tmp"
        tmp.mkdir()
        env = kernel_environment(home=str(work), tmp=str(tmp), threads=self.limits.threads)

        def preexec():
            _set_rlimits(rlimits)

        self._proc = subprocess.Popen([sys.executable, "-m", "ipykernel_launcher", *kernel_args], cwd=work,
                                      env=env, stdin=subprocess.DEVNULL, stdout=self._log,
                                      stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=preexec)
        self._kernel_pid = self._proc.pid

    def _protections(self, rlimits: dict[str, int], preloaded: list[str]) -> dict:
        """What holds for this kernel (`protections`)."""
        limits, confined = self.limits, self.confined
        return {
            "confined": confined,
            "mode": self._mode if confined else "unconfined",
            "platform": sys.platform,
            "why_not_confined": "" if confined else (
                "confinement turned off (confine=False)" if self._available else self._why),
            "not_enforced": [] if confined else not_enforced(),
            "namespaces": (["user"] if self._mode == "user" else []) + ["mount", "network", "pid", "ipc", "uts"]
            if confined else [],
            "uid": (NOBODY if self._mode == "root" else f"0 in its own user namespace ({os.geteuid()} outside), "
                    "no capabilities") if confined else os.geteuid(),
            "seccomp": bool(confined and _seccomp_program()),
            "hidden_paths": self.hidden,
            "memory": f"{self._cgroups.kind} {limits.memory_mb} MB" if self._memory_cgroup
            else f"watch {limits.memory_mb} MB (all the submission's processes, every "
                 f"{NEAR_WATCH_S * 1000:g}-{MEMORY_WATCH_S * 2000:g} ms) "
                 f"and RLIMIT_AS {limits.memory_mb + ADDRESS_SPACE_HEADROOM_MB} MB per process",
            "processes": f"pids cgroup {limits.processes}" if self._pids_cgroup
            else f"RLIMIT_NPROC {limits.processes}" if confined else "not limited",
            "rlimits": rlimits,
            "limits": asdict(limits),
            "preloaded": preloaded,
        }

    def _setup_config(self, kernel_args: list[str], rlimits: dict[str, int], env: dict,
                      kernel_json: str) -> tuple[dict, dict]:
        """(What the template builds, shared by its kernels: the file system from an allow-list, the interpreter
        and environment; what this kernel's request adds: its /tmp, hidden paths, files and identity)."""
        binds, symlinks = policy.mount_plan()
        self.hidden.append(policy.shown(binds))
        hidden = policy.covered(self._hide, binds)
        self.hidden += [path for path, _ in hidden]
        shared = {"binds": binds, "symlinks": symlinks, "devices": list(DEVICES), "userns": self._mode == "user",
                  "python": sys.executable, "env": env, "sys_pivot_root": syscall_number("pivot_root"),
                  "preload": self._preload}
        request = {"binds": binds, "hide_dirs": [p for p, is_dir in hidden if is_dir],
                   "hide_files": [p for p, is_dir in hidden if not is_dir], "tmp_mb": self.limits.disk_mb,
                   "shm_mb": SHM_MB, "kernel_dirs": list(KERNEL_DIRS), "kernel_json": kernel_json,
                   "uid": NOBODY if self._mode == "root" else None, "rlimits": by_resource_name(rlimits),
                   "args": kernel_args, "log_bytes": LOG_BYTES, "seccomp": _seccomp_program().hex(),
                   "sys_capset": syscall_number("capset")}
        return shared, request

    def _start_forked(self, template: _Template, request: dict, work: Path) -> None:
        """Have `template` fork this sandbox's kernel; place it in its cgroups before it may go on."""
        status_r, status_w = os.pipe()
        go_r, go_w = os.pipe()
        work_fd = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
        try:
            try:
                parent = template.spawn(request, [self._log.fileno(), status_w, go_r, work_fd],
                                        self.limits.startup_timeout_s)
            finally:
                for fd in (status_w, go_r, work_fd):
                    os.close(fd)
            self._proc = _Forked(parent, status_r)
            status_r = None
            self._kernel_pid = _wait_for(lambda: (_children(parent) or [None])[0],
                                         time.monotonic() + self.limits.startup_timeout_s, self.alive)
            if self._kernel_pid is None:
                raise SandboxError(f"the kernel failed to start: {self._log_tail()}")
            for group in self._cgroups.dirs if self._cgroups is not None else []:
                try:
                    (group / "cgroup.procs").write_text(str(self._kernel_pid))
                except OSError as exc:
                    raise SandboxError(f"the kernel could not be placed in its cgroup {group}: {exc}") from None
            os.write(go_w, b"go")
        finally:
            os.close(go_w)
            if status_r is not None:
                os.close(status_r)

    def _connect(self, ipc_prefix: Path, key: str) -> None:
        # The grader reads the kernel's sockets itself, under a byte budget (autograder.wire).
        from jupyter_client.session import Session

        from autograder.wire import Channels

        self._session = Session(key=key.encode(), signature_scheme="hmac-sha256", username="autograder")
        budget = self.byte_budget or kernel_budget(self.limits)
        self._socket = Channels(str(ipc_prefix), CHANNEL_PORTS["shell_port"], CHANNEL_PORTS["stdin_port"],
                                self._session.bsession, budget)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.limits.startup_timeout_s
        if not self._socket.connect(deadline, self.alive):
            if not self.alive():
                raise SandboxError(f"the kernel exited while starting ({self.death_reason()}): {self._log_tail()}")
            raise SandboxError(f"the kernel did not open its sockets within {self.limits.startup_timeout_s:g} s: "
                               f"{self._log_tail()}")
        msg = self._session.send(self._socket.shell, "kernel_info_request", {})
        try:
            reply = self._wait_reply(msg["header"]["msg_id"], deadline)
        except KernelDied as exc:
            raise SandboxError(f"the kernel exited while starting ({exc.reason}): {self._log_tail()}") from None
        if reply is None:
            raise SandboxError(f"the kernel did not answer within {self.limits.startup_timeout_s:g} s: "
                               f"{self._log_tail()}")

    def _log_tail(self) -> str:
        return "" if self._base is None else log_tail(self._base / "kernel.log")

    # --------------------------------------------------------------- running
    def alive(self) -> bool:
        return self._proc is not None and not self._closed and self._proc.poll() is None

    def death_reason(self) -> str:
        """How the kernel ended, in words a student can act on."""
        if self._proc is None:
            return "it never started"
        if self.violation:
            return self.violation
        if self._memory_reason:
            return self._memory_reason
        rc = self._proc.poll()
        if self._cgroups is not None and self._cgroups.oom_killed():
            return f"it ran out of memory (limit {self.limits.memory_mb} MB)"
        if rc is None:
            return "it stopped answering"
        if rc < 0:
            sig = -rc
            if sig == signal.SIGXCPU:
                return f"it used more than {self.limits.cpu_s} s of CPU time"
            if sig == signal.SIGXFSZ:
                return f"it wrote a file larger than {self.limits.file_size_mb} MB"
            if sig == signal.SIGKILL:
                return "it was killed (SIGKILL; out of memory?)" if self.confined and self._cgroups is None \
                    else "it was killed (SIGKILL)"
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
            return f"it was killed by signal {name}"
        return f"it exited with status {rc} (sys.exit(), exit() or os._exit() in the notebook?)"

    def interrupt(self) -> None:
        if self.alive() and self._kernel_pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self._kernel_pid, signal.SIGINT)

    def execute(self, code: str, *, timeout: float, silent: bool = False, store_history: bool = True,
                user_expressions: dict | None = None, on_input=None) -> Execution:
        """Run `code`; on timeout interrupt it, and kill the kernel when it does not stop.

        `on_input(prompt) -> str` answers the kernel's ``input_request`` messages meanwhile
        (``allow_stdin`` is on only when it is given). Returns an `Execution`; raises
        `KernelDied` when the kernel is (or becomes) dead.
        """
        if not self.alive():
            raise KernelDied(self.death_reason())
        started = time.monotonic()
        content = {"code": code, "silent": silent, "store_history": store_history,
                   "user_expressions": user_expressions or {}, "allow_stdin": on_input is not None,
                   "stop_on_error": False}
        msg = self._guard(lambda: self._session.send(self._socket.shell, "execute_request", content))
        msg_id = msg["header"]["msg_id"]
        self._on_input = on_input
        reply = self._wait_reply(msg_id, started + max(timeout, 0.0))
        if reply is None:
            self.interrupt()
            reply = self._wait_reply(msg_id, time.monotonic() + self.limits.interrupt_grace_s)
            if reply is None:
                self.kill()
                raise KernelDied(f"it did not stop within {timeout:g} s, even when interrupted, and was killed")
            return Execution("timeout", reason=f"stopped after {timeout:g} s (time limit)",
                             elapsed_s=time.monotonic() - started)
        c = reply.get("content", {})
        status = c.get("status")
        expressions = c.get("user_expressions")
        out = Execution("ok" if status == "ok" else "error", elapsed_s=time.monotonic() - started,
                        user_expressions=expressions if isinstance(expressions, dict) else {})
        if status != "ok":
            out.ename = str(c.get("ename", "Error"))[:200]
            out.evalue = str(c.get("evalue", ""))[:1000]
        return out

    def _guard(self, action):
        """Run `action` (reading or writing the kernel's sockets); a kernel over its byte budget is killed."""
        from autograder.wire import Overflow

        try:
            return action()
        except Overflow as exc:
            self.violation = f"{exc}; the grader stopped reading it"
            self.kill()
            raise KernelDied(self.violation) from None
        except ConnectionError:
            raise KernelDied(self.death_reason() if not self.alive() else "it closed its connection to the grader") \
                from None

    def _wait_reply(self, msg_id: str, deadline: float) -> dict | None:
        early, self._early_reply = self._early_reply, None
        if early is not None and early["parent_header"].get("msg_id") == msg_id:
            return early

        def accept(channel, frames):
            msg = self._accept(channel, frames, msg_id)
            if msg is None or channel == "shell":
                return msg
            self._pending_input = msg
            content = msg.get("content") if isinstance(msg.get("content"), dict) else {}
            prompt = content.get("prompt")
            handler = self._on_input
            try:
                value = handler(prompt if isinstance(prompt, str) else "") if handler is not None else EOF_INPUT
                self._session.send(self._socket.stdin, "input_reply", {"value": str(value)}, parent=self._pending_input)
            except _CallEnded:
                pass
            found, self._early_reply = self._early_reply, None  # the kernel ended the call during the exchanges
            return found

        return self._guard(lambda: self._socket.wait(deadline, self._alive_or_raise, accept))

    def _accept(self, channel: str, frames: list, msg_id: str) -> dict | None:
        """The message if it is the reply (shell) or an input request (stdin) belonging to `msg_id`."""
        try:
            _, parts = self._session.feed_identities(frames)
            msg = self._session.deserialize(parts)
            if msg["parent_header"].get("msg_id") != msg_id or not isinstance(msg.get("content"), dict):
                return None
        except Exception:  # a malformed or unsigned message: not an answer
            return None
        if channel == "shell" and msg.get("msg_type", "").endswith("_reply"):
            return msg
        if channel == "stdin" and msg.get("msg_type") == "input_request":
            return msg
        return None

    def _alive_or_raise(self) -> bool:
        if not self.alive():
            raise KernelDied(self.death_reason())
        return True

    def stdin_exchange(self, value: str, deadline: float) -> str:
        """From inside an ``on_input`` handler: answer the pending input request with `value`, return the next prompt.

        Raises `_CallEnded` (a BaseException) at `deadline` or when the kernel ended the call instead
        of asking again (its execute reply is kept for the waiting `execute`).
        """
        pending = self._pending_input
        if pending is None:
            raise _CallEnded("no input request is pending")
        msg_id = pending["parent_header"].get("msg_id")
        self._session.send(self._socket.stdin, "input_reply", {"value": value}, parent=pending)
        self._pending_input = None
        msg = self._guard(lambda: self._socket.wait(deadline, self._alive_or_raise,
                                                    lambda ch, frames: self._accept(ch, frames, msg_id)))
        if msg is None:
            raise _CallEnded("the kernel did not answer in time")
        if msg.get("msg_type") != "input_request":
            self._early_reply = msg
            raise _CallEnded("the kernel ended the call")
        self._pending_input = msg
        content = msg.get("content") if isinstance(msg.get("content"), dict) else {}
        prompt = content.get("prompt")
        return prompt if isinstance(prompt, str) else ""

    # -------------------------------------------------------------- teardown
    def kill(self) -> None:
        """Kill the kernel and every process of the submission (idempotent)."""
        self._watch_stop.set()
        proc = self._proc
        if proc is None:
            return
        if self.confined and self._kernel_pid is not None and proc.poll() is None:
            with contextlib.suppress(OSError, ValueError, IndexError, subprocess.TimeoutExpired):
                if _parent_pid(self._kernel_pid) == proc.pid:  # still its forked parent's child: not a reused pid
                    os.kill(self._kernel_pid, signal.SIGKILL)  # PID 1 of the namespace: all its processes go
                    # The kernel zaps the namespace before PID 1 can be reaped, and the parent exits only once it
                    # has reaped it: waiting for the parent (instead of killing it at once, which would orphan a
                    # PID 1 still zapping) means no process of the submission is left when this returns.
                    proc.wait(timeout=10)
        if not self.confined and proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if not self.confined:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)

    def close(self) -> None:
        if self._closed:
            return
        self.kill()
        self._closed = True
        if self._watch is not None and self._watch is not threading.current_thread():
            self._watch.join(timeout=5)
        if self._socket is not None:
            self._socket.close()
        if self._log is not None:
            self._log.close()
        if self._cgroups is not None:
            self._cgroups.remove()
        if self._base is not None:
            remove_tree(self._base)
