"""``_child/setup.py``, the template's first stage (PID 1 of fresh namespaces), loaded by path as the grader runs it.

Its mounts need privileges: here the file system it builds is checked against a recorder of the mount calls
(`Recorder`, standing in for ``mounts.py``), and the real program is run only where its first mount fails
whatever the privileges (a missing new root).
"""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.sandbox import template

CHILD = template.CHILD


@pytest.fixture
def setup(monkeypatch):
    """setup.py, loaded by path (it sets ``sys.dont_write_bytecode``: restored afterwards)."""
    monkeypatch.setattr(sys, "dont_write_bytecode", sys.dont_write_bytecode)
    spec = importlib.util.spec_from_file_location("_test_sandbox_setup", CHILD / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Recorder:
    """What setup.py uses of ``mounts.py``: the flags and the helpers that need no privileges are the real
    ones; every mount, bind and failure is recorded instead of made."""

    def __init__(self, real, private=None):
        self._real = real
        self.calls = []
        self.private = private or real.private

    def __getattr__(self, name):  # the flags and constants
        return getattr(self._real, name)

    def make_target(self, path, is_dir):
        self._real.make_target(path, is_dir)

    def kept(self, path):
        return self._real.kept(path)

    def mount(self, src, dst, fstype, flags, data=None, must=True):
        self.calls.append(("mount", src, dst, fstype, flags, data, must))
        return True

    def bind_ro(self, src, dst):
        self.calls.append(("bind_ro", src, dst))

    def fail(self, what):
        raise RuntimeError(f"failed: {what}")


def test_it_loads_mounts_from_its_own_folder_without_sys_modules(setup):
    """setup.py runs with ``-I -S`` from its folder: mounts.py comes from beside it, by path, and neither
    enters ``sys.modules``; no bytecode is written beside it."""
    assert Path(setup.m.__file__) == CHILD / "mounts.py" and setup.HERE == str(CHILD)
    assert "_sandbox_mounts" not in sys.modules and sys.dont_write_bytecode
    loaded = setup.load(str(CHILD / "mounts.py"), "_test_loaded_mounts")
    assert loaded.private("/tmp/x") and "_test_loaded_mounts" not in sys.modules


def test_its_file_systems_have_the_documented_options(setup):
    """The new root is small and not world-writable; the template's /tmp and /dev/shm are sticky and writable
    by all; the standard links of /dev point into /proc/self/fd."""
    def options(text):
        return dict(part.split("=") for part in text.split(","))

    assert options(setup.ROOT_TMPFS)["mode"] == "0755"
    assert options(setup.TEMPLATE_TMP)["mode"] == options(setup.TEMPLATE_SHM)["mode"] == "1777"
    for text in (setup.ROOT_TMPFS, setup.TEMPLATE_TMP, setup.TEMPLATE_SHM):
        assert {"size", "nr_inodes", "mode"} == set(options(text))
    assert dict(setup.STD_LINKS) == {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
                                     "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}


def _config(root, binds, userns):
    return {"newroot": str(root), "symlinks": [["/bin", "usr/bin"]], "binds": binds, "devices": ["/dev/null"],
            "userns": userns}


@pytest.mark.parametrize("userns", [True, False])
def test_the_file_system_is_built_in_order_and_left_read_only(setup, tmp_path, userns):
    """The root tmpfs first; the links; the binds outside the private folders, then the devices, /proc, /sys
    and the template's /tmp and /dev/shm, then the binds under /tmp (onto that tmpfs); nested user
    namespaces denied in a user namespace only; at last the whole root remounted read-only."""
    root, source = tmp_path / "root", tmp_path / "src"
    root.mkdir()
    (source / "dir").mkdir(parents=True)
    (source / "file").write_text("x")
    (root / "proc" / "sys" / "user").mkdir(parents=True)  # where the kernel's /proc would answer
    binds = [[str(source / "dir"), "/usr"], [str(source / "dir"), "/tmp/course"], [str(source / "file"), "/etc/f"]]
    rec = setup.m = Recorder(setup.m)
    setup.build(_config(root, binds, userns))
    m = rec._real
    assert rec.calls[0] == ("mount", "autograder-root", str(root), "tmpfs", m.NOSUID | m.NODEV, setup.ROOT_TMPFS,
                            True)
    assert os.readlink(root / "bin") == "usr/bin"
    assert (root / "usr").is_dir() and (root / "etc" / "f").is_file() and (root / "tmp" / "course").is_dir()
    order = [c[2] for c in rec.calls]
    tmp_mount = order.index(str(root) + "/tmp")
    assert order.index(str(root) + "/usr") < order.index(str(root) + "/dev/null") < tmp_mount
    assert order.index(str(root) + "/etc/f") < tmp_mount < order.index(str(root) + "/tmp/course")
    assert ("bind_ro", str(source / "dir"), str(root) + "/tmp/course") in rec.calls
    proc, sysfs = (next(c for c in rec.calls if c[:2] == ("mount", fs)) for fs in ("proc", "sysfs"))
    assert proc[4] == m.NOSUID | m.NODEV | m.NOEXEC and proc[6]
    assert sysfs[4] & m.RDONLY and not sysfs[6]  # a /sys it cannot mount is left out
    assert {os.readlink(root / "dev" / name) for name, _ in setup.STD_LINKS} == set(dict(setup.STD_LINKS).values())
    denied = root / "proc" / "sys" / "user" / "max_user_namespaces"
    assert (denied.read_text() == "0") if userns else not denied.exists()
    assert rec.calls[-1] == ("mount", None, str(root), None, m.REMOUNT | m.BIND | m.RDONLY | m.NOSUID | m.NODEV,
                             None, True)


def test_a_device_is_bound_writable_but_not_executable(setup, tmp_path):
    """Each device: bound, then remounted nosuid and noexec, keeping its locked flags but never read-only."""
    rec = setup.m = Recorder(setup.m)
    (tmp_path / "dev").mkdir()
    setup.make_devices(str(tmp_path), ["/dev/null", "/dev/zero"])
    m = rec._real
    for dev in ("/dev/null", "/dev/zero"):
        target = str(tmp_path) + dev
        bind, remount = [c for c in rec.calls if c[2] == target]
        assert bind == ("mount", dev, target, None, m.BIND, None, True)
        assert remount[4] & (m.REMOUNT | m.BIND | m.NOSUID | m.NOEXEC) == m.REMOUNT | m.BIND | m.NOSUID | m.NOEXEC
        assert not remount[4] & m.RDONLY


def test_user_namespaces_are_denied_where_proc_sys_is_writable_only(setup, tmp_path):
    """A read-only (here: missing) /proc/sys is no error: the kernels' seccomp filter denies them anyway."""
    setup.deny_user_namespaces(str(tmp_path))  # no proc/sys/user here
    assert not (tmp_path / "proc").exists()


def test_entering_the_new_root_pivots_and_detaches_the_old(setup, tmp_path, monkeypatch):
    """pivot_root(".", ".") in the new root, then the old root detached, then / as the working folder; a
    failing step stops with its name."""
    calls = []

    class Libc:
        def __init__(self, pivot, detach):
            self.results = {"syscall": pivot, "umount2": detach}

        def syscall(self, *args):
            calls.append(("syscall", *args))
            return self.results["syscall"]

        def umount2(self, *args):
            calls.append(("umount2", *args))
            return self.results["umount2"]

    monkeypatch.chdir(tmp_path)
    rec = setup.m = Recorder(setup.m)
    rec.libc = Libc(0, 0)
    setup.enter(str(tmp_path), 155)
    assert calls == [("syscall", 155, b".", b"."), ("umount2", b".", rec._real.MNT_DETACH)] and os.getcwd() == "/"
    for libc, step in ((Libc(-1, 0), "pivot_root"), (Libc(0, -1), "detach the old root")):
        rec.libc = libc
        with pytest.raises(RuntimeError, match=f"failed: {step}$"):
            setup.enter(str(tmp_path), 155)


def test_main_hands_the_template_its_socket_preload_and_folder(setup, tmp_path, monkeypatch):
    """The template is run as ``python -c <its text> <socket fd> <preload JSON> <fd of this folder>`` with the
    kernel's environment, after the file system is built and entered; the folder's descriptor is inherited."""
    cfg = {"newroot": str(tmp_path), "sys_pivot_root": 155, "python": "/usr/bin/python3", "template": "pass",
           "preload": ["numpy", "torch"], "env": {"HOME": "/tmp"}}
    (tmp_path / "setup.json").write_text(json.dumps(cfg))
    steps, exec_args = [], []
    monkeypatch.setattr(setup, "build", lambda c: steps.append(("build", c["newroot"])))
    monkeypatch.setattr(setup, "enter", lambda root, nr: steps.append(("enter", root, nr)))
    monkeypatch.setattr(setup.os, "execve", lambda *args: exec_args.extend(args))
    rec = setup.m = Recorder(setup.m)
    rec.libc = type("Libc", (), {"prctl": lambda *args: steps.append(("prctl", *args))})
    monkeypatch.setattr(sys, "argv", ["setup.py", str(tmp_path / "setup.json"), "9"])
    setup.main()
    python, argv, env = exec_args
    here = int(argv[5])
    try:
        assert os.path.samestat(os.fstat(here), os.stat(CHILD)) and os.get_inheritable(here)
    finally:
        os.close(here)
    assert python == "/usr/bin/python3" and env == {"HOME": "/tmp"}
    assert argv[:5] == ["/usr/bin/python3", "-c", "pass", "9", '["numpy", "torch"]']
    assert [s[0] for s in steps] == ["build", "enter", "prctl"] and steps[1] == ("enter", str(tmp_path), 155)


def test_a_failed_mount_stops_it_with_a_clear_message(setup, tmp_path):
    """Run as the grader runs it: a new root that does not exist fails the first mount (with or without
    privileges), which it names, with the setup's own exit status and nothing else started."""
    missing = tmp_path / "missing"
    cfg = tmp_path / "setup.json"
    cfg.write_text(json.dumps({"newroot": str(missing), "symlinks": [], "binds": [], "devices": [], "userns": True}))
    done = subprocess.run([sys.executable, "-I", "-S", str(CHILD / "setup.py"), str(cfg), "0"], cwd="/",
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == setup.m.SETUP_FAILED, done.stderr
    assert done.stderr.startswith(f"sandbox setup: mount autograder-root on {missing}: ")
    assert not missing.exists()
