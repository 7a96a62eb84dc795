"""The sandbox's second line of defence: the kernel's file system, channels between gradings, leftovers,
and the same confinement when the grader is not root.

Each test attacks as a hostile submission would (classes, not one example): writing past the disk limit
anywhere it can, leaving state for a later grading in every shared kernel facility, escaping through
nested namespaces, and, as an unprivileged grader, reading solutions through /proc, rewriting the
grader's code and signalling the grader.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from autograder import sandbox as sandbox_module
from autograder.cli import main
from autograder.sandbox import ROOT, Limits, Sandbox, confinement_available, remove_tree, sweep
from autograder.sandbox import policy as sandbox_policy

CONFINED, WHY = confinement_available()
needs_confinement = pytest.mark.skipif(not CONFINED, reason=f"no confinement here: {WHY}")
TEST_UID = 4242  # an unprivileged uid that is neither root nor the kernel's nobody


def value(box, code, expression="out"):
    """Run `code` in the kernel, then return `expression` evaluated there (a Python literal)."""
    result = box.execute(code, timeout=60, user_expressions={"v": expression})
    entry = result.user_expressions["v"]
    assert entry["status"] == "ok", (result, entry)
    return eval(entry["data"]["text/plain"])  # noqa: S307 - literals printed by the kernel under test


HELPERS = r'''
import errno, os
def outcome(fn):
    try:
        r = fn()
        return "WORKED" if r is None else r
    except OSError as exc:
        return errno.errorcode.get(exc.errno, "OSError")
    except Exception as exc:
        return type(exc).__name__
def write(path, data=b"x"):
    with open(path, "wb") as f:
        f.write(data)
'''


@needs_confinement
def test_everything_the_kernel_can_write_is_small_private_tmpfs():
    """Is every place the kernel can write (its /tmp with the connection directory, /dev/shm) a size-limited tmpfs,
    is everything else read-only or absent (/run/lock, the venv, /), and does the host's disk stay untouched?"""
    code = HELPERS + r'''
mounts = {}
for line in open("/proc/self/mountinfo"):
    fields = line.split()
    mounts[fields[4]] = (fields[fields.index("-") + 1], fields[5].split(",")[0])
def fill(path):
    written = 0
    with open(path, "wb") as f:
        try:
            while written < (400 << 20):
                f.write(b"x" * (4 << 20)); f.flush(); written += 4 << 20
        except OSError as exc:
            return written >> 20, errno.errorcode.get(exc.errno)
    return written >> 20, "no limit"
conn = os.listdir("/tmp/.kernel")
filled = [fill(f"/tmp/.kernel/fill{i}") for i in range(8)]
out = {
    "tmp": mounts.get("/tmp"), "shm": mounts.get("/dev/shm"), "root": mounts.get("/"),
    "conn_has_kernel_json": "kernel.json" in conn,
    "conn_fill_mb": sum(mb for mb, _ in filled), "conn_fill_error": filled[-1][1],
    "shm_fill": [fill(f"/dev/shm/fill{i}") for i in range(4)],
    "writable_elsewhere": {p: outcome(lambda p=p: write(p)) for p in (
        "/x", "/etc/x", "/usr/x", "/run/lock/x", "/var/tmp/x", "/dev/x", "/proc/x", "/sys/x",
        __import__("sys").prefix + "/x", {root!r} + "/course_utils/x.py", {root!r} + "/data/x")},
}
for i in range(8):
    os.remove(f"/tmp/.kernel/fill{i}")
for i in range(4):
    os.remove(f"/dev/shm/fill{i}")
'''.replace("{root!r}", repr(str(ROOT)))
    limits = Limits(disk_mb=64, file_size_mb=64)
    with Sandbox({}, limits=limits) as box:
        out = value(box, code)
        base = box._base
        host_bytes = sum(f.stat().st_size for f in base.rglob("*") if f.is_file())
    assert out["tmp"][0] == "tmpfs" and out["shm"][0] == "tmpfs" and out["root"][1] == "ro", out
    assert out["conn_has_kernel_json"]
    assert out["conn_fill_error"] == "ENOSPC" and out["conn_fill_mb"] <= 64, out  # the disk limit holds
    assert out["shm_fill"][-1][1] == "ENOSPC" and sum(mb for mb, _ in out["shm_fill"]) <= 64, out
    assert all(r in ("EROFS", "EACCES", "ENOENT", "EPERM") for r in out["writable_elsewhere"].values()), out
    assert host_bytes < 1 << 20, f"the kernel's writes reached the host's disk: {host_bytes} bytes"
    assert not base.exists()


@needs_confinement
def test_the_file_system_is_an_allow_list():
    """Does the kernel see only the allow-list: no sibling of the repository (../shared), nothing of other users'
    world-readable files elsewhere (classmates' submissions kept in /var/tmp, /opt, /home), no /run?"""
    planted = []
    for top in ("/var/tmp", "/opt", "/home"):
        if os.access(top, os.W_OK):
            folder = Path(top) / f"agtest-{uuid.uuid4().hex[:8]}"
            folder.mkdir(mode=0o755)
            (folder / "bob.ipynb").write_text("bob's answers")
            os.chmod(folder / "bob.ipynb", 0o644)
            planted.append(folder)
    sibling = ROOT.parent / f"agtest-shared-{uuid.uuid4().hex[:8]}"
    with contextlib.suppress(OSError):
        sibling.mkdir(mode=0o755)
        (sibling / "DESIGN.md").write_text("shared notes")
        planted.append(sibling)
    try:
        code = HELPERS + f'''
out = {{
    "root": sorted(os.listdir("/")),
    "beside_repo": sorted(os.listdir({str(ROOT.parent)!r})),
    "planted": {{p: outcome(lambda p=p: open(p).read()) for p in {[str(p / n) for p in planted
                                                                  for n in ("bob.ipynb", "DESIGN.md")]!r}}},
    "run": outcome(lambda: os.listdir("/run")),
}}
'''
        with Sandbox({}) as box:
            out = value(box, code)
    finally:
        for folder in planted:
            remove_tree(folder)
    allowed = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "dev", "proc", "sys", "tmp"}
    extra = set(out["root"]) - allowed
    # What remains at the top is only the way down to the interpreter and the repository's allowed folders.
    needed = {Path(p).parts[1] for p in (os.path.realpath(sys.base_prefix), sys.prefix, str(ROOT))}
    assert extra <= needed, out["root"]
    # A checkout directly in /tmp sits on the kernel's private /tmp, beside the kernel's own folders.
    own = {".ipython", ".kernel", "work"} if ROOT.parent == Path("/tmp") else set()
    assert set(out["beside_repo"]) - own == {ROOT.name}, out["beside_repo"]
    assert set(out["planted"].values()) <= {"ENOENT"}, out["planted"]
    assert out["run"] == "ENOENT"


CHANNEL_WRITE = HELPERS + r'''
import ctypes, socket
libc = ctypes.CDLL(None, use_errno=True)
def keyring_add():
    serial = libc.syscall(248 if __import__("platform").machine() == "x86_64" else 217,
                          b"user", b"agchannel", b"secret-from-A", 13, ctypes.c_int(-4))  # user keyring
    if serial < 0:
        raise OSError(ctypes.get_errno(), "add_key")
    return "WORKED"
def sysv_shm():
    shmid = libc.shmget(0x41470001, 4096, 0o1666)  # IPC_CREAT | 0666
    if shmid < 0:
        raise OSError(ctypes.get_errno(), "shmget")
    libc.shmat.restype = ctypes.c_void_p
    addr = libc.shmat(shmid, None, 0)
    ctypes.memmove(addr, b"secret-from-A", 13)
    return "WORKED"
listener = socket.socket(socket.AF_UNIX)
def abstract():
    listener.bind("\0agchannel")
    listener.listen()
    return "WORKED"
out = {
    "keyring": outcome(keyring_add),
    "shm_file": outcome(lambda: write("/dev/shm/agchannel", b"secret-from-A")),
    "run_lock": outcome(lambda: write("/run/lock/agchannel", b"secret-from-A")),
    "tmp_file": outcome(lambda: write("/tmp/agchannel", b"secret-from-A")),
    "sysv_shm": outcome(sysv_shm),
    "abstract_socket": outcome(abstract),
}
'''

CHANNEL_READ = HELPERS + r'''
import ctypes, socket
libc = ctypes.CDLL(None, use_errno=True)
def keyring_find():
    serial = libc.syscall(249 if __import__("platform").machine() == "x86_64" else 218,
                          b"user", b"agchannel", None, ctypes.c_int(0))  # request_key
    if serial < 0:
        raise OSError(ctypes.get_errno(), "request_key")
    return "FOUND"
def sysv_shm():
    shmid = libc.shmget(0x41470001, 0, 0)
    if shmid < 0:
        raise OSError(ctypes.get_errno(), "shmget")
    return "FOUND"
def abstract():
    s = socket.socket(socket.AF_UNIX)
    s.connect("\0agchannel")
    return "FOUND"
out = {
    "keyring": outcome(keyring_find),
    "shm_file": outcome(lambda: open("/dev/shm/agchannel", "rb").read()),
    "run_lock": outcome(lambda: open("/run/lock/agchannel", "rb").read()),
    "tmp_file": outcome(lambda: open("/tmp/agchannel", "rb").read()),
    "sysv_shm": outcome(sysv_shm),
    "abstract_socket": outcome(abstract),
}
'''


@needs_confinement
def test_no_state_crosses_from_one_grading_to_the_next():
    """Does what one grading leaves in a keyring, /dev/shm, /run/lock, /tmp, SysV shared memory or an abstract
    socket stay out of reach of a grading running at the same time, and of one after it?"""
    with Sandbox({}) as first:
        wrote = value(first, CHANNEL_WRITE)
        with Sandbox({}) as meanwhile:
            during = value(meanwhile, CHANNEL_READ)
    with Sandbox({}) as later:
        after = value(later, CHANNEL_READ)
    # The writer could use its private copies (its own /tmp, /dev/shm, IPC and network namespaces) ...
    assert wrote["shm_file"] == wrote["tmp_file"] == wrote["sysv_shm"] == wrote["abstract_socket"] == "WORKED", wrote
    assert wrote["keyring"] == "EPERM" and wrote["run_lock"] == "ENOENT", wrote  # ... but no keyring, no /run
    for read in (during, after):
        assert "FOUND" not in read.values() and not any(isinstance(v, bytes) for v in read.values()), read


NESTED = HELPERS + r'''
import ctypes, subprocess
libc = ctypes.CDLL(None, use_errno=True)
def call(fn):
    r = fn()
    if r < 0:
        raise OSError(ctypes.get_errno(), "call")
    return "WORKED"
out = {
    "unshare(NEWUSER)": outcome(lambda: call(lambda: libc.unshare(0x10000000))),
    "unshare(NEWNS)": outcome(lambda: call(lambda: libc.unshare(0x00020000))),
    "setns": outcome(lambda: call(lambda: libc.setns(os.open("/proc/self/ns/net", os.O_RDONLY), 0))),
    "unshare -r": subprocess.run(["unshare", "-r", "true"], capture_output=True).returncode,
    "fork still works": subprocess.run(["true"]).returncode,
}
'''


@needs_confinement
def test_nested_user_namespaces_and_other_namespace_calls_are_denied():
    """Can the kernel create a user namespace (unshare, clone, the unshare tool) or join one (setns)? It must not."""
    with Sandbox({}) as box:
        out = value(box, NESTED)
    assert out["unshare(NEWUSER)"] == out["unshare(NEWNS)"] == out["setns"] == "EPERM", out
    assert out["unshare -r"] != 0 and out["fork still works"] == 0, out


def _deep_chain(top: Path, depth: int, name: str = "d" * 40) -> None:
    """A chain `depth` folders deep (deeper than PATH_MAX), with a closed folder, a file and a symlink out."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i in range(depth):
            os.mkdir(name, dir_fd=fd)
            nxt = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nxt
            if i == depth // 2:
                os.symlink("/etc/passwd", "link-out", dir_fd=fd)
                with open(os.open("f", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd), "w") as f:
                    f.write("x")
        os.mkdir("closed", 0o700, dir_fd=fd)
        inner = os.open("closed", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.mkdir("inside", dir_fd=inner)
        os.close(inner)
        os.chmod("closed", 0o000, dir_fd=fd)
    finally:
        os.close(fd)


def test_cleanup_of_a_1500_deep_tree_neither_fails_nor_recurses(tmp_path):
    """Does remove_tree remove a 1500-deep chain (past PATH_MAX and the recursion limit) with closed folders,
    without following a symlink out of it?"""
    outside = tmp_path / "outside"
    outside.write_text("keep me")
    top = tmp_path / "tree"
    top.mkdir()
    (top / "out").symlink_to(outside)
    _deep_chain(top, 1500)
    remove_tree(top)
    assert not top.exists() and outside.read_text() == "keep me"


def test_unconfined_kernel_deep_tree_is_cleaned_up():
    """Without confinement the kernel writes to the host's disk: is its 1500-deep chain still removed at close?"""
    code = ("import os\nfor i in range(1500):\n    os.mkdir('d' * 40)\n    os.chdir('d' * 40)\n"
            "os.mkdir('closed', 0)\nos.chdir('/')\n")
    with Sandbox({}, confine=False) as box:
        assert box.execute(code, timeout=60).status == "ok"
        base = box._base
    assert not base.exists()


@needs_confinement
def test_what_a_killed_grader_left_is_swept(tmp_path):
    """After a grader is killed with kill -9 mid-grading, is its kernel gone, and do its /tmp/ag-* folder and
    cgroups disappear at the next sweep, while a live grader's folder stays?"""
    script = ("import sys, time\nsys.path.insert(0, sys.argv[1])\nfrom autograder.sandbox import Sandbox\n"
              "box = Sandbox({})\nbox.start()\nprint(box._base, box._kernel_pid, "
              "' '.join(str(d) for d in (box._cgroups.dirs if box._cgroups else [])), flush=True)\n"
              "box.execute('import os\\nfor i in range(300):\\n    os.mkdir(\"d\"*40)\\n    os.chdir(\"d\"*40)', "
              "timeout=30)\nprint('ready', flush=True)\ntime.sleep(300)\n")
    # The killed grader's folder goes into a temp directory of this test's own: any other grader on the
    # machine (a parallel test) sweeps /tmp when it starts, and would remove the folder before this test's
    # sweep, or leave its own killed graders' folders there for this test to find.
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", script, str(ROOT)], stdout=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "TMPDIR": str(tmp)})
    try:
        base, kernel, *groups = proc.stdout.readline().split()
        assert proc.stdout.readline().strip() == "ready"
        base = Path(base)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{kernel}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{kernel}").exists(), "the kernel outlived its grader"
    assert base.parent == tmp and base.exists(), "the folder is expected to stay until a sweep"
    removed = sweep(tmp=str(tmp))
    assert str(base) in removed and not base.exists()
    with Sandbox({}) as alive:  # a live grader's folder is not touched
        assert str(alive._base) not in sweep() and alive._base.exists()
    if os.geteuid() == 0 and sandbox_module._Cgroups.parents():
        assert groups and all(Path(g).name.startswith("autograder-") for g in groups), groups
    assert not [g for g in groups if Path(g).exists()], "the dead grader's cgroups are still there"
    leftovers = [p for p in tmp.glob("ag-*")
                 if (p / "owner").is_file() and not sandbox_module._owner_alive((p / "owner").read_text())]
    assert not leftovers


def test_fail_closed_without_confinement(monkeypatch, tmp_path):
    """Where no kernel can be confined, do `grade` and `autograde` refuse (exit 2, saying why and how to proceed),
    and does --unconfined go on, listing what is not enforced?"""
    monkeypatch.setattr(sandbox_module, "confinement_mode", lambda: ("", "no namespaces on this test machine"))
    def run(argv):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(argv)
        return rc, out.getvalue(), err.getvalue()

    rc, out, err = run(["grade", "01_perceptron", str(tmp_path / "missing.ipynb")])
    assert rc == 2 and out == "" and "no namespaces on this test machine" in err and "--unconfined" in err
    rc, _, err = run(["grade", "01_perceptron", str(tmp_path / "missing.ipynb"), "--unconfined"])
    assert "grading UNCONFINED" in err and "not enforced" in err.lower() and "no such submission file" in err
    import shutil

    import nbformat

    from tests.files.fixture_lab import LAB as FIXTURE, source_notebook, write_lab

    root = tmp_path / "course"
    write_lab(root)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    (root / "submitted" / "alice" / FIXTURE).mkdir(parents=True)
    nbformat.write(source_notebook(), root / "submitted" / "alice" / FIXTURE / f"{FIXTURE}.ipynb")
    rc, out, err = run(["autograde", FIXTURE, "--course-dir", str(root)])
    assert rc == 2 and "refusing to grade" in err and not (root / "autograded").exists(), err


def _as_user_command(uid: int, argv: list[str]) -> list[str]:
    """`argv` run as `uid` (as root: in a private mount namespace where the interpreter under /root is reachable)."""
    needed = [os.path.realpath(sys.base_prefix), str(ROOT)]
    lines = ["set -e"]
    for path in needed:
        closed = next((p for p in reversed(Path(path).parents) if p != Path("/") and not p.stat().st_mode & 0o001),
                      None)
        if closed is None:
            continue
        lines += ["keep=$(mktemp -d /tmp/agtest-keep-XXXXXXXX)", f"mount --bind {shlex.quote(path)} \"$keep\"",
                  f"mount -t tmpfs -o mode=0755,size=1m agtest {shlex.quote(str(closed))}",
                  f"mkdir -p {shlex.quote(path)}", f"mount --move \"$keep\" {shlex.quote(path)}", "rmdir \"$keep\""]
    lines.append(f"exec setpriv --reuid={uid} --regid={uid} --clear-groups -- " + " ".join(map(shlex.quote, argv)))
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", "\n".join(lines)]


def _probe(as_uid: int | None) -> dict:
    argv = [sys.executable, str(ROOT / "tests" / "files" / "confinement_probe.py")]
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}
    cmd = _as_user_command(as_uid, argv) if as_uid is not None else argv
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, cwd="/")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _assert_confined(report: dict) -> None:
    attacks = report["attacks"]
    assert "error" not in attacks, attacks
    assert not [k for k, v in attacks.items() if v.startswith("WORKED")], attacks
    assert attacks["create a module in course_utils"] == "EROFS", attacks  # read-only, whoever owns it
    assert report["kernel_capabilities"] == "0000000000000000"
    assert report["grader_alive"] and report["course_utils_untouched"]
    assert report["fixture_score"] == [5.0, 5.0]
    wrote, read = report["channels"]["wrote"], report["channels"]["read"]
    assert wrote["sysv_shm"] == wrote["abstract_socket"] == wrote["shm_file"] == "WORKED", wrote
    assert wrote["keyring"] == "EPERM" and "FOUND" not in read.values(), report["channels"]
    assert not any("secret" in str(v) for v in read.values()), read
    nested = report["nested"]
    assert nested["unshare(NEWUSER)"] == nested["setns"] == "EPERM" and nested["unshare -r"] != 0, nested


@needs_confinement
@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the grader already runs unprivileged: see the test below")
def test_same_confinement_as_root_and_as_an_unprivileged_user():
    """Run by root and by uid 4242, can the kernel read solutions/ through /proc/<grader pid>/cwd, write the
    grader's course_utils or signal the grader? (Neither time.) And does the fixture lab grade in full?"""
    as_root = _probe(None)
    assert as_root["mode"] == "root"
    _assert_confined(as_root)
    as_user = _probe(TEST_UID)
    assert as_user["uid"] == TEST_UID and as_user["mode"] == "user", as_user
    _assert_confined(as_user)
    assert as_user["attacks"].keys() == as_root["attacks"].keys()


@needs_confinement
@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() == 0, reason="runs when the test suite itself is not root")
def test_confinement_as_this_unprivileged_user():
    """Run by this (unprivileged) user, is the kernel confined just the same?"""
    report = _probe(None)
    assert report["mode"] == "user"
    _assert_confined(report)


@needs_confinement
@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the suite already runs unprivileged")
def test_sandbox_suite_passes_with_the_grader_as_an_unprivileged_user():
    """Do the sandbox's own tests (what the kernel sees, writes and reaches, limits, no process outliving it) pass
    with the grader running as uid 4242, in a user namespace?"""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": "/tmp", "LANG": "C.UTF-8",
           "PYTHONDONTWRITEBYTECODE": "1"}
    argv = [sys.executable, "-m", "pytest", str(ROOT / "tests" / "autograder" / "sandbox" / "test_client.py"), "-q",
            "-p", "no:cacheprovider", "-o", "addopts=", "--rootdir", str(ROOT)]
    done = subprocess.run(_as_user_command(TEST_UID, argv), capture_output=True, text=True, timeout=600, env=env,
                          cwd=str(ROOT))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout, done.stdout[-1000:]


@needs_confinement
def test_a_course_checked_out_under_tmp_is_visible_read_only_over_the_private_tmp(tmp_path, monkeypatch):
    """A course in /tmp/<name> (a fresh clone there): does the kernel see its course_utils and data, read-only,
    on top of its own private, writable /tmp, and nothing else of the host's /tmp?"""
    course = tmp_path / "course"
    (course / "course_utils").mkdir(parents=True)
    (course / "course_utils" / "marker.txt").write_text("from the course")
    (course / "data").mkdir()
    (tmp_path / "beside.txt").write_text("not for the kernel")
    assert str(course).startswith("/tmp/")
    monkeypatch.setattr(sandbox_policy, "ROOT", course)
    with Sandbox({}) as box:
        got = value(box, HELPERS + (
            f"out = (open({str(course / 'course_utils' / 'marker.txt')!r}).read(), "
            f"outcome(lambda: write({str(course / 'course_utils' / 'new.txt')!r})), "
            f"outcome(lambda: open({str(tmp_path / 'beside.txt')!r}).read()), "
            "outcome(lambda: write('/tmp/mine.txt')), os.getcwd())"))
    assert got[0] == "from the course", got
    assert got[1] in ("EROFS", "EACCES", "EPERM"), got
    assert got[2] == "ENOENT", got
    assert got[3] == "WORKED" and got[4] == "/tmp/work", got
    assert not (course / "course_utils" / "new.txt").exists()
