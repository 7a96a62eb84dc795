"""A fresh, confined IPython kernel for one submission, with limits enforced from outside it.

`Sandbox` starts ``python -m ipykernel_launcher`` in a new temporary working
directory that holds only the files it is given (the submission and any data
it needs), talks to it over the shell channel only (ZeroMQ ``ipc`` sockets,
which work without a network), and tears everything down on `Sandbox.close`.

What is enforced, and where
---------------------------
Always, by the grader (every platform):

* wall time per cell (``Limits.cell_timeout_s``: the kernel is interrupted,
  then killed if it does not stop) and per notebook (the grader stops sending
  cells); wall time per remote call and per test cell (`autograder.remote`,
  `autograder.grading`);
* output size: the grader never subscribes to IOPub, so whatever the kernel
  prints is dropped by ZeroMQ at the kernel's side; the grader reads the shell
  and stdin sockets itself (`autograder.wire`, ZMTP under a byte budget): at
  most ``Limits.reply_mb * 3 / 2 + 4`` MB per message (frames of unfinished
  messages included) and ``Limits.received_mb`` per submission; a kernel that
  sends more is killed and the submission's remaining tests score 0;
* the kernel's environment is rebuilt from scratch (no grader variables leak).

Linux as root, with ``unshare``, ``setpriv``, ``prlimit`` and ``mount``
(util-linux) available (``protections["confined"] is True``):

* new mount, network, PID, IPC and UTS namespaces; the kernel is PID 1 of its
  PID namespace, so killing it kills every process the submission started
  (daemons, ``setsid`` children, fork storms), and ``/proc`` shows only them;
* the kernel runs as ``nobody`` (uid/gid 65534, no supplementary groups,
  ``no_new_privs``, no capabilities), with the parent-death signal set, so a
  grader killed with ``kill -9`` takes its kernels with it;
* the repository is replaced by an empty tmpfs except the directories the
  kernel needs to import (``.venv``, ``course_utils``, ``data``), so
  ``solutions/``, ``tests/``, ``.git``, ``source/``, ``gradebook.db``,
  ``submitted/``, ``autograded/`` … of a course kept in the repository are
  invisible; every path in ``hide`` (e.g. a course directory elsewhere) is
  covered the same way (an empty tmpfs over a directory, ``/dev/null`` over a
  file); a directory the interpreter lives under that ``nobody`` cannot
  enter (a pyenv in ``/root``) is masked the same way, with only the
  interpreter's installation bound back;
* ``/tmp``, ``/var/tmp`` and ``/dev/shm`` are fresh, size-limited tmpfs
  mounts; the working directory ``/tmp/work`` lives in that tmpfs, so the
  kernel cannot see other submissions' sandboxes and everything it writes
  disappears with it; elsewhere it can write nothing (it is not root);
* no network: the new network namespace has only a loopback interface, down;
* memory and number of tasks through cgroups when the cgroup file system is
  writable (v1 ``memory.limit_in_bytes`` + ``pids.max``, or v2 ``memory.max``
  + ``pids.max``); ``protections["memory"]`` says which;
* rlimits: ``RLIMIT_CPU``, ``RLIMIT_FSIZE``, ``RLIMIT_CORE`` = 0;
  ``RLIMIT_NPROC`` only when no pids cgroup is available (it counts the tasks
  of uid nobody machine-wide, so concurrent sandboxes share it); ``RLIMIT_AS``
  only when no memory cgroup is available (PyTorch and TensorFlow reserve far
  more address space than they use).

Anywhere else (not root, macOS, no util-linux; ``confined is False``): the
kernel runs as the grader's user in its own session and process group, in
the temporary directory, with ``RLIMIT_AS`` (memory plus 4 GiB of address
space headroom; not enforced by macOS), ``RLIMIT_CPU``, ``RLIMIT_FSIZE`` and
``RLIMIT_CORE``; it can read whatever that user can read and reach the
network, and a child that calls ``setsid`` can escape the process-group kill.
Run the grader as root on Linux (e.g. in a container) for the real sandbox.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534
# Directories of the repository that the kernel needs to import course_utils and find its data.
EXPOSED = ("course_utils", "data")
_TOOLS = ("unshare", "setpriv", "prlimit", "mount", "cp", "sh")


class SandboxError(RuntimeError):
    """The kernel could not be started (the message says why and what to check)."""


class _CallEnded(BaseException):
    """An input exchange ended without a next request: the kernel answered the execute request, or time ran out.

    A BaseException, so that no ``except Exception`` between the exchange and `Sandbox.execute` stops it.
    """


class KernelDied(RuntimeError):
    """The student's kernel is gone; ``reason`` says how it ended."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    """Resource limits of one submission (all enforced from outside the kernel)."""

    memory_mb: int = 2048  # resident memory of all the submission's processes
    processes: int = 512  # tasks (processes and threads)
    cpu_s: int = 1200  # CPU seconds of the kernel process
    file_size_mb: int = 64  # largest file the kernel may write
    disk_mb: int = 256  # size of the sandbox's /tmp (working directory included)
    cell_timeout_s: float = 120.0  # wall time of one notebook cell
    notebook_timeout_s: float = 600.0  # wall time of all cells together
    call_timeout_s: float = 30.0  # wall time of one call into the kernel by a hidden test
    test_timeout_s: float = 120.0  # wall time of one test cell's hidden tests
    startup_timeout_s: float = 60.0  # until the kernel answers kernel_info
    interrupt_grace_s: float = 3.0  # after SIGINT, before SIGKILL
    reply_mb: int = 16  # largest answer the grader accepts from the kernel (one message: reply_mb * 3 / 2 + 4 MB)
    received_mb: int = 512  # all the bytes the grader reads from one submission's kernels together
    notebook_mb: int = 50  # largest submission file the grader reads
    max_restarts: int = 2  # fresh kernels after a kernel died, per submission
    threads: int = 1  # math-library threads of the kernel (parallel workers share the cores)


@dataclass
class Execution:
    """The outcome of one execute request."""

    status: str  # "ok", "error", "timeout" (interrupted) or "died"
    ename: str = ""
    evalue: str = ""
    reason: str = ""  # for "timeout" and "died"
    user_expressions: dict | None = None
    elapsed_s: float = 0.0


@functools.lru_cache(maxsize=1)
def confinement_available() -> tuple[bool, str]:
    """Whether namespaces + uid drop work here, and why not when they don't."""
    if not sys.platform.startswith("linux"):
        return False, f"{sys.platform}: Linux namespaces are not available"
    if os.geteuid() != 0:
        return False, "the grader is not root, so it cannot create namespaces or switch to uid nobody"
    missing = [t for t in _TOOLS if shutil.which(t) is None]
    if missing:
        return False, f"missing tools: {', '.join(missing)} (install util-linux)"
    try:
        probe = subprocess.run(
            ["unshare", "--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--mount-proc", "true"],
            capture_output=True, timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"unshare failed: {exc}"
    if probe.returncode != 0:
        return False, "unshare failed: " + probe.stderr.decode(errors="replace").strip()[:200]
    return True, "namespaces, uid nobody"


class _Cgroups:
    """A private memory + pids cgroup (v1 or v2) for one sandbox, when the cgroup fs is writable."""

    def __init__(self, name: str, limits: Limits):
        self.dirs: list[Path] = []
        self.memory: Path | None = None
        self.kind = ""
        root = Path("/sys/fs/cgroup")
        try:
            own = Path("/proc/self/cgroup").read_text().splitlines()
        except OSError:
            return
        if (root / "cgroup.controllers").exists():  # v2, unified
            rel = next((line.split(":", 2)[2] for line in own if line.startswith("0::")), None)
            if rel is not None:
                group = root / rel.lstrip("/") / name
                if self._make(group, {"memory.max": limits.memory_mb << 20, "pids.max": limits.processes,
                                      "memory.swap.max": 0}):
                    self.memory, self.kind = group, "cgroup v2"
            return
        paths = {}
        for line in own:
            _, controllers, rel = line.split(":", 2)
            for c in controllers.split(","):
                paths[c] = rel
        if "memory" in paths:
            group = root / "memory" / paths["memory"].lstrip("/") / name
            if self._make(group, {"memory.limit_in_bytes": limits.memory_mb << 20,
                                  "memory.memsw.limit_in_bytes": limits.memory_mb << 20}):
                self.memory, self.kind = group, "cgroup v1"
        if "pids" in paths:
            self._make(root / "pids" / paths["pids"].lstrip("/") / name, {"pids.max": limits.processes})

    def _make(self, group: Path, settings: dict) -> bool:
        try:
            group.mkdir()
        except OSError:
            return False
        self.dirs.append(group)
        first = True
        for key, value in settings.items():
            try:
                (group / key).write_text(str(value))
            except OSError:
                if first:  # the essential setting failed: do not pretend
                    self.dirs.remove(group)
                    with contextlib.suppress(OSError):
                        group.rmdir()
                    return False
            first = False
        return True

    @property
    def pids(self) -> bool:
        return any((d / "pids.max").exists() for d in self.dirs)

    def join_commands(self) -> list[str]:
        """Shell lines that move the calling shell (and so the kernel it becomes) into the groups."""
        return [f"echo 0 > {shlex.quote(str(d / 'cgroup.procs'))}" for d in self.dirs]

    def join_self(self) -> None:
        for d in self.dirs:
            (d / "cgroup.procs").write_text("0")

    def oom_killed(self) -> bool:
        if self.memory is None:
            return False
        for name in ("memory.events", "memory.oom_control"):
            with contextlib.suppress(OSError, ValueError):
                for line in (self.memory / name).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill" and int(value) > 0:
                        return True
        with contextlib.suppress(OSError, ValueError):
            return int((self.memory / "memory.failcnt").read_text()) > 0 and \
                int((self.memory / "memory.max_usage_in_bytes").read_text()) >= int(
                    (self.memory / "memory.limit_in_bytes").read_text()) - (1 << 20)
        return False

    def remove(self) -> None:
        for d in self.dirs:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except OSError:
                    time.sleep(0.05)


def _rlimits(limits: Limits, *, confined: bool, memory_cgroup: bool, pids_cgroup: bool) -> dict[str, int]:
    mb = 1 << 20
    out = {"cpu": int(limits.cpu_s), "fsize": limits.file_size_mb * mb, "core": 0}
    if confined and not pids_cgroup:
        # RLIMIT_NPROC counts every task of uid nobody on the machine, other sandboxes' included:
        # only a fallback for when the per-sandbox pids cgroup is not available.
        out["nproc"] = limits.processes
    if not memory_cgroup:
        out["as"] = (limits.memory_mb + 4096) * mb
    return out


def _set_rlimits(values: dict[str, int]) -> None:  # runs in the child (fallback path only)
    import resource

    names = {"cpu": resource.RLIMIT_CPU, "fsize": resource.RLIMIT_FSIZE, "core": resource.RLIMIT_CORE,
             "as": resource.RLIMIT_AS}
    for key, value in values.items():
        if key in names:
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(names[key], (value, value))


def _parent_pid(pid) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _closed_ancestor(path: Path) -> Path | None:
    """The outermost ancestor of `path` that other users cannot enter (mode without o+x), if any."""
    for parent in reversed(path.parents):
        try:
            if not parent.stat().st_mode & 0o001:
                return parent
        except OSError:
            return None
    return None


def _is_under(path: Path, parent: Path) -> bool:
    try:
        path.relative_to(parent)
        return True
    except ValueError:
        return False


class Sandbox:
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
    """

    def __init__(self, files: Mapping[str, bytes | Path], *, limits: Limits | None = None, hide=(),
                 confine: bool | None = None, byte_budget=None):
        self.limits = limits or Limits()
        available, why = confinement_available()
        if confine and not available:
            raise SandboxError(f"confinement requested but not available: {why}")
        self.confined = available if confine is None else (confine and available)
        self._why = why
        self._available = available
        self._files = dict(files)
        self._hide = [Path(p) for p in hide]
        self._proc: subprocess.Popen | None = None
        self._kernel_pid: int | None = None
        self._cgroups: _Cgroups | None = None
        self._base: Path | None = None
        self._socket = None
        self._context = None
        self._session = None
        self._log = None
        self._closed = False
        self._on_input = None
        self._pending_input: dict | None = None
        self._early_reply: dict | None = None
        self.byte_budget = byte_budget  # autograder.wire.Budget shared by a submission's kernels, or None
        self.violation: str | None = None  # why the grader stopped reading the kernel (it is killed then)
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
        limits = self.limits
        self._base = Path(tempfile.mkdtemp(prefix="ag-"))
        os.chmod(self._base, 0o700)
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
        inside_conn = "/tmp/.kernel" if self.confined else str(conn)
        info = {"transport": "ipc", "ip": f"{inside_conn}/k", "shell_port": 1, "iopub_port": 2, "stdin_port": 3,
                "control_port": 4, "hb_port": 5, "key": key, "signature_scheme": "hmac-sha256",
                "kernel_name": "python3"}
        (conn / "kernel.json").write_text(json.dumps(info))
        os.chmod(conn / "kernel.json", 0o644)
        name = f"autograder-{os.getpid()}-{secrets.token_hex(4)}"
        self._cgroups = _Cgroups(name, limits) if os.geteuid() == 0 and sys.platform.startswith("linux") else None
        memory_cgroup = bool(self._cgroups and self._cgroups.memory)
        pids_cgroup = bool(self._cgroups and self._cgroups.pids)
        rlimits = _rlimits(limits, confined=self.confined, memory_cgroup=memory_cgroup, pids_cgroup=pids_cgroup)
        kernel_cmd = [sys.executable, "-m", "ipykernel_launcher", "-f", f"{inside_conn}/kernel.json",
                      "--HistoryManager.hist_file=:memory:"]
        self._log = open(self._base / "kernel.log", "wb")
        if self.confined:
            for d in (work, conn):
                os.chown(d, NOBODY, NOBODY)
            for f in work.iterdir():
                os.chown(f, NOBODY, NOBODY)
            env = self._environment(home="/tmp/work", tmp="/tmp")
            script = self._script(kernel_cmd, rlimits)
            cmd = ["setpriv", "--pdeathsig", "KILL", "--",
                   "unshare", "--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child",
                   "--mount-proc", "--propagation", "private", "--", "sh", "-c", script]
            self._proc = subprocess.Popen(cmd, cwd="/", env=env, stdin=subprocess.DEVNULL, stdout=self._log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
            self._kernel_pid = self._find_child(self._proc.pid)
        else:
            tmp = self._base / "tmp"
            tmp.mkdir()
            env = self._environment(home=str(work), tmp=str(tmp))
            cgroups = self._cgroups

            def preexec():
                _set_rlimits(rlimits)
                if cgroups is not None:
                    with contextlib.suppress(OSError):
                        cgroups.join_self()

            self._proc = subprocess.Popen(kernel_cmd, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=self._log,
                                          stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=preexec)
            self._kernel_pid = self._proc.pid
        self.protections = {
            "confined": self.confined,
            "platform": sys.platform,
            "why_not_confined": "" if self.confined else (
                "confinement turned off (confine=False)" if self._available else self._why),
            "namespaces": ["mount", "network", "pid", "ipc", "uts"] if self.confined else [],
            "uid": NOBODY if self.confined else os.geteuid(),
            "hidden_paths": self.hidden,
            "memory": f"{self._cgroups.kind} {limits.memory_mb} MB" if memory_cgroup
            else f"RLIMIT_AS {limits.memory_mb + 4096} MB",
            "processes": f"pids cgroup {limits.processes}" if pids_cgroup
            else f"RLIMIT_NPROC {limits.processes} (shared by every sandbox's uid nobody)" if self.confined
            else "not limited",
            "rlimits": rlimits,
            "limits": asdict(limits),
        }
        self._connect(conn / "k", key)
        self._wait_ready()

    def _environment(self, *, home: str, tmp: str) -> dict[str, str]:
        bin_dir = str(Path(sys.executable).parent)
        return {
            "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "TMPDIR": tmp,
            "LANG": "C.UTF-8",
            "MPLBACKEND": "Agg",
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "IPYTHONDIR": f"{tmp}/.ipython",
            "MPLCONFIGDIR": f"{tmp}/.matplotlib",
            "JUPYTER_CONFIG_DIR": f"{tmp}/.jupyter",
            "JUPYTER_DATA_DIR": f"{tmp}/.jupyter/data",
            "JUPYTER_RUNTIME_DIR": f"{tmp}/.jupyter/runtime",
            **{var: str(self.limits.threads) for var in (
                "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")},
        }

    def _script(self, kernel_cmd: list[str], rlimits: dict[str, int]) -> str:
        """The shell script run as root inside the new namespaces; it ends by becoming the kernel."""
        q = shlex.quote
        lines = ["set -e", f"exec 3<{q(str(self._base))}"]
        fd = 4
        # The repository becomes an empty tmpfs; the directories needed to import (the interpreter's
        # prefixes, course_utils, data) are bound back. A needed directory below one that nobody cannot
        # enter (a pyenv under /root) gets the same treatment: that ancestor is masked and the path rebuilt.
        exposed = [Path(os.path.realpath(sys.base_prefix)), Path(os.path.realpath(sys.prefix))]
        exposed += [ROOT / d for d in EXPOSED if (ROOT / d).is_dir()]
        exposed = [p for i, p in enumerate(exposed) if p not in exposed[:i]]
        masks = [ROOT] + [a for a in map(_closed_ancestor, exposed) if a is not None]
        masks = sorted({m for m in masks if not any(m != o and _is_under(m, o) for o in masks)}, key=lambda m: len(m.parts))
        binds = []
        for path in exposed:
            if any(_is_under(path, m) for m in masks):
                lines.append(f"exec {fd}<{q(str(path))}")
                binds.append((fd, path))
                fd += 1
        # The fresh /tmp comes first (every path above is already open), so a repository that
        # lives under /tmp (a CI checkout) is rebuilt inside it rather than buried under it.
        disk = self.limits.disk_mb
        lines += [f"mount -t tmpfs -o size={disk}m,mode=1777 autograder-tmp /tmp"]
        for extra, size in (("/var/tmp", 16), ("/dev/shm", 64)):
            if Path(extra).is_dir():
                lines.append(f"mount -t tmpfs -o size={size}m,mode=1777 autograder-tmp {extra}")
        for mask in masks:
            lines += [f"mkdir -p {q(str(mask))}", f"mount -t tmpfs -o size=1m,mode=0755 autograder-hidden {q(str(mask))}"]
        self.hidden.append(f"{ROOT} (except {', '.join(str(p.relative_to(ROOT)) for _, p in binds if _is_under(p, ROOT))})")
        self.hidden += [f"{m} (except the Python installation)" for m in masks if m != ROOT]
        for n, path in binds:
            lines += [f"mkdir -p {q(str(path))}",
                      f"mount --no-canonicalize --bind /proc/self/fd/{n} {q(str(path))}",
                      f"exec {n}<&-"]
        for path in self._hide:
            path = path.absolute()
            if (_is_under(path, Path("/tmp")) or _is_under(path, ROOT)) and not any(
                    _is_under(path, p) for _, p in binds):
                self.hidden.append(str(path))  # covered by the fresh /tmp or the hidden repository
                continue
            if path.is_dir():
                lines.append(f"mount -t tmpfs -o size=1m,mode=0755 autograder-hidden {q(str(path))}")
            elif path.exists():
                lines.append(f"mount --bind /dev/null {q(str(path))}")
            else:
                continue
            self.hidden.append(str(path))
        self.hidden.append("/tmp, /var/tmp, /dev/shm (fresh, private)")
        lines += [
            "mkdir /tmp/work /tmp/.kernel",
            "cp -R /proc/self/fd/3/work/. /tmp/work/",
            f"chown -R {NOBODY}:{NOBODY} /tmp/work",
            "chmod 0700 /tmp/work",
            "mount --no-canonicalize --bind /proc/self/fd/3/conn /tmp/.kernel",
            "exec 3<&-",
        ]
        if self._cgroups is not None:
            lines += self._cgroups.join_commands()
        lines.append("cd /tmp/work")
        limits = " ".join(f"--{k}={v}" for k, v in rlimits.items())
        lines.append(
            f"exec prlimit {limits} -- setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups --no-new-privs "
            f"--inh-caps=-all --bounding-set=-all --pdeathsig KILL -- " + " ".join(q(a) for a in kernel_cmd))
        return "\n".join(lines)

    def _find_child(self, pid: int) -> int:
        """The pid (here) of unshare's child: PID 1 of the namespace, which becomes the kernel."""
        deadline = time.monotonic() + 10
        path = Path(f"/proc/{pid}/task/{pid}/children")
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                children = path.read_text().split() if path.exists() else [
                    e.name for e in Path("/proc").iterdir()
                    if e.name.isdigit() and _parent_pid(e.name) == pid]
                if children:
                    return int(children[0])
            if self._proc.poll() is not None:
                raise SandboxError(f"the sandbox failed to start: {self._log_tail()}")
            time.sleep(0.005)
        raise SandboxError("the sandbox did not start its kernel within 10 s")

    def _connect(self, ipc_prefix: Path, key: str) -> None:
        # The grader reads the kernel's sockets itself, under a byte budget (autograder.wire).
        from jupyter_client.session import Session

        from autograder.wire import Budget, Channels

        self._session = Session(key=key.encode(), signature_scheme="hmac-sha256", username="autograder")
        budget = self.byte_budget or Budget(per_message=(self.limits.reply_mb * 3 // 2 + 4) << 20,
                                            total=self.limits.received_mb << 20)
        self._socket = Channels(str(ipc_prefix), 1, 3, self._session.bsession, budget)

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
            raise SandboxError(f"the kernel did not answer within {self.limits.startup_timeout_s:g} s: {self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            text = (self._base / "kernel.log").read_bytes()[-2000:].decode(errors="replace")
        except (OSError, TypeError):
            return ""
        return " | ".join(line for line in text.splitlines() if line.strip())[-600:]

    # --------------------------------------------------------------- running
    def alive(self) -> bool:
        return self._proc is not None and not self._closed and self._proc.poll() is None

    def death_reason(self) -> str:
        """How the kernel ended, in words a student can act on."""
        if self._proc is None:
            return "it never started"
        if self.violation:
            return self.violation
        rc = self._proc.poll()
        if self._cgroups is not None and self._cgroups.oom_killed():
            return f"it ran out of memory (limit {self.limits.memory_mb} MB)"
        if rc is None:
            return "it stopped answering"
        if rc > 128 and self.confined:  # some unshare versions report a child's signal as 128 + n
            rc = -(rc - 128)
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
        out = Execution("ok" if status == "ok" else "error", elapsed_s=time.monotonic() - started,
                        user_expressions=c.get("user_expressions") if isinstance(c.get("user_expressions"), dict) else {})
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
                value = handler(prompt if isinstance(prompt, str) else "") if handler is not None else "\x04"
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
        proc = self._proc
        if proc is None:
            return
        if self.confined and self._kernel_pid is not None and proc.poll() is None:
            with contextlib.suppress(OSError, ValueError, IndexError):
                if _parent_pid(self._kernel_pid) == proc.pid:  # still unshare's child: not a reused pid
                    os.kill(self._kernel_pid, signal.SIGKILL)  # PID 1 of the namespace: all its processes go
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
        if self._socket is not None:
            self._socket.close()
        if self._log is not None:
            self._log.close()
        if self._cgroups is not None:
            self._cgroups.remove()
        if self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
