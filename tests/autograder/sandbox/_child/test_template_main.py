"""``_child/template_main.py``, the template that forks every kernel: what runs without privileges.

It is loaded by path here, with the folder descriptor ``setup.py`` hands it, or run as the grader runs it
(``python -c <its text> <socket fd> <preload JSON> <folder fd>``). What changes a process for good (rlimits,
no_new_privs, seccomp, capabilities) runs in a forked child (`in_child`); mounts are recorded, not made.
"""
import ctypes
import errno
import gc
import importlib.util
import json
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
import traceback
import types
from pathlib import Path

import pytest

from autograder.sandbox import seccomp, template

CHILD = template.CHILD
NOBODY = 65534
WAIT_S = 30
# Capabilities (<linux/capability.h>) the tests look for before expecting the privileged outcome.
CAP_SETGID, CAP_SETUID, CAP_SETPCAP = 6, 7, 8


@pytest.fixture
def tm(monkeypatch):
    """template_main.py, loaded by path with an open descriptor of its folder (as setup.py leaves it)."""
    folder = os.open(CHILD, os.O_RDONLY | os.O_DIRECTORY)
    monkeypatch.setattr(sys, "argv", ["-c", "-1", "[]", str(folder)])
    monkeypatch.setattr(sys, "dont_write_bytecode", sys.dont_write_bytecode)
    spec = importlib.util.spec_from_file_location("_test_template_main", CHILD / "template_main.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.folder_fd = folder
    return module


def in_child(action):
    """Run `action()` in a forked child; (exit status, its stderr, the JSON it returned)."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            os.close(out_r)
            os.close(err_r)
            sys.stderr = open(err_w, "w")
            os.write(out_w, json.dumps(action()).encode())
        except BaseException:
            traceback.print_exc()
            code = 99
        finally:
            sys.stderr.flush()
            os._exit(code)
    os.close(out_w)
    os.close(err_w)
    with open(out_r, "rb") as out, open(err_r, "rb") as err:
        result, error = out.read(), err.read().decode()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), error, json.loads(result) if result else None


def proc_status() -> dict:
    """/proc/self/status as {field: value}."""
    lines = Path("/proc/self/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def privileged() -> bool:
    """Whether this process may drop and set capabilities and change its uid (as root usually is)."""
    effective = int(proc_status()["CapEff"], 16)
    return all(effective >> cap & 1 for cap in (CAP_SETGID, CAP_SETUID, CAP_SETPCAP))


def test_mounts_come_from_the_folder_descriptor_which_is_closed(tm):
    """The repository is not in the template's file system: mounts.py is read through /proc/self/fd/<folder>,
    and the folder's descriptor does not stay open (the kernels would inherit it)."""
    assert tm.m.__file__ == f"/proc/self/fd/{tm.folder_fd}/mounts.py" and tm.libc is tm.m.libc
    with pytest.raises(OSError) as err:
        os.fstat(tm.folder_fd)
    assert err.value.errno == errno.EBADF
    assert "_sandbox_mounts" not in sys.modules and sys.dont_write_bytecode


def test_the_kernels_namespaces_are_the_kernels_own_but_no_user_namespace(tm):
    """Five distinct namespace flags (mount, UTS, IPC, PID, network), the kernel's values where this Python
    names them (``os.CLONE_*``, Python 3.12), and never CLONE_NEWUSER (a kernel gets no user namespace)."""
    flags = {name: getattr(tm, name) for name in ("CLONE_NEWNS", "CLONE_NEWUTS", "CLONE_NEWIPC", "CLONE_NEWPID",
                                                  "CLONE_NEWNET")}
    assert all(bin(v).count("1") == 1 for v in flags.values()) and len(set(flags.values())) == len(flags)
    assert tm.KERNEL_NAMESPACES == sum(flags.values()) and not tm.KERNEL_NAMESPACES & seccomp.CLONE_NEWUSER
    assert not tm.KERNEL_NAMESPACES & 0xFF  # the low byte of clone's flags is the exit signal (CSIGNAL)
    linux = {"CLONE_NEWNS": 0x00020000, "CLONE_NEWUTS": 0x04000000, "CLONE_NEWIPC": 0x08000000,  # <linux/sched.h>
             "CLONE_NEWPID": 0x20000000, "CLONE_NEWNET": 0x40000000}
    assert flags == linux and seccomp.CLONE_NEWUSER == 0x10000000
    for name, value in {**linux, "CLONE_NEWUSER": 0x10000000}.items():  # Python 3.12 names them too
        assert getattr(os, name, value) == value, name


def test_every_secure_bit_it_sets_is_locked(tm):
    """securebits: NOROOT and NO_SETUID_FIXUP set, each with its lock; KEEP_CAPS locked off (so leaving uid 0
    clears the capabilities); each lock bit is its flag's next bit (<linux/securebits.h>)."""
    for flag, lock in ((tm.SECBIT_NOROOT, tm.SECBIT_NOROOT_LOCKED),
                       (tm.SECBIT_NO_SETUID_FIXUP, tm.SECBIT_NO_SETUID_FIXUP_LOCKED)):
        assert lock == flag << 1 and tm.SECUREBITS & flag and tm.SECUREBITS & lock
    keep_caps = tm.SECBIT_KEEP_CAPS_LOCKED >> 1
    assert tm.SECUREBITS & tm.SECBIT_KEEP_CAPS_LOCKED and not tm.SECUREBITS & keep_caps


def test_the_structures_it_hands_the_kernel_have_the_c_layout(tm):
    """struct sock_fprog as the C compiler lays it out, instructions of the grader's seccomp filter, a capability
    bound past the kernel's last capability, and room for every descriptor of a request."""
    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    packed = struct.pack(tm.SOCK_FPROG, 3, 0x1234)
    assert len(packed) == ctypes.sizeof(SockFprog)
    assert int.from_bytes(packed[SockFprog.filter.offset:], sys.byteorder) == 0x1234
    assert tm.BPF_INSTRUCTION_BYTES == seccomp.INSTRUCTION_BYTES
    assert int(Path("/proc/sys/kernel/cap_last_cap").read_text()) < tm.CAPABILITIES_AT_MOST
    assert tm.MOST_DESCRIPTORS > tm.DESCRIPTORS


@pytest.mark.skipif(not seccomp._seccomp_program(), reason="no seccomp filter for this machine")
def test_restrict_installs_the_graders_filter(tm):
    """no_new_privs, then the grader's seccomp filter, which the kernel then applies (unshare: EPERM); an
    empty program sets no_new_privs only."""
    def restricted(program):
        def action():
            tm.restrict(program)
            denied = tm.libc.unshare(tm.CLONE_NEWUTS) != 0 and ctypes.get_errno() == errno.EPERM
            status = proc_status()
            return [status["NoNewPrivs"], status["Seccomp"], denied]
        return action

    assert in_child(restricted(seccomp._seccomp_program()))[::2] == (0, ["1", "2", True])
    code, err, (no_new_privs, mode, _) = in_child(restricted(b""))
    assert (code, no_new_privs, mode) == (0, "1", "0"), err


@pytest.mark.parametrize("uid", [NOBODY, None])
def test_capabilities_are_dropped_or_the_failure_is_named(tm, uid):
    """With privileges: no capability left in any set (as `uid` when given); without: the setup's exit
    status and a message naming the step that failed."""
    def action():
        tm.drop_capabilities(uid, seccomp.syscall_number("capset"))
        status = proc_status()
        return [status[f] for f in ("CapEff", "CapPrm", "CapInh", "CapBnd")] + [status["Uid"].split()[0]]

    code, err, result = in_child(action)
    if privileged():
        assert code == 0, err
        assert result == ["0" * 16] * 4 + [str(os.getuid() if uid is None else uid)]
    else:
        step = "securebits" if uid is None else "drop capability 0"
        assert (code, err) == (tm.m.SETUP_FAILED, f"sandbox setup: {step}: {os.strerror(errno.EPERM)}\n")


def test_rlimits_are_set_soft_and_hard_at_most_the_hard_limit(tm):
    """Each limit, by the resource module's name, as both soft and hard limit; one above the current hard
    limit is that hard limit."""
    def action():
        resource.setrlimit(resource.RLIMIT_NOFILE, (100, 100))
        tm.set_rlimits({"RLIMIT_CORE": 0, "RLIMIT_FSIZE": 1 << 20, "RLIMIT_NOFILE": 1000})
        return [resource.getrlimit(getattr(resource, n)) for n in ("RLIMIT_CORE", "RLIMIT_FSIZE", "RLIMIT_NOFILE")]

    code, err, result = in_child(action)
    assert code == 0, err
    assert result == [[0, 0], [1 << 20, 1 << 20], [100, 100]]


def test_preload_reports_what_loaded_and_why_the_rest_failed(tm, tmp_path, monkeypatch):
    """A missing module, and one that exits while imported, are reported (the message cut to ERROR_CHARS);
    the loaded objects are frozen for the garbage collector."""
    (tmp_path / "exits_on_import.py").write_text("raise SystemExit('x' * 1000)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        loaded, failed = tm.preload(["json", "no_such_module_for_this_test", "exits_on_import"])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        sys.modules.pop("exits_on_import", None)
    assert loaded == ["json"] and set(failed) == {"no_such_module_for_this_test", "exits_on_import"}
    assert failed["no_such_module_for_this_test"].startswith("ModuleNotFoundError: No module named")
    assert failed["exits_on_import"] == ("SystemExit: " + "x" * 1000)[:tm.ERROR_CHARS]


def test_reseed_gives_each_loaded_generator_a_new_seed(tm, monkeypatch):
    """numpy's and torch's generators are seeded afresh when loaded; one that fails does not stop the other."""
    seeded = []

    def broken():
        raise RuntimeError("no generator")

    monkeypatch.setitem(sys.modules, "numpy", types.SimpleNamespace(random=types.SimpleNamespace(seed=broken)))
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(seed=lambda: seeded.append("torch")))
    tm.reseed()
    assert seeded == ["torch"]
    monkeypatch.delitem(sys.modules, "torch")
    monkeypatch.setitem(sys.modules, "numpy", types.SimpleNamespace(random=types.SimpleNamespace(
        seed=lambda: seeded.append("numpy"))))
    tm.reseed()
    assert seeded == ["torch", "numpy"]


def _copied(tm, data: bytes, left: int) -> bytes:
    """What copy_output writes to the log when the kernel writes `data` and ends."""
    out_r, out_w = os.pipe()
    log_r, log_w = os.pipe()

    def kernel():
        with open(out_w, "wb") as out:
            out.write(data)

    writer = threading.Thread(target=kernel)
    writer.start()
    with open(log_r, "rb") as log:
        reader = threading.Thread(target=lambda: tm.copy_output(out_r, log_w, left) or os.close(log_w))
        reader.start()
        copied = log.read()
    reader.join(WAIT_S)
    writer.join(WAIT_S)
    os.close(out_r)
    return copied


def test_the_kernels_output_is_copied_up_to_its_budget_and_the_rest_drained(tm):
    """Output under the budget is copied whole; beyond it, the first `left` bytes and one notice, while the
    rest is still read (the kernel never blocks on a full pipe)."""
    assert _copied(tm, b"hello\n" * 10, 1000) == b"hello\n" * 10
    big = bytes(range(256)) * 2048  # 512 KiB: several reads, more than a pipe holds
    assert _copied(tm, big, 100_000) == big[:100_000] + tm.TRUNCATED
    assert _copied(tm, big, 0) == b""


def test_receive_gives_the_message_and_its_descriptors_or_none_once_the_grader_is_gone(tm):
    grader, control = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    r, w = os.pipe()
    try:
        socket.send_fds(grader, [b'{"x": 1}'], [r, w])
        message, fds = tm.receive(control)
        assert message == b'{"x": 1}' and len(fds) == 2
        assert all(os.path.samestat(os.fstat(a), os.fstat(b)) for a, b in zip(fds, (r, w)))
        for fd in fds:
            os.close(fd)
        grader.close()
        assert tm.receive(control) == (None, None)
        control.close()
        assert tm.receive(control) == (None, None)
    finally:
        os.close(r)
        os.close(w)


def test_a_bad_request_is_answered_with_an_error_and_its_descriptors_closed(tm):
    """Wrong number of descriptors, or a message that is not JSON: the grader gets ``{"error": ...}``, the
    descriptors sent are closed (no kernel is forked), and serving ends when the grader closes its end."""
    grader, control = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    grader.settimeout(WAIT_S)
    replies, pipes = [], [os.pipe() for _ in range(tm.DESCRIPTORS)]

    def the_grader():
        socket.send_fds(grader, [b"{}"], [pipes[0][1]])
        replies.append(json.loads(grader.recv(1 << 16)))
        socket.send_fds(grader, [b"not json"], [w for _, w in pipes])
        replies.append(json.loads(grader.recv(1 << 16)))
        grader.close()

    helper = threading.Thread(target=the_grader)
    helper.start()
    handler = signal.getsignal(signal.SIGCHLD)
    try:
        tm.serve(control)  # returns once the grader is gone
    finally:
        signal.signal(signal.SIGCHLD, handler)
    helper.join(WAIT_S)
    control.close()
    assert replies[0] == {"error": f"ValueError: expected {tm.DESCRIPTORS} descriptors, got 1"}
    assert replies[1]["error"].startswith("JSONDecodeError: ")
    for r, w in pipes:
        os.close(w)
        os.set_blocking(r, False)
        assert os.read(r, 1) == b""  # no copy of the write end is left open (else: BlockingIOError)
        os.close(r)


def test_a_kernel_the_grader_gave_up_on_exits_before_anything_else(tm):
    """The kernel waits for "go" on its pipe; a pipe closed without it ends the kernel with GIVEN_UP."""
    def action():
        go_r, go_w = os.pipe()
        os.close(go_w)
        tm.become_kernel({}, go_r, -1)
        return "went on"

    assert in_child(action)[::2] == (tm.GIVEN_UP, None)


def test_the_kernels_files_are_copied_from_the_work_folder(tm, tmp_path, monkeypatch):
    """The submission's files into the kernel's own folder, kernel.json beside them (taken out of the request),
    both folders private; then the kernel works in its folder. The work folder's descriptor is closed."""
    work = tmp_path / "given"
    work.mkdir()
    (work / "lab.ipynb").write_bytes(b"{}")
    (work / "data.csv").write_bytes(b"a,b\n")
    kernel_dirs = [str(tmp_path / "work"), str(tmp_path / "conn")]
    req = {"uid": os.getuid(), "kernel_dirs": kernel_dirs, "kernel_json": '{"key": "k"}'}
    work_fd = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
    monkeypatch.chdir(tmp_path)
    tm.place_files(req, work_fd)
    assert os.getcwd() == kernel_dirs[0] and "kernel_json" not in req
    assert {p.name: p.read_bytes() for p in (tmp_path / "work").iterdir()} == {"lab.ipynb": b"{}",
                                                                                "data.csv": b"a,b\n"}
    assert (tmp_path / "conn" / "kernel.json").read_text() == '{"key": "k"}'
    assert all((tmp_path / d).stat().st_mode & 0o777 == 0o700 for d in ("work", "conn"))
    with pytest.raises(OSError):
        os.fstat(work_fd)


def test_a_link_among_the_submissions_files_is_not_followed(tm, tmp_path, monkeypatch):
    work = tmp_path / "given"
    work.mkdir()
    (work / "secret").symlink_to("/etc/hostname")
    work_fd = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
    monkeypatch.chdir(tmp_path)
    try:
        with pytest.raises(OSError) as err:
            tm.place_files({"uid": None, "kernel_dirs": [str(tmp_path / "w"), str(tmp_path / "c")],
                            "kernel_json": "{}"}, work_fd)
    finally:
        os.close(work_fd)
    assert err.value.errno == errno.ELOOP and not (tmp_path / "w" / "secret").exists()


def test_the_kernel_mounts_its_own_folders_and_keeps_what_the_template_had_under_tmp(tm, tmp_path):
    """Mounts made private; a kernel's own /proc, /tmp (``tmp_mb``) and /dev/shm (``shm_mb``); a bind the
    template had under its /tmp is held open before that /tmp is covered and bound again onto the new one;
    the hidden paths covered last."""
    kept = tmp_path / "course"
    kept.mkdir()
    calls, real = [], tm.m

    class Recorder:
        def __getattr__(self, name):  # the flags
            return getattr(real, name)

        def private(self, path):
            return path.startswith(str(tmp_path))

        def make_target(self, path, is_dir):
            calls.append(("make_target", path, is_dir))

        def mount(self, src, dst, fstype, flags, data=None, must=True):
            calls.append(("mount", src, dst, fstype, flags, data))

        def bind_ro(self, src, dst):
            calls.append(("bind_ro", os.readlink(src), dst))

        def cover(self, root, dirs, files):
            calls.append(("cover", root, dirs, files))

    tm.m = m = Recorder()
    req = {"binds": [["/usr", "/usr"], [str(kept), str(kept)]], "tmp_mb": 64, "shm_mb": 8,
           "hide_dirs": ["/secret"], "hide_files": ["/etc/shadow"]}
    tm.mount_own(req)
    assert calls[0] == ("mount", None, "/", None, m.REC | m.PRIVATE, None)
    assert [c[2] for c in calls[1:4]] == ["/proc", "/tmp", "/dev/shm"]
    assert calls[2][5].startswith("size=64m,") and calls[3][5].startswith("size=8m,")
    assert calls[4:] == [("make_target", str(kept), True), ("bind_ro", str(kept), str(kept)),
                         ("cover", "", ["/secret"], ["/etc/shadow"])]


def test_run_as_the_grader_runs_it_it_reports_its_imports_and_refuses_bad_requests(tmp_path):
    """``python -c <text> <socket fd> <preload JSON> <folder fd>``: first what it imported and what failed,
    then an error for a malformed request, and it exits once the grader closes its socket."""
    grader, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    folder = os.open(CHILD, os.O_RDONLY | os.O_DIRECTORY)
    proc = subprocess.Popen([sys.executable, "-c", (CHILD / "template_main.py").read_text(),
                             str(theirs.fileno()), json.dumps(["json", "no_such_module_for_this_test"]), str(folder)],
                            cwd="/", pass_fds=[theirs.fileno(), folder], stdin=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    theirs.close()
    os.close(folder)
    try:
        grader.settimeout(WAIT_S)
        ready = json.loads(grader.recv(1 << 16))
        assert ready["loaded"] == ["json"] and list(ready["failed"]) == ["no_such_module_for_this_test"]
        r, w = os.pipe()
        socket.send_fds(grader, [b"{}"], [r])
        os.close(r)
        os.close(w)
        assert json.loads(grader.recv(1 << 16)) == {"error": "ValueError: expected 4 descriptors, got 1"}
        grader.close()
        assert proc.wait(WAIT_S) == 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.communicate()
