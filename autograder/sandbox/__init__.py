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
``_child/setup.py`` runs as PID 1 of new namespaces with ``python -I -S``
(nothing imported from the repository), builds the file system below and
moves into it, then becomes the template (``_child/template_main.py``: the
kernel's interpreter and environment), which imports ``PRELOAD`` (NumPy, Matplotlib, PyTorch,
torch._dynamo, TensorFlow, ipykernel) once and runs no submission's code; torch._dynamo only where
the lab's notebook imports it or ``torch.optim`` (``preload_for``; a batch preloads what any of its
labs needs, so that each worker keeps one template).
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
  as long as the walk took, so the watch takes at most half a core). The
  first walk, and every walk while the last proportional count plus what
  the full count grew since passes half the limit (then every 10 ms), stops
  the submission's processes (SIGSTOP, then SIGCONT) while it counts, so
  that what they write meanwhile (a walk takes tens of milliseconds on a
  busy machine) cannot come on top of the count; a submission far from the
  limit is stopped once, for one walk, if ever. Both
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

The package, by concern: `policy` (limits, confinement mode, the allow-list), `seccomp` (the filter and the
system-call numbers), `limits` (the rlimit table), `cgroups`, `cleanup` (private folders, `sweep`,
`remove_tree`), `procfs` (what /proc says about a process; owner tags), `memory` (the memory watch),
`template` (the kernel template), `client` (`Sandbox`), `errors`; ``_child/`` holds the programs that run
inside the namespaces (standard library only). Everything is re-exported here.
"""
from __future__ import annotations

from autograder.sandbox.cgroups import _Cgroups
from autograder.sandbox.cleanup import WORKDIR_PREFIX, _sweep_once, private_dir, remove_tree, sweep
from autograder.sandbox.client import LOG_BYTES, Execution, Sandbox
from autograder.sandbox.errors import KernelDied, SandboxError, _CallEnded
from autograder.sandbox.limits import RLIMIT_NAMES, _rlimits, _set_rlimits, apply_rlimits
from autograder.sandbox.memory import MEMORY_WATCH_S, _proportional_kb, _resident_kb, _tree
from autograder.sandbox.policy import (DEVICES, ETC, EXPOSED, KERNEL_CONN, KERNEL_DIRS, KERNEL_WORK, NOBODY, ROOT,
                                       SYSTEM, Limits, _is_under, _refuse_overlaps, confinement_available,
                                       confinement_mode, not_enforced, require_confinement)
from autograder.sandbox.procfs import _children, _innermost_pid, _owner_alive, _owner_tag, _parent_pid, _read_proc, \
    _start_time
from autograder.sandbox.seccomp import _seccomp_program
from autograder.sandbox.template import (PRELOAD, _Forked, _Template, _template, _templates, _wait_for,
                                         close_templates, preload_for)

__all__ = [
    "DEVICES", "ETC", "EXPOSED", "KERNEL_CONN", "KERNEL_DIRS", "KERNEL_WORK", "LOG_BYTES", "MEMORY_WATCH_S", "NOBODY",
    "PRELOAD", "RLIMIT_NAMES", "ROOT", "SYSTEM", "WORKDIR_PREFIX", "Execution", "KernelDied", "Limits", "Sandbox",
    "SandboxError", "_CallEnded", "_Cgroups", "_Forked", "_Template", "_children", "_innermost_pid", "_is_under",
    "_owner_alive", "_owner_tag", "_parent_pid", "_proportional_kb", "_read_proc", "_refuse_overlaps",
    "_resident_kb", "_rlimits", "_seccomp_program", "_set_rlimits", "_start_time", "_sweep_once", "_template",
    "_templates", "_tree", "_wait_for", "apply_rlimits", "close_templates", "confinement_available",
    "confinement_mode", "not_enforced", "preload_for", "private_dir", "remove_tree", "require_confinement", "sweep",
]
