"""Mount helpers of the sandbox's setup and template (each runs in its own interpreter; neither imports the
repository: this file is loaded by path)."""
import ctypes
import os
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
libc.unshare.argtypes = [ctypes.c_int]

# mount(2) flags (<linux/mount.h>)
RDONLY, NOSUID, NODEV, NOEXEC = 1, 2, 4, 8
REMOUNT, NOATIME, NODIRATIME, BIND = 32, 1024, 2048, 4096
REC, PRIVATE, RELATIME = 1 << 14, 1 << 18, 1 << 21
MNT_DETACH = 2  # umount2(2): detach now, free once unused
PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent dies
SETUP_FAILED = 70  # the exit status of a setup step that failed (EX_SOFTWARE)
# The flags of a mount that a remount inside a user namespace must keep (statvfs's ST_* equal MS_*).
LOCKED = RDONLY | NOSUID | NODEV | NOEXEC | NOATIME | NODIRATIME
PRIVATE_DIRS = ("/tmp", "/dev/shm")  # each kernel's own tmpfs


def fail(what):
    err = ctypes.get_errno()
    sys.stderr.write(f"sandbox setup: {what}: {os.strerror(err)}\n")
    sys.stderr.flush()
    os._exit(SETUP_FAILED)


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
    """The flags of the mount holding `path` that a remount inside a user namespace must keep."""
    f = os.statvfs(path).f_flag
    return (f & LOCKED) | (RELATIME if f & os.ST_RELATIME else 0)


def bind_ro(src, dst):
    mount(src, dst, None, BIND | REC)
    for point in mounts_under(dst):  # the bind and every mount below it: read-only, keeping locked flags
        flags = kept(point)
        mount(None, point, None, REMOUNT | BIND | RDONLY | NOSUID | NODEV | flags)


def private(path):
    """Whether `path` lies under the kernel's own tmpfs (/tmp, /dev/shm): placed after that tmpfs is mounted."""
    return any(path == d or path.startswith(d + "/") for d in PRIVATE_DIRS)


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
