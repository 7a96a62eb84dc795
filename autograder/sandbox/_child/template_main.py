"""The template: still (namespace-)root in the sandbox's file system, with the kernel's interpreter, flags and
environment. Run by ``setup.py`` after ``pivot_root`` as ``python -c <this file's text> <socket fd>
<preload json> <fd of this folder>``.

It imports the heavy libraries once, then forks one kernel per request from the grader (a JSON message on a
Unix socket, with four descriptors: the kernel's log, a pipe to report the kernel's end, a pipe the kernel
waits on, the folder holding the kernel's files). It never runs a submission's code: each kernel is a copy of
it, confined further (`become_kernel`) before the first byte of student code runs.
"""
import ctypes
import errno
import gc
import importlib.util
import json
import os
import resource
import runpy
import shutil
import signal
import socket
import struct
import sys
import traceback

# unshare(2) flags of the kernel's own namespaces: mount, UTS, IPC, PID, network
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
KERNEL_NAMESPACES = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET
# prctl(2) options and arguments
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, PR_SET_SECUREBITS = 24, 38, 22, 28
SECCOMP_MODE_FILTER = 2
# SECBIT_NOROOT, SECBIT_NO_SETUID_FIXUP and SECBIT_KEEP_CAPS, each locked (<linux/securebits.h>)
SECBIT_NOROOT, SECBIT_NOROOT_LOCKED = 1 << 0, 1 << 1
SECBIT_NO_SETUID_FIXUP, SECBIT_NO_SETUID_FIXUP_LOCKED, SECBIT_KEEP_CAPS_LOCKED = 1 << 2, 1 << 3, 1 << 5
SECUREBITS = (SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED
              | SECBIT_KEEP_CAPS_LOCKED)
CAPABILITIES_AT_MOST = 64  # PR_CAPBSET_DROP until EINVAL (no such capability)
LINUX_CAPABILITY_VERSION_3 = 0x20080522
CAP_DATA_BYTES = 24  # two struct __user_cap_data_struct {effective, permitted, inheritable}: all zero
SOCK_FPROG = "HxxxxxxP"  # struct sock_fprog {unsigned short len; struct sock_filter *filter;}
BPF_INSTRUCTION_BYTES = 8
# exit statuses: the grader gave up on this kernel; the kernel's parent failed
GIVEN_UP, SPAWN_FAILED = 71, 72
MAX_FD = 1 << 16  # every descriptor below this is closed in the kernel
MESSAGE_BYTES = 1 << 20  # largest request from the grader
READ_BYTES = 1 << 16
DESCRIPTORS = 4  # with each request: the log, the status pipe, the go pipe, the work folder
MOST_DESCRIPTORS = 8  # what one message may carry (more: an error)
ERROR_CHARS = 300
TRUNCATED = b"\n[the kernel's further output was discarded]\n"


def load_mounts(folder_fd):
    """mounts.py from the folder setup.py left open (the repository is not in this file system)."""
    spec = importlib.util.spec_from_file_location("_sandbox_mounts", f"/proc/self/fd/{folder_fd}/mounts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    os.close(folder_fd)
    return module


sys.dont_write_bytecode = True
m = load_mounts(int(sys.argv[3]))
libc = m.libc


def preload(names):
    """Import `names`; ({loaded}, {failed: why}). A library that is missing or broken is simply imported by
    the notebook itself."""
    loaded, failed = [], {}
    for name in names:
        try:
            __import__(name)
            loaded.append(name)
        except BaseException as exc:
            failed[name] = f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
    gc.collect()
    gc.freeze()  # the kernels' garbage collector leaves the shared pages alone (fewer copies on write)
    return loaded, failed


def mount_own(req):
    """The kernel's own /proc, /tmp and /dev/shm over the template's, what the template had under its /tmp
    bound again onto the kernel's own, and the hidden paths covered."""
    m.mount(None, "/", None, m.REC | m.PRIVATE)
    held = [(dst, os.open(dst, os.O_PATH)) for _, dst in req["binds"] if m.private(dst)]
    m.mount("proc", "/proc", "proc", m.NOSUID | m.NODEV | m.NOEXEC)
    m.mount("autograder-tmp", "/tmp", "tmpfs", m.NOSUID | m.NODEV, f"size={req['tmp_mb']}m,nr_inodes=65536,mode=1777")
    m.mount("autograder-shm", "/dev/shm", "tmpfs", m.NOSUID | m.NODEV,
            f"size={req['shm_mb']}m,nr_inodes=4096,mode=1777")
    for dst, fd in held:
        m.make_target(dst, os.path.isdir(f"/proc/self/fd/{fd}"))
        m.bind_ro(f"/proc/self/fd/{fd}", dst)
        os.close(fd)
    m.cover("", req["hide_dirs"], req["hide_files"])


def place_files(req, work_fd):
    """The kernel's work and connection folders: the submission's files and kernel.json, owned by its uid."""
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


def reseed():
    """A random state of its own, as a freshly started kernel has (the template's is every kernel's)."""
    for module, reseed_it in (("numpy", lambda mod: mod.random.seed()), ("torch", lambda mod: mod.seed())):
        try:
            if module in sys.modules:
                reseed_it(sys.modules[module])
        except Exception:
            pass


def set_rlimits(rlimits):
    """Each limit (by the resource module's name) as soft and hard limit, at most the current hard limit."""
    for name, value in rlimits.items():
        limit = getattr(resource, name)
        hard = resource.getrlimit(limit)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(limit, (value, value))


def drop_capabilities(uid, sys_capset):
    """No capability left in any set; as root: uid `uid`; as a user namespace's root: locked out of them."""
    if uid is None:  # root of its own user namespace only: lock root out of capabilities for good
        if libc.prctl(PR_SET_SECUREBITS, SECUREBITS, 0, 0, 0) != 0:
            m.fail("securebits")
    for cap in range(CAPABILITIES_AT_MOST):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            if ctypes.get_errno() != errno.EINVAL:
                m.fail(f"drop capability {cap}")
            break
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)  # leaving uid 0 clears every capability
    header = ctypes.create_string_buffer(struct.pack("II", LINUX_CAPABILITY_VERSION_3, 0))
    if libc.syscall(sys_capset, header, ctypes.create_string_buffer(CAP_DATA_BYTES)) != 0:
        m.fail("capset")


def restrict(program):
    """no_new_privs, then the seccomp filter `program` (empty: none)."""
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        m.fail("no_new_privs")
    if program:
        buf = ctypes.create_string_buffer(program)
        fprog = ctypes.create_string_buffer(struct.pack(SOCK_FPROG, len(program) // BPF_INSTRUCTION_BYTES,
                                                        ctypes.addressof(buf)))
        if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0) != 0:
            m.fail("seccomp")


def run_ipykernel(args):
    """What `python -m ipykernel_launcher <args>` does; never returns."""
    code = 0
    try:
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


def become_kernel(req, go_r, work_fd):
    """PID 1 of fresh namespaces (a copy of the template's mounts): waits until the grader has placed it in its
    cgroups, mounts its own /proc, /tmp and /dev/shm over the template's, then confines itself and runs
    ipykernel."""
    libc.prctl(m.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # dies with its parent (which reports its end)
    if os.read(go_r, 2) != b"go":  # the grader gave up on this kernel
        os._exit(GIVEN_UP)
    os.close(go_r)
    mount_own(req)
    place_files(req, work_fd)
    os.closerange(3, MAX_FD)  # nothing of the template's stays open
    reseed()
    set_rlimits(req["rlimits"])
    drop_capabilities(req["uid"], req["sys_capset"])
    restrict(bytes.fromhex(req["seccomp"]))
    args = req["args"]
    req.clear()  # this kernel keeps nothing of its request
    run_ipykernel(args)


def copy_output(out_r, log_fd, left):
    """The kernel's stdout and stderr into the log, up to `left` bytes, until every process of the kernel's
    namespace is gone (the kernel is its PID 1); the rest is read and dropped."""
    while True:
        try:
            chunk = os.read(out_r, READ_BYTES)
        except InterruptedError:
            continue
        if not chunk:
            break
        if left > 0:
            os.write(log_fd, chunk[:left])
            left -= len(chunk)
            if left <= 0:
                os.write(log_fd, TRUNCATED)


def spawn(req, fds, control):
    """The kernel's parent, in the template's namespaces: makes the kernel's namespaces, forks the kernel into
    them, and reports how it ended (its wait status) on the pipe the grader reads."""
    log_fd, status_w, go_r, work_fd = fds
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    libc.prctl(m.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # dies with the template
    control.close()
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    if libc.unshare(KERNEL_NAMESPACES) != 0:
        m.fail("unshare")
    out_r, out_w = os.pipe()  # the kernel's stdout and stderr
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
    copy_output(out_r, log_fd, req["log_bytes"])
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    os.write(status_w, str(status).encode())
    os._exit(0)


def receive(control):
    """The next request and its descriptors; (None, None) once the grader is gone."""
    try:
        message, fds, _, _ = socket.recv_fds(control, MESSAGE_BYTES, MOST_DESCRIPTORS)
    except OSError:
        return None, None
    return (message, fds) if message else (None, None)


def serve(control):
    """Fork a kernel's parent for each request until the grader is gone."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernels' parents are reaped as they end
    while True:
        message, fds = receive(control)
        if message is None:
            break
        try:
            if len(fds) != DESCRIPTORS:
                raise ValueError(f"expected {DESCRIPTORS} descriptors, got {len(fds)}")
            request = json.loads(message)
            child = os.fork()
        except Exception as exc:
            for fd in fds:
                os.close(fd)
            control.send(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
            continue
        if child == 0:
            del message  # the kernel keeps no copy of its request (become_kernel empties `request`)
            try:
                spawn(request, fds, control)
            except BaseException:
                traceback.print_exc()
            os._exit(SPAWN_FAILED)
        for fd in fds:
            os.close(fd)
        control.send(json.dumps({"pid": child}).encode())


def main():
    control = socket.socket(fileno=int(sys.argv[1]))
    loaded, failed = preload(json.loads(sys.argv[2]))
    control.send(json.dumps({"loaded": loaded, "failed": failed}).encode())
    serve(control)
    os._exit(0)


if __name__ == "__main__":
    main()
