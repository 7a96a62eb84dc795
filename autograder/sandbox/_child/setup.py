"""The template's first stage: PID 1 of fresh namespaces, as (namespace-)root, run by path as
``python -I -S setup.py <config.json> <socket fd>`` (nothing imported from the repository or the venv).

It builds the file system every kernel will see, from an allow-list, moves into it (``pivot_root``), and
becomes the template (``template_main.py``, whose text the config holds) with the kernel's interpreter and
environment. It hands the template this folder, open, so that the template loads ``mounts.py`` from it.
"""
import importlib.util
import json
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT_TMPFS = "size=4m,nr_inodes=4096,mode=0755"  # the new root: mount points and links only
TEMPLATE_TMP = "size=64m,nr_inodes=65536,mode=1777"  # the template's own /tmp (each kernel mounts its own over it)
TEMPLATE_SHM = "size=4m,nr_inodes=1024,mode=1777"  # and /dev/shm
STD_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
             ("stderr", "/proc/self/fd/2"))


def load(path, name):
    """The module in file `path`, loaded under `name` without entering sys.modules."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sys.dont_write_bytecode = True  # nothing written beside this file
m = load(os.path.join(HERE, "mounts.py"), "_sandbox_mounts")


def place(new_root, binds):
    for src, dst in binds:
        m.make_target(new_root + dst, os.path.isdir(src))
        m.bind_ro(src, new_root + dst)


def make_devices(new_root, devices):
    for dev in devices:
        m.make_target(new_root + dev, False)
        m.mount(dev, new_root + dev, None, m.BIND)
        m.mount(None, new_root + dev, None, m.REMOUNT | m.BIND | m.NOSUID | m.NOEXEC | (m.kept(new_root + dev)
                                                                                        & ~m.RDONLY))
    for name, target in STD_LINKS:
        os.symlink(target, f"{new_root}/dev/{name}")


def make_pseudo_filesystems(new_root):
    os.makedirs(new_root + "/proc", exist_ok=True)
    m.mount("proc", new_root + "/proc", "proc", m.NOSUID | m.NODEV | m.NOEXEC)
    os.makedirs(new_root + "/sys", exist_ok=True)
    m.mount("sysfs", new_root + "/sys", "sysfs", m.NOSUID | m.NODEV | m.NOEXEC | m.RDONLY, must=False)
    os.makedirs(new_root + "/dev/shm", exist_ok=True)
    os.makedirs(new_root + "/tmp", exist_ok=True)
    # The template's own /tmp and /dev/shm: every kernel gets fresh ones mounted over them.
    m.mount("autograder-tmp", new_root + "/tmp", "tmpfs", m.NOSUID | m.NODEV, TEMPLATE_TMP)
    m.mount("autograder-shm", new_root + "/dev/shm", "tmpfs", m.NOSUID | m.NODEV, TEMPLATE_SHM)


def deny_user_namespaces(new_root):
    """No nested user namespaces below this one (the counter is per user namespace)."""
    try:
        with open(new_root + "/proc/sys/user/max_user_namespaces", "w") as f:
            f.write("0")
    except OSError:  # a read-only /proc/sys: the kernels' seccomp filter denies them all the same
        pass


def build(cfg):
    """The kernels' file system under cfg["newroot"], read-only once built."""
    new_root = cfg["newroot"]
    m.mount("autograder-root", new_root, "tmpfs", m.NOSUID | m.NODEV, ROOT_TMPFS)
    for link, target in cfg["symlinks"]:
        os.makedirs(os.path.dirname(new_root + link), exist_ok=True)
        os.symlink(target, new_root + link)
    place(new_root, [b for b in cfg["binds"] if not m.private(b[1])])
    make_devices(new_root, cfg["devices"])
    make_pseudo_filesystems(new_root)
    # An interpreter or course that lives under /tmp (a checkout in /tmp/...) is bound onto the private /tmp.
    place(new_root, [b for b in cfg["binds"] if m.private(b[1])])
    if cfg["userns"]:
        deny_user_namespaces(new_root)
    m.mount(None, new_root, None, m.REMOUNT | m.BIND | m.RDONLY | m.NOSUID | m.NODEV)


def enter(new_root, sys_pivot_root):
    """Make `new_root` the root; the old root (the host's file system) is gone."""
    os.chdir(new_root)
    if m.libc.syscall(sys_pivot_root, b".", b".") != 0:
        m.fail("pivot_root")
    if m.libc.umount2(b".", m.MNT_DETACH) != 0:
        m.fail("detach the old root")
    os.chdir("/")


def main():
    cfg = json.load(open(sys.argv[1]))
    here = os.open(HERE, os.O_RDONLY | os.O_DIRECTORY)  # for the template: where mounts.py is
    os.set_inheritable(here, True)
    build(cfg)
    enter(cfg["newroot"], cfg["sys_pivot_root"])
    m.libc.prctl(m.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the template dies with unshare (and the grader)
    os.execve(cfg["python"], [cfg["python"], "-c", cfg["template"], sys.argv[2], json.dumps(cfg["preload"]),
                              str(here)], cfg["env"])


if __name__ == "__main__":
    main()
