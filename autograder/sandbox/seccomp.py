"""The seccomp filter every confined kernel installs, and the system-call numbers the sandbox needs.

The filter (classic BPF, run by the kernel on every system call of the submission's processes):
no keyrings (``add_key``, ``keyctl``, ``request_key``), no ``unshare`` or ``setns``, no ``clone``
with ``CLONE_NEWUSER``, no ``clone3`` (ENOSYS, so the C library falls back to ``clone``, whose flags
the filter can read), and no other system-call ABI (x32, i386): a call of another audit architecture
fails with ENOSYS before its number is looked at.
"""
from __future__ import annotations

import errno
import platform
import struct

# System-call numbers of the machines the sandbox knows (from the kernel's unistd tables).
SYSCALLS = {
    "x86_64": {"clone": 56, "capset": 126, "pivot_root": 155, "add_key": 248, "request_key": 249,
               "keyctl": 250, "unshare": 272, "setns": 308, "clone3": 435},
    "aarch64": {"capset": 91, "unshare": 97, "pivot_root": 41, "add_key": 217, "request_key": 218,
                "keyctl": 219, "clone": 220, "setns": 268, "clone3": 435},
}
# AUDIT_ARCH_* of <linux/audit.h>: the architecture word of struct seccomp_data.
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_SYSCALL_BIT = 0x40000000  # x86_64: the x32 ABI's system-call numbers have this bit set
CLONE_NEWUSER = 0x10000000

# Classic BPF opcodes (<linux/bpf_common.h>, <linux/filter.h>).
BPF_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS: load a 32-bit word of struct seccomp_data
BPF_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
BPF_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
BPF_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
BPF_RET_K = 0x06  # BPF_RET | BPF_K
# Offsets into struct seccomp_data {int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6];}.
DATA_NR, DATA_ARCH, DATA_ARG0 = 0, 4, 16
# Seccomp return values (<linux/seccomp.h>).
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
INSTRUCTION = "=HBBI"  # struct sock_filter {__u16 code; __u8 jt; __u8 jf; __u32 k;}
INSTRUCTION_BYTES = struct.calcsize(INSTRUCTION)
# Denied with EPERM, whatever their arguments.
DENIED = ("add_key", "request_key", "keyctl", "unshare", "setns")


def syscall_number(name: str, machine: str | None = None) -> int:
    """The number of system call `name` on `machine` (this one by default); KeyError where unknown."""
    return SYSCALLS[machine or platform.machine()][name]


def _fail(code: int) -> tuple[int, int, int, int]:
    return (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | code)


def _instructions(machine: str) -> list[tuple[int, int, int, int]]:
    numbers = SYSCALLS[machine]
    prog = [(BPF_LD_W_ABS, 0, 0, DATA_ARCH), (BPF_JEQ_K, 1, 0, AUDIT_ARCH[machine]), _fail(errno.ENOSYS),
            (BPF_LD_W_ABS, 0, 0, DATA_NR)]
    if machine == "x86_64":  # the x32 ABI's numbers (bit 30 set) are another way in
        prog += [(BPF_JGE_K, 0, 1, X32_SYSCALL_BIT), _fail(errno.ENOSYS)]
    for name in DENIED:
        prog += [(BPF_JEQ_K, 0, 1, numbers[name]), _fail(errno.EPERM)]
    prog += [(BPF_JEQ_K, 0, 1, numbers["clone3"]), _fail(errno.ENOSYS),
             # clone: its first argument holds the flags (the low word, on a little-endian machine)
             (BPF_JEQ_K, 0, 3, numbers["clone"]), (BPF_LD_W_ABS, 0, 0, DATA_ARG0),
             (BPF_JSET_K, 0, 1, CLONE_NEWUSER), _fail(errno.EPERM),
             (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW)]
    return prog


def _seccomp_program(machine: str | None = None) -> bytes:
    """A seccomp filter: no keyrings, no namespaces (unshare, setns, clone with CLONE_NEWUSER), native calls only.

    Denied calls fail with EPERM (clone3 with ENOSYS, so the C library falls back to clone, whose
    flags the filter can read). Empty on an architecture the grader does not know.
    """
    machine = machine or platform.machine()
    if machine not in SYSCALLS:
        return b""
    return b"".join(struct.pack(INSTRUCTION, *ins) for ins in _instructions(machine))
