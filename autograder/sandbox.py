"""A fresh, confined IPython kernel for one submission, with limits enforced from outside it.

`Sandbox` starts an IPython kernel (``python -m ipykernel_launcher``; confined,
the same forked from a template process, see below) in a new working
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

Confinement, platform by platform (``confinement_mode()``; ``protections`` says what held):

=============================  ===================  ======================  ==================
what                           Linux, grader root   Linux, grader a user    elsewhere / none
                               (mode "root")        (mode "user")           (``--unconfined``)
=============================  ===================  ======================  ==================
mount, net, PID, IPC, UTS ns   yes                  yes, in a new user ns   no
file system from allow-list    yes                  yes                     no
kernel-writable: tmpfs only    yes                  yes                     no (host disk)
kernel's identity              uid/gid nobody       ns-root, outside: the   the grader's user
                                                    grader's uid
capabilities                   none                 none (securebits lock)  n/a
seccomp filter                 yes                  yes                     no
nested user namespaces         denied (seccomp)     denied (seccomp and     allowed
                                                    max_user_namespaces=0)
memory, all processes          cgroup (v1 or v2)    memory watch            memory watch
memory, each process           (cgroup)             RLIMIT_AS               RLIMIT_AS
task limit                     pids cgroup          RLIMIT_NPROC            none
sees / signals the grader      no                   no                      yes
=============================  ===================  ======================  ==================

Both confined modes (``protections["confined"] is True``) fork each kernel
from a template process (`_Template`, one per grader process and settings):
``_SETUP`` runs as PID 1 of new namespaces with ``python -I -S`` (nothing
imported from the repository), builds the file system below and moves into
it, then becomes the template (``_TEMPLATE``: the kernel's interpreter and
environment), which imports ``PRELOAD`` (NumPy, Matplotlib, PyTorch,
torch._dynamo, TensorFlow, ipykernel) once and runs no submission's code.
For each sandbox it forks a parent that makes the kernel's own namespaces
and forks the kernel into them; the kernel waits until the grader has put it
in its cgroups, mounts its own ``/proc``, ``/tmp`` and ``/dev/shm`` over the
template's, drops every power and runs ipykernel. The setup cell's imports
then find the libraries loaded (about 5 s less per kernel; the template's
start costs that once per grader process). A kernel shares nothing writable
with the template or with other kernels: the copies of memory are private
(copy on write), every descriptor of the template is closed, and the
namespaces, the writable file systems and the identity below are its own:

* new mount, network, PID, IPC and UTS namespaces (as a user: inside a new
  user namespace, ``unshare --user --map-root-user``); the kernel is PID 1
  of its PID namespace, so killing it kills every process the submission
  started (daemons, ``setsid`` children, fork storms), and ``/proc`` shows
  only them: the grader's pid, cwd and files are out of reach, and so are
  its signals; System V IPC and abstract Unix sockets are private to it;
* the file system is built from an ALLOW-LIST on an empty tmpfs, then
  ``pivot_root``: ``/usr`` (and the ``/bin``, ``/lib*`` links), a few
  ``/etc`` files (``ETC``), the interpreter's installation and the venv,
  ``course_utils`` and ``data`` of the repository, all read-only (bind
  mounts, remounted read-only with the flags they had); ``/proc``, a
  read-only ``/sys``, five ``/dev`` nodes. Nothing else exists for the kernel:
  not ``solutions/``, ``tests/``, ``autograder/``, ``.git``, a course
  directory, a sibling ``../shared``, ``/home``, ``/run`` (so no
  ``/run/lock``), ``/var/tmp``. Paths in ``hide`` that lie inside an allowed
  directory are covered (an empty tmpfs over a directory, ``/dev/null`` over
  a file);
* everything the kernel can write is a size-limited tmpfs of its own:
  ``/tmp`` (``Limits.disk_mb``; the working directory ``/tmp/work`` and the
  connection directory ``/tmp/.kernel`` live there; the grader reaches the
  sockets through ``/proc/<kernel pid>/root``) and ``/dev/shm`` (64 MB).
  They vanish with the namespace, so the host keeps nothing the kernel wrote;
* the kernel's stdout and stderr (descriptors 1 and 2) are a pipe to its
  parent, which copies at most ``LOG_BYTES`` (1 MB) of them into the log on
  the host and reads and drops the rest; no descriptor of the kernel names a
  file of the host;
* as root the kernel runs as ``nobody`` (uid/gid 65534, no supplementary
  groups); as a user it stays root of its own user namespace, with the
  securebits that keep root from gaining capabilities locked. Either way:
  every capability dropped (bounding, permitted, effective, inheritable),
  ``no_new_privs``, the parent-death signal set (a grader killed with
  ``kill -9`` takes its kernels with it);
* a seccomp filter: no keyrings (``add_key``, ``keyctl``, ``request_key``),
  no ``unshare``, ``setns`` or ``clone`` with a new user namespace, no
  ``clone3``, no other system-call ABI (x32, i386); so no state crosses from
  one grading to the next through the kernel's keyrings;
* no network: the new network namespace has only a loopback interface, down;
* as root, memory and number of tasks through cgroups when the cgroup file
  system is writable (v1 ``memory.limit_in_bytes`` + ``pids.max``, or v2
  ``memory.max`` + ``pids.max``); ``protections["memory"]`` says which. As a
  user (no cgroup delegated), the grader's memory watch (see Memory below)
  with ``RLIMIT_AS``, and ``RLIMIT_NPROC``;
* rlimits: ``RLIMIT_CPU``, ``RLIMIT_FSIZE``, ``RLIMIT_CORE`` = 0;
  ``RLIMIT_NPROC`` only when no pids cgroup is available; ``RLIMIT_AS``
  only when no memory cgroup is available (PyTorch and TensorFlow reserve far
  more address space than they use).

Memory
------
``Limits.memory_mb`` bounds all the processes of a submission together (the
kernel and every process it starts), whoever runs the grader:

* with a memory cgroup (root): the cgroup charges what the submission's
  processes fault in or copy on write; the pages a kernel shares with the
  template (the libraries it imported) stay charged to the template. Its
  out-of-memory killer may end one child only: the grader then kills the whole
  submission (``Sandbox._watch_cgroup``, every 100 ms), so the kernel's death
  reason names memory either way;
* without one (a grader that is not root, a cgroup file system that is not
  writable, ``--unconfined``): the grader's memory watch, a thread of the
  grader (``Sandbox._watch_processes``). Every ``MEMORY_WATCH_S`` (50 ms;
  100 ms while under half the limit) it walks the kernel's process tree (the
  children of every thread, from ``/proc``; the kernel is PID 1 of its
  namespace, so an orphan is reparented to it and stays in the tree) and sums
  RssAnon + RssShmem + VmSwap of each process (counters: about 0.2 ms a sample
  for Lab 04's kernel with its 18 threads). That sum counts a
  page shared by n processes n times, so only once it is past the limit does
  the watch count proportionally: Pss_Anon + Pss_Shmem + SwapPss of each
  process's ``smaps_rollup`` (a page shared by n processes counts 1/n in each),
  a walk of the page tables (milliseconds per process; the next sample waits
  as long as the walk took, so the watch takes at most half a core). Both
  counts are of memory beyond the fresh kernel's, measured before any code of
  the submission runs (its share of the template's libraries and ipykernel's
  start). Past ``memory_mb`` the watch kills the kernel, and with it every
  process of the submission; the death reason names memory, as with a cgroup.
  ``RLIMIT_AS`` (``memory_mb`` + 4 GiB of address space) still bounds each
  process.

Why proportional, measured on Lab 04's solution run top to bottom in a kernel
forked from the template: the kernel holds 497 MB by RssAnon, about 450 MB of
which are the template's pages it shares (the template: 446 MB RssAnon); by
Pss_Anon + Pss_Shmem it holds 195 MB fresh and 256 to 276 MB at its peak (two
runs), so it is charged 61 to 81 MB; the watch took 0.14 s of CPU in the 36 s
run (0.4 % of a core). A resident count would charge the shared pages once
per process (each child of the kernel maps them too: three children holding
48 MB each would be charged about 1.8 GB); the proportional count charges the
tree's share of them, which grows toward the template's 446 MB only as the
tree holds more of the processes that share them. Files mapped from disk
(libraries' code, in the page cache) are not charged.

Not bounded by the watch (as a user): files a kernel writes to its own
``/tmp`` and ``/dev/shm`` without mapping them (tmpfs, at most
``Limits.disk_mb`` + 64 MB); what the processes write between two samples
(six children writing as fast as they can, as uid 4242 on a loaded 2-core
machine: peaks of 950 and 965 MB under an 800 MB limit, 2108 to 2272 MB under
2048 MB, where ``RLIMIT_AS`` alone let them hold 4129 MB). A process that
leaves the tree between two reads of one walk (a double fork at that moment)
is missed by that sample only.

Leftovers: each sandbox's host folder ``<tmp>/ag-*`` names its grader (pid
and start time, file ``owner``) and holds only the submission's copy and
the log (a template's: its setup, its root's mount point and its log);
cgroups are named ``autograder-<pid>-<start>-*``. What a grader killed
with ``kill -9`` left is removed by `sweep` (run at the start of confined
grading, by every batch task and at the start and end of a batch).
Removal is iterative (`remove_tree`): no recursion, no symlink followed, any
depth.

Fail closed: where neither mode works (not Linux, no util-linux, user
namespaces disabled), `require_confinement` makes ``grade`` and
``autograde`` refuse, unless given ``--unconfined``, which prints what is
not enforced (`not_enforced`). Unconfined, the kernel runs as the grader's
user in its own session and process group, in a temporary directory on the
host's disk, with ``RLIMIT_AS`` (memory plus 4 GiB of address space
headroom; not enforced by macOS), ``RLIMIT_CPU``, ``RLIMIT_FSIZE`` and
``RLIMIT_CORE``; it can read whatever that user can read, reach the network,
and a child that calls ``setsid`` can escape the process-group kill.
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import platform
import re
import secrets
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

ROOT = Path(__file__).resolve().parent.parent
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
MEMORY_WATCH_S = 0.05  # how often the grader measures a submission's memory where no memory cgroup bounds it
LOG_BYTES = 1 << 20  # what the host's log keeps of a confined kernel's stdout and stderr (the rest is dropped)
PREFIX = "ag-"  # the grader's working directories: <tmp>/ag-*, each with an "owner" file
#: (pivot_root, capset) syscall numbers, and the seccomp audit architecture, of the machines we know
_ARCH = {"x86_64": (155, 126, 0xC000003E), "aarch64": (41, 91, 0xC00000B7)}


# Mount helpers shared by both scripts below (each runs in its own interpreter; neither imports the repository).
_MOUNTS = r"""
import ctypes, json, os, resource, shutil, signal, struct, sys

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
libc.unshare.argtypes = [ctypes.c_int]
RDONLY, NOSUID, NODEV, NOEXEC, REMOUNT, BIND, REC, PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18


def fail(what):
    err = ctypes.get_errno()
    sys.stderr.write(f"sandbox setup: {what}: {os.strerror(err)}\n")
    sys.stderr.flush()
    os._exit(70)


def mount(src, dst, fstype, flags, data=None, must=True):
    if libc.mount(src and src.encode(), dst.encode(), fstype and fstype.encode(), flags,
                  data and data.encode()) != 0:
        if must:
            fail(f"mount {src} on {dst}")
        return False
    return True


def mounts_under(path):
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == path or point.startswith(path.rstrip("/") + "/"):
                out.append(point)
    return out


def kept(path):
    # the flags of the mount holding `path` that a remount inside a user namespace must keep
    f = os.statvfs(path).f_flag
    return (f & (RDONLY | NOSUID | NODEV | NOEXEC | 1024 | 2048)) | ((1 << 21) if f & 4096 else 0)


def bind_ro(src, dst):
    mount(src, dst, None, BIND | REC)
    for point in mounts_under(dst):  # the bind and every mount below it: read-only, keeping locked flags
        flags = kept(point)
        mount(None, point, None, REMOUNT | BIND | RDONLY | NOSUID | NODEV | flags)


def private(path):  # under the kernel's own tmpfs (/tmp, /dev/shm): placed after that tmpfs is mounted
    return any(path == d or path.startswith(d + "/") for d in ("/tmp", "/dev/shm"))


def make_target(path, is_dir):
    if is_dir:
        os.makedirs(path, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "a").close()


def cover(root, dirs, files):
    for path in dirs:
        mount("autograder-hidden", root + path, "tmpfs", NOSUID | NODEV | RDONLY, "size=4k,mode=0755")
    for path in files:
        mount("/dev/null", root + path, None, BIND)
"""

_SETUP = _MOUNTS + r"""
# The template's first stage: PID 1 of fresh namespaces, as (namespace-)root, `python -I -S -c` (nothing imported
# from the repository or the venv). It builds the file system every kernel will see, from an allow-list, moves
# into it (pivot_root), and becomes the template (`_TEMPLATE`) with the kernel's interpreter and environment.
cfg = json.load(open(sys.argv[1]))
NR = cfg["newroot"]
mount("autograder-root", NR, "tmpfs", NOSUID | NODEV, "size=4m,nr_inodes=4096,mode=0755")
for link, target in cfg["symlinks"]:
    os.makedirs(os.path.dirname(NR + link), exist_ok=True)
    os.symlink(target, NR + link)


def place(binds):
    for src, dst in binds:
        make_target(NR + dst, os.path.isdir(src))
        bind_ro(src, NR + dst)


place([b for b in cfg["binds"] if not private(b[1])])
for dev in cfg["devices"]:
    make_target(NR + dev, False)
    mount(dev, NR + dev, None, BIND)
    mount(None, NR + dev, None, REMOUNT | BIND | NOSUID | NOEXEC | (kept(NR + dev) & ~RDONLY))
for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                     ("stderr", "/proc/self/fd/2")):
    os.symlink(target, f"{NR}/dev/{name}")
os.makedirs(NR + "/proc", exist_ok=True)
mount("proc", NR + "/proc", "proc", NOSUID | NODEV | NOEXEC)
os.makedirs(NR + "/sys", exist_ok=True)
mount("sysfs", NR + "/sys", "sysfs", NOSUID | NODEV | NOEXEC | RDONLY, must=False)
os.makedirs(NR + "/dev/shm", exist_ok=True)
os.makedirs(NR + "/tmp", exist_ok=True)
# The template's own /tmp and /dev/shm: every kernel gets fresh ones mounted over them.
mount("autograder-tmp", NR + "/tmp", "tmpfs", NOSUID | NODEV, "size=64m,nr_inodes=65536,mode=1777")
mount("autograder-shm", NR + "/dev/shm", "tmpfs", NOSUID | NODEV, "size=4m,nr_inodes=1024,mode=1777")
# An interpreter or course that lives under /tmp (a checkout in /tmp/...) is bound onto the private /tmp.
place([b for b in cfg["binds"] if private(b[1])])
if cfg["userns"]:  # no nested user namespaces below this one (the counter is per user namespace)
    try:
        with open(NR + "/proc/sys/user/max_user_namespaces", "w") as f:
            f.write("0")
    except OSError:  # a read-only /proc/sys: the kernels' seccomp filter denies them all the same
        pass
mount(None, NR, None, REMOUNT | BIND | RDONLY | NOSUID | NODEV)
os.chdir(NR)
if libc.syscall(cfg["sys_pivot_root"], b".", b".") != 0:
    fail("pivot_root")
if libc.umount2(b".", 2) != 0:  # MNT_DETACH: the old root (the host's file system) is gone
    fail("detach the old root")
os.chdir("/")
libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: the template dies with unshare (and so with the grader)
os.execve(cfg["python"], [cfg["python"], "-c", cfg["template"], sys.argv[2], json.dumps(cfg["preload"])], cfg["env"])
"""

_TEMPLATE = _MOUNTS + r"""
# The template: still (namespace-)root in the sandbox's file system, with the kernel's interpreter, flags and
# environment. It imports the heavy libraries once, then forks one kernel per request from the grader (a JSON
# message on a Unix socket, with four descriptors: the kernel's log, a pipe to report the kernel's end, a pipe
# the kernel waits on, the folder holding the kernel's files). It never runs a submission's code: each kernel
# is a copy of it, confined further (below) before the first byte of student code runs.
import gc, runpy, socket, traceback

control = socket.socket(fileno=int(sys.argv[1]))
loaded, failed = [], {}
for _name in json.loads(sys.argv[2]):
    try:
        __import__(_name)
        loaded.append(_name)
    except BaseException as exc:  # a library that is missing or broken is simply imported by the notebook itself
        failed[_name] = f"{type(exc).__name__}: {exc}"[:300]
gc.collect()
gc.freeze()  # the kernels' garbage collector leaves the shared pages alone (fewer copies on write)
CLONE = 0x00020000 | 0x04000000 | 0x08000000 | 0x20000000 | 0x40000000  # NEWNS, NEWUTS, NEWIPC, NEWPID, NEWNET


def become_kernel(req, go_r, work_fd):
    # PID 1 of fresh namespaces (a copy of the template's mounts): waits until the grader has placed it in its
    # cgroups, mounts its own /proc, /tmp and /dev/shm over the template's, then confines itself and runs ipykernel.
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: dies with its parent (which reports its end)
    if os.read(go_r, 2) != b"go":  # the grader gave up on this kernel
        os._exit(71)
    os.close(go_r)
    global message, request  # the template's loop variables: this kernel keeps no reference to its request
    message = request = None
    mount(None, "/", None, REC | PRIVATE)
    held = [(dst, os.open(dst, os.O_PATH)) for _, dst in req["binds"] if private(dst)]
    mount("proc", "/proc", "proc", NOSUID | NODEV | NOEXEC)
    mount("autograder-tmp", "/tmp", "tmpfs", NOSUID | NODEV, f"size={req['tmp_mb']}m,nr_inodes=65536,mode=1777")
    mount("autograder-shm", "/dev/shm", "tmpfs", NOSUID | NODEV, f"size={req['shm_mb']}m,nr_inodes=4096,mode=1777")
    for dst, fd in held:  # what the template had under its /tmp, bound again onto the kernel's own
        make_target(dst, os.path.isdir(f"/proc/self/fd/{fd}"))
        bind_ro(f"/proc/self/fd/{fd}", dst)
        os.close(fd)
    cover("", req["hide_dirs"], req["hide_files"])
    uid = req["uid"]
    kernel_work, kernel_conn = req["kernel_dirs"]
    for d in (kernel_work, kernel_conn):
        os.mkdir(d, 0o700)
    for name in os.listdir(work_fd):
        src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=work_fd)
        with open(src, "rb") as fin, open(os.path.join(kernel_work, name), "wb") as fout:
            shutil.copyfileobj(fin, fout)
    os.close(work_fd)
    with open(os.path.join(kernel_conn, "kernel.json"), "w") as f:
        f.write(req.pop("kernel_json"))
    if uid is not None:
        for top in (kernel_work, kernel_conn):
            for base, dirs, files in os.walk(top):
                for name in [base, *(os.path.join(base, n) for n in dirs + files)]:
                    os.lchown(name, uid, uid)
    os.chdir(kernel_work)
    os.closerange(3, 1 << 16)  # nothing of the template's stays open
    for module, reseed in (("numpy", lambda m: m.random.seed()), ("torch", lambda m: m.seed())):
        try:  # a random state of its own, as a freshly started kernel has (the template's is every kernel's)
            if module in sys.modules:
                reseed(sys.modules[module])
        except Exception:
            pass
    names = {"cpu": resource.RLIMIT_CPU, "fsize": resource.RLIMIT_FSIZE, "core": resource.RLIMIT_CORE,
             "as": resource.RLIMIT_AS, "nproc": resource.RLIMIT_NPROC}
    for key, value in req["rlimits"].items():
        hard = resource.getrlimit(names[key])[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(names[key], (value, value))
    if uid is None:  # root of its own user namespace only: lock root out of capabilities for good
        if libc.prctl(28, 0x2F, 0, 0, 0) != 0:  # PR_SET_SECUREBITS: NOROOT, NO_SETUID_FIXUP, both locked
            fail("securebits")
    for cap in range(64):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP until EINVAL (no such capability)
            if ctypes.get_errno() != 22:
                fail(f"drop capability {cap}")
            break
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)  # leaving uid 0 clears every capability
    header = ctypes.create_string_buffer(struct.pack("II", 0x20080522, 0))  # capset v3: clear all three sets
    if libc.syscall(req["sys_capset"], header, ctypes.create_string_buffer(24)) != 0:
        fail("capset")
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        fail("no_new_privs")
    program = bytes.fromhex(req["seccomp"])
    if program:
        buf = ctypes.create_string_buffer(program)
        fprog = ctypes.create_string_buffer(struct.pack("HxxxxxxP", len(program) // 8, ctypes.addressof(buf)))
        if libc.prctl(22, 2, ctypes.addressof(fprog), 0, 0) != 0:  # SECCOMP_MODE_FILTER
            fail("seccomp")
    args = req["args"]
    req.clear()
    code = 0
    try:  # what `python -m ipykernel_launcher <args>` does
        sys.argv = ["ipykernel_launcher", *args]
        runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        os._exit(code)


def spawn(req, fds):
    # The kernel's parent, in the template's namespaces: makes the kernel's namespaces, forks the kernel into
    # them, and reports how it ended (its wait status) on the pipe the grader reads.
    log_fd, status_w, go_r, work_fd = fds
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # dies with the template
    control.close()
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    if libc.unshare(CLONE) != 0:
        fail("unshare")
    out_r, out_w = os.pipe()  # the kernel's stdout and stderr: copied to the log up to req["log_bytes"], no further
    pid = os.fork()
    if pid == 0:
        for fd in (status_w, log_fd, out_r):
            os.close(fd)
        os.dup2(out_w, 1)
        os.dup2(out_w, 2)
        os.close(out_w)
        become_kernel(req, go_r, work_fd)
    for fd in (go_r, work_fd, out_w):
        os.close(fd)
    left = req["log_bytes"]
    while True:  # until every process of the kernel's namespace is gone (the kernel is its PID 1)
        try:
            chunk = os.read(out_r, 1 << 16)
        except InterruptedError:
            continue
        if not chunk:
            break
        if left > 0:
            os.write(log_fd, chunk[:left])
            left -= len(chunk)
            if left <= 0:
                os.write(log_fd, b"\n[the kernel's further output was discarded]\n")
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    os.write(status_w, str(status).encode())
    os._exit(0)


control.send(json.dumps({"loaded": loaded, "failed": failed}).encode())
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernels' parents are reaped as they end
while True:
    try:
        message, fds, _, _ = socket.recv_fds(control, 1 << 20, 8)
    except OSError:
        break
    if not message:  # the grader is gone
        break
    try:
        if len(fds) != 4:
            raise ValueError(f"expected 4 descriptors, got {len(fds)}")
        request = json.loads(message)
        child = os.fork()
    except Exception as exc:
        for fd in fds:
            os.close(fd)
        control.send(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
        continue
    if child == 0:
        try:
            spawn(request, fds)
        except BaseException:
            traceback.print_exc()
        os._exit(72)
    for fd in fds:
        os.close(fd)
    control.send(json.dumps({"pid": child}).encode())
os._exit(0)
"""


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


_NAMESPACES = ["--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--mount-proc"]


@functools.lru_cache(maxsize=1)
def confinement_mode() -> tuple[str, str]:
    """("root" | "user" | "", why): how this process can confine a kernel, and what is missing when it cannot.

    "root": new namespaces, the kernel as uid nobody, cgroups. "user": an unprivileged user
    namespace (``unshare --user --map-root-user``) holding the same namespaces, the kernel with
    no capabilities. "": neither works here; ``why`` says what failed.
    """
    if not sys.platform.startswith("linux"):
        return "", f"{sys.platform}: Linux namespaces are not available"
    if platform.machine() not in _ARCH:
        return "", f"{platform.machine()}: the sandbox knows the system calls of {', '.join(_ARCH)} only"
    if shutil.which("unshare") is None:
        return "", "missing tool: unshare (install util-linux)"
    if os.geteuid() == 0:
        mode, cmd = "root", ["unshare", *_NAMESPACES, "true"]
    else:
        mode, cmd = "user", ["unshare", "--user", "--map-root-user", *_NAMESPACES, "true"]
    try:
        probe = subprocess.run(cmd, capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "", f"unshare failed: {exc}"
    if probe.returncode != 0:
        detail = probe.stderr.decode(errors="replace").strip()[:200]
        if mode == "user":
            return "", (f"the grader is not root and unprivileged user namespaces are not available ({detail}); "
                        "enable them (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces>0) "
                        "or run the grader as root")
        return "", f"unshare failed: {detail}"
    return mode, ("namespaces, uid nobody" if mode == "root"
                  else "user namespace + namespaces, no capabilities")


def confinement_available() -> tuple[bool, str]:
    """Whether a kernel can be confined here (as root or in a user namespace), and how or why not."""
    mode, why = confinement_mode()
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


def _seccomp_program(machine: str | None = None) -> bytes:
    """A seccomp filter: no keyrings, no namespaces (unshare, setns, clone with CLONE_NEWUSER), native calls only.

    Denied calls fail with EPERM (clone3 with ENOSYS, so the C library falls back to clone, whose
    flags the filter can read). Empty on an architecture the grader does not know.
    """
    machine = machine or platform.machine()
    numbers = {"x86_64": {"add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272, "setns": 308,
                          "clone": 56, "clone3": 435},
               "aarch64": {"add_key": 217, "request_key": 218, "keyctl": 219, "unshare": 97, "setns": 268,
                           "clone": 220, "clone3": 435}}.get(machine)
    if numbers is None:
        return b""
    LD, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06
    ALLOW, ERRNO, EPERM, ENOSYS, NEWUSER = 0x7FFF0000, 0x00050000, 1, 38, 0x10000000
    prog = [(LD, 0, 0, 4), (JEQ, 1, 0, _ARCH[machine][2]), (RET, 0, 0, ERRNO | ENOSYS), (LD, 0, 0, 0)]
    if machine == "x86_64":  # the x32 ABI's numbers (bit 30 set) are another way in
        prog += [(JGE, 0, 1, 0x40000000), (RET, 0, 0, ERRNO | ENOSYS)]
    for name in ("add_key", "request_key", "keyctl", "unshare", "setns"):
        prog += [(JEQ, 0, 1, numbers[name]), (RET, 0, 0, ERRNO | EPERM)]
    prog += [(JEQ, 0, 1, numbers["clone3"]), (RET, 0, 0, ERRNO | ENOSYS),
             (JEQ, 0, 3, numbers["clone"]), (LD, 0, 0, 16), (JSET, 0, 1, NEWUSER), (RET, 0, 0, ERRNO | EPERM),
             (RET, 0, 0, ALLOW)]
    return b"".join(struct.pack("=HBBI", *ins) for ins in prog)


def remove_tree(path: str | os.PathLike) -> None:
    """Remove a directory tree without recursion, following no symlink, whatever its depth or modes.

    Holds one directory open at a time (so a chain deeper than the fd limit or PATH_MAX is fine) and
    never raises: what cannot be removed stays, and the next sweep tries again.
    """
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    try:
        top = os.open(path, flags)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(path)
        return
    fd, names, stuck = top, [], set()  # the open directory, the names leading to it, dirs that resist
    try:
        for _ in range(10_000_000):  # a bound, not a limit anyone reaches: each step removes or descends
            child = None
            with contextlib.suppress(OSError):
                with os.scandir(fd) as entries:
                    for entry in entries:
                        try:
                            if entry.is_dir(follow_symlinks=False):
                                if entry.inode() in stuck:
                                    continue
                                child = entry.name
                                break
                            os.unlink(entry.name, dir_fd=fd)
                        except OSError:
                            continue
            if child is not None:
                with contextlib.suppress(OSError):
                    os.chmod(child, 0o700, dir_fd=fd)
                try:
                    sub = os.open(child, flags, dir_fd=fd)
                except OSError:
                    try:
                        os.rmdir(child, dir_fd=fd)
                    except OSError:
                        with contextlib.suppress(OSError):
                            stuck.add(os.stat(child, dir_fd=fd, follow_symlinks=False).st_ino)
                    continue
                os.close(fd)
                fd = sub
                names.append(child)
                continue
            if not names:
                break
            parent = os.open("..", flags, dir_fd=fd)
            os.close(fd)
            fd = parent
            name = names.pop()
            try:
                os.rmdir(name, dir_fd=fd)
            except OSError:
                with contextlib.suppress(OSError):
                    stuck.add(os.stat(name, dir_fd=fd, follow_symlinks=False).st_ino)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
    with contextlib.suppress(OSError):
        os.rmdir(path)


def _start_time(pid: int) -> str | None:
    """The start time of process `pid` (field 22 of /proc/<pid>/stat), None when there is none or it has
    exited (a zombie, killed and not yet reaped by its parent, is gone for every purpose here)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return None if fields[0] in ("Z", "X") else fields[19]
    except (OSError, IndexError):
        return None


def _owner_tag() -> str:
    return f"{os.getpid()} {_start_time(os.getpid()) or ''}".strip()


def _owner_alive(tag: str) -> bool:
    parts = tag.split()
    if not parts or not parts[0].isdigit():
        return False
    started = _start_time(int(parts[0]))
    return started is not None and (len(parts) < 2 or parts[1] == started)


def private_dir() -> Path:
    """A new <tmp>/ag-* folder (mode 0700) naming this process as its owner, so `sweep` removes it once we are gone."""
    path = Path(tempfile.mkdtemp(prefix=PREFIX))
    os.chmod(path, 0o700)
    (path / "owner").write_text(_owner_tag())
    return path


_swept = False
_OURS = re.compile(rf"^{PREFIX}[a-z0-9_]{{8}}$")  # tempfile.mkdtemp(prefix=PREFIX)
_LAYOUT = {"owner", "work", "conn", "tmp", "kernel.log",  # what a sandbox folder holds
           "root", "setup.json", "template.log",  # a template's
           "source", "submission"}  # and a batch task's (autograder.batch.grade_task)


def sweep(*, tmp: str | None = None, grace_s: float = 600.0) -> list[str]:
    """Remove what dead graders left: <tmp>/ag-* directories and autograder-* cgroups; return what went.

    A directory belongs to the process named in its ``owner`` file (pid and start time); it is
    removed once that process is gone. One without an owner file (a grader killed while creating it)
    is removed after ``grace_s``. Only this user's directories are touched. Never raises.
    """
    removed = []
    tmp = Path(tmp or tempfile.gettempdir())
    with contextlib.suppress(OSError):
        for entry in os.scandir(tmp):
            try:
                if not entry.name.startswith(PREFIX) or not entry.is_dir(follow_symlinks=False) \
                        or entry.stat(follow_symlinks=False).st_uid != os.geteuid():
                    continue
                if not _OURS.match(entry.name):  # another program's ag-something: not ours to judge
                    continue
                try:
                    tag = (Path(entry.path) / "owner").read_text()[:100]
                except OSError:
                    if time.time() - entry.stat(follow_symlinks=False).st_mtime < grace_s or \
                            not set(os.listdir(entry.path)) <= _LAYOUT:
                        continue
                    tag = ""
                if _owner_alive(tag):
                    continue
                remove_tree(entry.path)
                removed.append(entry.path)
            except OSError:
                continue
    removed += _Cgroups.sweep()
    return removed


def _sweep_once() -> None:
    global _swept
    if not _swept:
        _swept = True
        sweep()


class _Cgroups:
    """A private memory + pids cgroup (v1 or v2) for one sandbox, when the cgroup fs is writable."""

    ROOT = Path("/sys/fs/cgroup")

    @classmethod
    def parents(cls) -> list[Path]:
        """The cgroups this process's sandboxes are created under (memory and pids, v1 or v2)."""
        try:
            own = Path("/proc/self/cgroup").read_text().splitlines()
        except OSError:
            return []
        if (cls.ROOT / "cgroup.controllers").exists():
            return [cls.ROOT / line.split(":", 2)[2].lstrip("/") for line in own if line.startswith("0::")]
        out = []
        for line in own:
            _, controllers, rel = line.split(":", 2)
            out += [cls.ROOT / c / rel.lstrip("/") for c in controllers.split(",") if c in ("memory", "pids")]
        return out

    @classmethod
    def sweep(cls) -> list[str]:
        """Remove the autograder-<pid>-<start>-* cgroups of graders that are gone (killing what is left in them)."""
        removed = []
        for parent in cls.parents():
            with contextlib.suppress(OSError):
                for group in parent.glob("autograder-*"):
                    parts = group.name.split("-")
                    if len(parts) < 4 or _owner_alive(f"{parts[1]} {parts[2]}"):
                        continue
                    with contextlib.suppress(OSError, ValueError):
                        for pid in (group / "cgroup.procs").read_text().split():
                            with contextlib.suppress(OSError):
                                os.kill(int(pid), signal.SIGKILL)
                    for _ in range(40):
                        try:
                            group.rmdir()
                            removed.append(str(group))
                            break
                        except FileNotFoundError:
                            break
                        except OSError:
                            time.sleep(0.05)
        return removed

    def __init__(self, name: str, limits: Limits):
        self.dirs: list[Path] = []
        self.memory: Path | None = None
        self.kind = ""
        root = self.ROOT
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

    def oom_kills(self) -> int:
        """How many processes the cgroup's out-of-memory killer has killed (0 where the count is not kept)."""
        if self.memory is None:
            return 0
        for name in ("memory.events", "memory.oom_control"):
            with contextlib.suppress(OSError, ValueError):
                for line in (self.memory / name).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        return 0

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


#: What the template imports once, so that every kernel forked from it finds these modules loaded (the labs'
#: setup cells import them: TensorFlow, PyTorch and torch._dynamo alone take about 5 s per kernel otherwise).
#: torch._dynamo comes before TensorFlow, as in the labs (loaded after TensorFlow 2.21 it aborts the process).
#: Only modules whose import does not depend on running inside a kernel: not tqdm.auto (it picks its notebook
#: or text bar when imported) nor ipywidgets (it registers its comm target with the kernel when imported).
PRELOAD = ("numpy", "matplotlib", "matplotlib.pyplot", "torch", "torch._dynamo", "tensorflow",
           "IPython", "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel_launcher")


def _children(pid: int) -> list[int]:
    """The child processes of `pid` (from /proc/<pid>/task/<pid>/children, or, where the kernel was built
    without that file, by scanning /proc for processes whose parent is `pid`)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    with contextlib.suppress(OSError, ValueError):
        if path.exists():
            return [int(p) for p in path.read_text().split()]
        return [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit() and _parent_pid(e.name) == pid]
    return []


def _innermost_pid(pid: int) -> int | None:
    """The pid of process `pid` in its own PID namespace (the last NSpid entry)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    return None


def _read_proc(path: str) -> bytes:
    """The contents of a small /proc file (b"" when it cannot be read): os-level calls, the watch reads many."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return b""
    try:
        return os.read(fd, 1 << 16)
    except OSError:
        return b""
    finally:
        os.close(fd)


_HAS_CHILDREN_FILE = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def _tree(pid: int, most: int = 4096) -> list[int]:
    """`pid` and its descendants (the children of each of their threads), at most `most` of them.

    A process whose parent exits is reparented to the kernel (PID 1 of its namespace) or to a subreaper
    below it, so every process of a confined submission is in the kernel's tree.
    """
    found, todo, seen = [], [pid], {pid}
    if not _HAS_CHILDREN_FILE:  # a kernel built without CONFIG_PROC_CHILDREN: one scan of every parent pid
        while todo and len(found) < most:
            p = todo.pop()
            found.append(p)
            todo += [c for c in _children(p) if c not in seen and not seen.add(c)]
        return found
    while todo and len(found) < most:
        p = todo.pop()
        found.append(p)
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tasks:
            for child in _read_proc(f"/proc/{p}/task/{tid}/children").split():
                if int(child) not in seen:
                    seen.add(int(child))
                    todo.append(int(child))
    return found


def _resident_kb(pid: int) -> int:
    """What `pid` holds that may be its own, in kB: resident anonymous and shared memory and swap (RssAnon +
    RssShmem + VmSwap of /proc/<pid>/status; kernel counters, cheap to read). Counts in full the pages it
    shares with other processes (the template, its parent or children), so it is never less than its
    `_proportional_kb`; 0 when the process is gone."""
    total = 0
    for line in _read_proc(f"/proc/{pid}/status").splitlines():
        if line.startswith((b"RssAnon:", b"RssShmem:", b"VmSwap:")):
            with contextlib.suppress(ValueError, IndexError):
                total += int(line.split()[1])
    return total


def _proportional_kb(pid: int) -> int:
    """The memory `pid` holds, in kB, each page shared with n processes counted as 1/n: Pss_Anon + Pss_Shmem +
    SwapPss of /proc/<pid>/smaps_rollup (the kernel walks the page tables: milliseconds for a kernel with the
    libraries loaded). Files mapped from disk (the libraries' code: page cache, shared with the machine) are
    not counted. Falls back to `_resident_kb` where smaps_rollup cannot be read."""
    fields = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            key, _, value = line.partition(":")
            with contextlib.suppress(ValueError, IndexError):
                fields[key] = int(value.split()[0])
    except OSError:
        return _resident_kb(pid)
    if "Pss" not in fields:
        return _resident_kb(pid)
    # Before Linux 5.8 there is no split: all of it, files included.
    held = fields["Pss_Anon"] + fields.get("Pss_Shmem", 0) if "Pss_Anon" in fields else fields["Pss"]
    return held + fields.get("SwapPss", 0)


def _wait_for(find, deadline: float, alive) -> int | None:
    while time.monotonic() < deadline:
        found = find()
        if found is not None:
            return found
        if not alive():
            return None
        time.sleep(0.002)
    return None


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
            data = os.read(self._fd, 64)
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
    """A confined process that has imported `PRELOAD`; kernels are forked from it (see `_TEMPLATE`).

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
        setup.write_text(json.dumps({**config, "newroot": str(self.base / "root"), "template": _TEMPLATE,
                                     "preload": list(PRELOAD)}))
        os.chmod(setup, 0o600)
        userns = ["--user", "--map-root-user"] if mode == "user" else []
        cmd = ["unshare", *userns, "--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child",
               "--mount-proc", "--propagation", "private", "--",
               sys.executable, "-I", "-S", "-c", _SETUP, str(setup), str(theirs.fileno())]

        def preexec():  # unshare dies with the grader, and its --kill-child takes the template with it
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)

        try:
            self.proc = subprocess.Popen(cmd, cwd="/", env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
                                         stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                         start_new_session=True, preexec_fn=preexec, pass_fds=[theirs.fileno()])
        finally:
            theirs.close()
        try:
            deadline = time.monotonic() + timeout
            self.pid = _wait_for(lambda: (_children(self.proc.pid) or [None])[0], deadline, self.alive)
            ours.settimeout(max(deadline - time.monotonic(), 1.0))
            try:
                ready = json.loads(ours.recv(1 << 16) or b"null")
            except (OSError, ValueError):
                ready = None
            if self.pid is None or not isinstance(ready, dict):
                raise SandboxError(f"the kernel template did not start within {timeout:g} s: {self.log_tail()}"
                                   if self.alive() else f"the kernel template failed to start: {self.log_tail()}")
            self.loaded, self.failed = ready.get("loaded", []), ready.get("failed", {})
        except BaseException:
            self.close()
            raise
        with contextlib.suppress(OSError):
            setup.unlink()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self) -> str:
        try:
            text = (self.base / "template.log").read_bytes()[-2000:].decode(errors="replace")
        except OSError:
            return ""
        return " | ".join(line for line in text.splitlines() if line.strip())[-600:]

    def spawn(self, request: dict, fds: list[int], timeout: float) -> int:
        """Fork a kernel's parent; return its pid here (the kernel is its only child)."""
        with self.lock:
            try:
                self.sock.settimeout(timeout)
                socket.send_fds(self.sock, [json.dumps(request).encode()], fds)
                reply = json.loads(self.sock.recv(1 << 16) or b"null")
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
                proc.wait(timeout=10)
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
        mode, why = confinement_mode()
        available = bool(mode)
        if confine and not available:
            raise SandboxError(f"confinement requested but not available: {why}")
        self.confined = available if confine is None else (confine and available)
        self._mode = mode
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
        limits = self.limits
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
        info = {"transport": "ipc", "ip": f"{inside_conn}/k", "shell_port": 1, "iopub_port": 2, "stdin_port": 3,
                "control_port": 4, "hb_port": 5, "key": key, "signature_scheme": "hmac-sha256",
                "kernel_name": "python3"}
        name = f"autograder-{os.getpid()}-{_start_time(os.getpid()) or 0}-{secrets.token_hex(4)}"
        self._cgroups = _Cgroups(name, limits) if self._mode == "root" and self.confined else None
        memory_cgroup = bool(self._cgroups and self._cgroups.memory)
        pids_cgroup = bool(self._cgroups and self._cgroups.pids)
        rlimits = _rlimits(limits, confined=self.confined, memory_cgroup=memory_cgroup, pids_cgroup=pids_cgroup)
        preloaded: list[str] = []
        kernel_args = ["-f", f"{inside_conn}/kernel.json", "--HistoryManager.hist_file=:memory:"]
        self._log = open(self._base / "kernel.log", "wb")
        if self.confined:
            env = self._environment(home=KERNEL_WORK, tmp="/tmp")
            shared, request = self._setup_config(kernel_args, rlimits, env, json.dumps(info))
            template_timeout = max(limits.startup_timeout_s, 120.0)  # its imports take seconds, more under load
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
            preloaded = template.loaded
            # The connection directory lives in the kernel's own size-limited /tmp; the grader reaches it
            # through the kernel's root (/proc/<pid>/root), which only the kernel's owner may follow.
            ipc_prefix = Path(f"/proc/{self._kernel_pid}/root{inside_conn}/k")
        else:
            (conn / "kernel.json").write_text(json.dumps(info))
            tmp = self._base / "tmp"
            tmp.mkdir()
            env = self._environment(home=str(work), tmp=str(tmp))

            def preexec():
                _set_rlimits(rlimits)

            self._proc = subprocess.Popen([sys.executable, "-m", "ipykernel_launcher", *kernel_args], cwd=work,
                                          env=env, stdin=subprocess.DEVNULL, stdout=self._log,
                                          stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=preexec)
            self._kernel_pid = self._proc.pid
            ipc_prefix = conn / "k"
        self.protections = {
            "confined": self.confined,
            "mode": self._mode if self.confined else "unconfined",
            "platform": sys.platform,
            "why_not_confined": "" if self.confined else (
                "confinement turned off (confine=False)" if self._available else self._why),
            "not_enforced": [] if self.confined else not_enforced(),
            "namespaces": (["user"] if self._mode == "user" else []) + ["mount", "network", "pid", "ipc", "uts"]
            if self.confined else [],
            "uid": (NOBODY if self._mode == "root" else f"0 in its own user namespace ({os.geteuid()} outside), "
                    "no capabilities") if self.confined else os.geteuid(),
            "seccomp": bool(self.confined and _seccomp_program()),
            "hidden_paths": self.hidden,
            "memory": f"{self._cgroups.kind} {limits.memory_mb} MB" if memory_cgroup
            else f"watch {limits.memory_mb} MB (all the submission's processes, every "
                 f"{MEMORY_WATCH_S * 1000:g}-{MEMORY_WATCH_S * 2000:g} ms) "
                 f"and RLIMIT_AS {limits.memory_mb + 4096} MB per process",
            "processes": f"pids cgroup {limits.processes}" if pids_cgroup
            else f"RLIMIT_NPROC {limits.processes}" if self.confined else "not limited",
            "rlimits": rlimits,
            "limits": asdict(limits),
            "preloaded": preloaded,
        }
        self._connect(ipc_prefix, key)
        self._wait_ready()
        self._start_watch(memory_cgroup)

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
            # course_utils from the grader's own tree (exposed read-only), whichever way the project is installed
            "PYTHONPATH": str(ROOT),
            "IPYTHONDIR": f"{tmp}/.ipython",
            "MPLCONFIGDIR": f"{tmp}/.matplotlib",
            "JUPYTER_CONFIG_DIR": f"{tmp}/.jupyter",
            "JUPYTER_DATA_DIR": f"{tmp}/.jupyter/data",
            "JUPYTER_RUNTIME_DIR": f"{tmp}/.jupyter/runtime",
            **{var: str(self.limits.threads) for var in (
                "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")},
        }

    def _setup_config(self, kernel_args: list[str], rlimits: dict[str, int], env: dict,
                      kernel_json: str) -> tuple[dict, dict]:
        """(What the template builds, shared by its kernels: the file system from an allow-list, the interpreter
        and environment; what this kernel's request adds: its /tmp, hidden paths, files and identity)."""
        binds, symlinks = [], []
        for path in SYSTEM:  # /bin -> usr/bin on merged-/usr systems: the link, not a second copy
            if os.path.islink(path):
                symlinks.append((path, os.readlink(path)))
            elif os.path.isdir(path):
                binds.append((path, path))
        binds += [(f"/etc/{n}", f"/etc/{n}") for n in ETC if os.path.exists(f"/etc/{n}")]
        # The interpreter (the venv and the installation it points to) and what the kernel imports or reads.
        exposed = [os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix]
        exposed += [str(ROOT / d) for d in EXPOSED if (ROOT / d).is_dir()]
        for path in dict.fromkeys(exposed):
            if os.path.isdir(path) and not any(_is_under(Path(path), Path(b)) for b, _ in binds):
                binds.append((path, path))
        # A directory bound below another one replaces what that one shows there: longest last is fine,
        # but keep the order parents first.
        binds.sort(key=lambda b: len(Path(b[1]).parts))
        _refuse_overlaps(binds)
        self.hidden.append("everything but " + ", ".join(d for _, d in binds) + " (read-only), /proc, /sys, "
                           "/dev's null, zero, full, random and urandom, and a private /tmp and /dev/shm")
        hide_dirs, hide_files = [], []
        for path in self._hide:
            path = Path(os.path.abspath(path))
            if not any(_is_under(path, Path(d)) for _, d in binds):
                continue  # not in the allow-list: invisible anyway
            if path.is_dir():
                hide_dirs.append(str(path))
            elif path.exists():
                hide_files.append(str(path))
            else:
                continue
            self.hidden.append(str(path))
        pivot_root, capset, _ = _ARCH[platform.machine()]
        shared = {"binds": binds, "symlinks": symlinks, "devices": list(DEVICES), "userns": self._mode == "user",
                  "python": sys.executable, "env": env, "sys_pivot_root": pivot_root}
        request = {"binds": binds, "hide_dirs": hide_dirs, "hide_files": hide_files, "tmp_mb": self.limits.disk_mb,
                   "shm_mb": 64, "kernel_dirs": list(KERNEL_DIRS), "kernel_json": kernel_json,
                   "uid": NOBODY if self._mode == "root" else None, "rlimits": rlimits, "args": kernel_args,
                   "log_bytes": LOG_BYTES, "seccomp": _seccomp_program().hex(), "sys_capset": capset}
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
            raise SandboxError(f"the kernel did not answer within {self.limits.startup_timeout_s:g} s: "
                               f"{self._log_tail()}")

    def _start_watch(self, memory_cgroup: bool) -> None:
        """Start the thread that kills the kernel, and with it every process of the submission, once they hold
        more than ``Limits.memory_mb`` together (see "Memory" in the module's notes)."""
        self._watch_stop = threading.Event()  # a fresh one: a retried start has set the first
        if memory_cgroup:
            target, args = self._watch_cgroup, ()
        else:  # the fresh kernel, before any code of the submission: its share of the template's libraries
            baseline = sum(_proportional_kb(p) for p in _tree(self._kernel_pid))
            self.protections["memory_baseline_mb"] = baseline >> 10
            target, args = self._watch_processes, (baseline,)
        self._watch = threading.Thread(target=target, args=args, name="sandbox-memory", daemon=True)
        self._watch.start()

    def _kernel_is_ours(self) -> bool:
        """Whether `_kernel_pid` is still this sandbox's kernel (safe to call from the watch thread)."""
        if self.confined:  # still the child of its parent: not a reused pid (the parent reaps it)
            return self._kernel_pid is not None and _parent_pid(self._kernel_pid) == self._proc.pid
        return self._proc.poll() is None

    def _watch_processes(self, baseline_kb: int) -> None:
        limit_kb = self.limits.memory_mb << 10
        wait = MEMORY_WATCH_S
        while not self._watch_stop.wait(wait):
            if not self._kernel_is_ours():
                return
            pids = _tree(self._kernel_pid)
            resident_kb = sum(_resident_kb(p) for p in pids) - baseline_kb
            # Under half the limit, the next sample in twice the time (half the limit in 100 ms is beyond
            # what a kernel can write).
            wait = MEMORY_WATCH_S if 2 * resident_kb > limit_kb else 2 * MEMORY_WATCH_S
            if resident_kb <= limit_kb:
                continue  # the full count is never below the proportional one: no page tables walked
            started, held_kb = time.monotonic(), -baseline_kb
            for pid in pids:  # stops as soon as the sum is past the limit
                held_kb += _proportional_kb(pid)
                if held_kb > limit_kb:
                    break
            # Walking page tables takes milliseconds per process: at most half a core for the watch.
            wait = max(MEMORY_WATCH_S, time.monotonic() - started)
            if held_kb > limit_kb:
                self._end_for_memory(f"it ran out of memory (its processes held at least {held_kb >> 10} MB; "
                                     f"limit {self.limits.memory_mb} MB)", pids)
                return

    def _watch_cgroup(self) -> None:
        # The cgroup's out-of-memory killer may end one child only: the whole submission ends, as without one.
        while not self._watch_stop.wait(2 * MEMORY_WATCH_S):
            if not self._kernel_is_ours():
                return
            if self._cgroups.oom_kills():
                self._end_for_memory(f"it ran out of memory (limit {self.limits.memory_mb} MB)", [])
                return

    def _end_for_memory(self, reason: str, pids: list[int]) -> None:
        if self._watch_stop.is_set() or not self._kernel_is_ours():
            return
        self._memory_reason = reason
        with contextlib.suppress(OSError):
            os.kill(self._kernel_pid, signal.SIGKILL)  # confined: PID 1 of its namespace, so every process goes
        if not self.confined:  # its process group, and the processes that left it
            with contextlib.suppress(OSError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)

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
        if self._memory_reason:
            return self._memory_reason
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
        self._watch_stop.set()
        proc = self._proc
        if proc is None:
            return
        if self.confined and self._kernel_pid is not None and proc.poll() is None:
            with contextlib.suppress(OSError, ValueError, IndexError, subprocess.TimeoutExpired):
                if _parent_pid(self._kernel_pid) == proc.pid:  # still unshare's child: not a reused pid
                    os.kill(self._kernel_pid, signal.SIGKILL)  # PID 1 of the namespace: all its processes go
                    # The kernel zaps the namespace before PID 1 can be reaped, and unshare exits only once it
                    # has reaped it: waiting for unshare (instead of killing it at once, which would orphan a
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
