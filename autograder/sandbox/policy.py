"""What a confined kernel may see and use: the limits, whether and how this machine can confine a kernel,
what is lost without confinement, and the file system's allow-list (the mount plan)."""
from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from autograder.sandbox.errors import SandboxError
from autograder.sandbox.seccomp import SYSCALLS

ROOT = Path(__file__).resolve().parent.parent.parent
NOBODY = 65534
# Directories of the repository that the kernel needs to import course_utils and find its data.
EXPOSED = ("course_utils", "data")
# System directories the kernel's file system holds (read-only): programs, libraries, and these /etc files.
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf", "hosts", "localtime",
       "ssl", "fonts", "alternatives", "mime.types", "os-release")
# The kernel's work folder (its home and current directory) and connection folder, made on its private /tmp.
KERNEL_WORK, KERNEL_CONN = "/tmp/work", "/tmp/.kernel"
KERNEL_DIRS = (KERNEL_WORK, KERNEL_CONN)
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
SHM_MB = 64  # the size of a confined kernel's own /dev/shm
PROBE_TIMEOUT_S = 20  # how long `confinement_mode` waits for its trial unshare
WHY_SHOWN = 200  # characters of a failed probe's error kept in the reason
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                    "TF_NUM_INTEROP_THREADS")
_NAMESPACES = ["--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--mount-proc"]


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


@functools.lru_cache(maxsize=1)
def confinement_mode() -> tuple[str, str]:
    """("root" | "user" | "", why): how this process can confine a kernel, and what is missing when it cannot.

    "root": new namespaces, the kernel as uid nobody, cgroups. "user": an unprivileged user
    namespace (``unshare --user --map-root-user``) holding the same namespaces, the kernel with
    no capabilities. "": neither works here; ``why`` says what failed.
    """
    if not sys.platform.startswith("linux"):
        return "", f"{sys.platform}: Linux namespaces are not available"
    if platform.machine() not in SYSCALLS:
        return "", f"{platform.machine()}: the sandbox knows the system calls of {', '.join(SYSCALLS)} only"
    if shutil.which("unshare") is None:
        return "", "missing tool: unshare (install util-linux)"
    if os.geteuid() == 0:
        mode, cmd = "root", ["unshare", *_NAMESPACES, "true"]
    else:
        mode, cmd = "user", ["unshare", "--user", "--map-root-user", *_NAMESPACES, "true"]
    try:
        probe = subprocess.run(cmd, capture_output=True, timeout=PROBE_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "", f"unshare failed: {exc}"
    if probe.returncode != 0:
        detail = probe.stderr.decode(errors="replace").strip()[:WHY_SHOWN]
        if mode == "user":
            return "", (f"the grader is not root and unprivileged user namespaces are not available ({detail}); "
                        "enable them (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces>0) "
                        "or run the grader as root")
        return "", f"unshare failed: {detail}"
    return mode, ("namespaces, uid nobody" if mode == "root"
                  else "user namespace + namespaces, no capabilities")


def current_mode() -> tuple[str, str]:
    """`confinement_mode` as the package `autograder.sandbox` exports it: replacing it there (as tests do, to
    play a machine without namespaces) changes what every part of the sandbox sees."""
    import autograder.sandbox as package

    return package.confinement_mode()


def confinement_available() -> tuple[bool, str]:
    """Whether a kernel can be confined here (as root or in a user namespace), and how or why not."""
    mode, why = current_mode()
    return bool(mode), why


def not_enforced() -> list[str]:
    """What an unconfined kernel (``--unconfined``) can do that a confined one cannot."""
    return [
        "the kernel runs as the grader's user: it can read everything that user can read "
        "(solutions, hidden tests, the gradebook, classmates' submissions) and write everything it can write "
        "(the grader's own code included)",
        "no namespaces: the kernel sees and can signal the grader's processes, and can reach the network",
        "no file-system allow-list and no private /tmp: it writes to the host's disk",
        "no cgroups: memory by the grader's watch over the kernel's processes and RLIMIT_AS per process, "
        "processes not limited; a setsid child can outlive grading",
        "no seccomp filter: keyrings and other shared kernel state can carry data between submissions",
    ]


def require_confinement(unconfined: bool = False, err=None) -> bool:
    """Fail closed: False (after saying why on `err`) when no kernel can be confined here, unless `unconfined`.

    With `unconfined`, grading goes on without confinement and `err` lists what is not enforced.
    """
    err = err or sys.stderr
    ok, why = confinement_available()
    if ok:
        return True
    if not unconfined:
        print(f"error: cannot confine the student's kernel here ({why}); refusing to grade. "
              "Run the grader as root or where unprivileged user namespaces work, or pass --unconfined "
              "to grade without confinement (only for submissions you trust)", file=err)
        return False
    print(f"warning: grading UNCONFINED (--unconfined): {why}. Not enforced:", file=err)
    for line in not_enforced():
        print(f"  - {line}", file=err)
    return True


def kernel_environment(*, home: str, tmp: str, threads: int) -> dict[str, str]:
    """The kernel's whole environment (nothing of the grader's leaks): its home and temporary folder, the
    grader's interpreter first on PATH, `ROOT` on PYTHONPATH, `threads` math-library threads."""
    bin_dir = str(Path(sys.executable).parent)
    return {
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": tmp,
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        # course_utils from the grader's own tree (exposed read-only), whichever way the project is installed
        "PYTHONPATH": str(ROOT),
        "IPYTHONDIR": f"{tmp}/.ipython",
        "MPLCONFIGDIR": f"{tmp}/.matplotlib",
        "JUPYTER_CONFIG_DIR": f"{tmp}/.jupyter",
        "JUPYTER_DATA_DIR": f"{tmp}/.jupyter/data",
        "JUPYTER_RUNTIME_DIR": f"{tmp}/.jupyter/runtime",
        **{var: str(threads) for var in THREAD_VARIABLES},
    }


def mount_plan() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(binds, symlinks): the allow-list of the kernel's file system, all of it read-only.

    ``binds`` are (host path, path in the sandbox) pairs, parents first: the system directories, a few
    /etc files, the interpreter (the venv and the installation it points to) and the repository's
    ``EXPOSED`` folders (under `ROOT`). ``symlinks`` are (link, target) pairs: /bin -> usr/bin on
    merged-/usr systems is the link, not a second copy. Raises `SandboxError` when a bind would overlap
    the kernel's own folders.
    """
    binds, symlinks = [], []
    for path in SYSTEM:
        if os.path.islink(path):
            symlinks.append((path, os.readlink(path)))
        elif os.path.isdir(path):
            binds.append((path, path))
    binds += [(f"/etc/{n}", f"/etc/{n}") for n in ETC if os.path.exists(f"/etc/{n}")]
    exposed = [os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix]
    exposed += [str(ROOT / d) for d in EXPOSED if (ROOT / d).is_dir()]
    for path in dict.fromkeys(exposed):
        if os.path.isdir(path) and not any(_is_under(Path(path), Path(b)) for b, _ in binds):
            binds.append((path, path))
    # A directory bound below another one replaces what that one shows there: keep the order parents first.
    binds.sort(key=lambda b: len(Path(b[1]).parts))
    _refuse_overlaps(binds)
    return binds, symlinks


def shown(binds: list[tuple[str, str]]) -> str:
    """What the kernel's file system holds, in words (the first entry of `Sandbox.hidden`)."""
    return ("everything but " + ", ".join(d for _, d in binds) + " (read-only), /proc, /sys, "
            "/dev's null, zero, full, random and urandom, and a private /tmp and /dev/shm")


def covered(hide, binds: list[tuple[str, str]]) -> list[tuple[str, bool]]:
    """(path, is a directory) for each path of `hide` that the allow-list would show, in order, so that the
    kernel gets them covered (an empty tmpfs over a directory, /dev/null over a file); what lies outside the
    allow-list is invisible anyway, and a path that does not exist is skipped."""
    out = []
    for path in hide:
        path = Path(os.path.abspath(path))
        if not any(_is_under(path, Path(d)) for _, d in binds):
            continue
        if path.is_dir():
            out.append((str(path), True))
        elif path.exists():
            out.append((str(path), False))
    return out


def _refuse_overlaps(binds: list[tuple[str, str]]) -> None:
    """Raise SandboxError when a folder to show the kernel overlaps the kernel's own folders (KERNEL_DIRS)."""
    for _, dst in binds:
        if any(_is_under(Path(dst), Path(d)) or _is_under(Path(d), Path(dst)) for d in KERNEL_DIRS):
            raise SandboxError(f"{dst} (the Python installation or the course) overlaps {' or '.join(KERNEL_DIRS)}, "
                               "the kernel's own folders inside the sandbox: move it elsewhere (any other path, "
                               "/tmp/<name> included, works)")


def _is_under(path: Path, parent: Path) -> bool:
    try:
        path.relative_to(parent)
        return True
    except ValueError:
        return False
