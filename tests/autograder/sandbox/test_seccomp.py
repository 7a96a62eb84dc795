"""The seccomp program's structure: its length, the architecture check first, the denied system calls by name,
and the same bytes as the filter kernels have always installed."""
import errno
import hashlib
import struct

import pytest

from autograder.sandbox import seccomp
from autograder.sandbox.seccomp import (AUDIT_ARCH, BPF_JEQ_K, BPF_JGE_K, BPF_LD_W_ABS, BPF_RET_K, CLONE_NEWUSER,
                                        DATA_ARCH, DATA_NR, DENIED, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SYSCALLS,
                                        X32_SYSCALL_BIT, _seccomp_program, syscall_number)

# sha256 of each program as built before the filter had named constants (the bytes must not change)
KNOWN = {"x86_64": (23, "dc8c52150322a101b1e763bbd86f9304f22ab3c396fee886bd2ea804ecebf0b2"),
         "aarch64": (21, "966e0923d382111f7c8acb55191e03e275483b6a85857e926fdc8dd453482de4")}


def decode(program: bytes) -> list[tuple[int, int, int, int]]:
    return [struct.unpack(seccomp.INSTRUCTION, program[i:i + seccomp.INSTRUCTION_BYTES])
            for i in range(0, len(program), seccomp.INSTRUCTION_BYTES)]


@pytest.mark.parametrize("machine", sorted(KNOWN))
def test_the_program_is_the_known_filter(machine):
    """Is each machine's program as long as it was, byte for byte the same?"""
    program = _seccomp_program(machine)
    count, digest = KNOWN[machine]
    assert len(program) == count * seccomp.INSTRUCTION_BYTES
    assert hashlib.sha256(program).hexdigest() == digest


@pytest.mark.parametrize("machine", sorted(SYSCALLS))
def test_the_architecture_is_checked_before_any_number(machine):
    """Does the filter first load the audit architecture and fail every call of another ABI with ENOSYS?"""
    prog = decode(_seccomp_program(machine))
    assert prog[0] == (BPF_LD_W_ABS, 0, 0, DATA_ARCH)
    assert prog[1] == (BPF_JEQ_K, 1, 0, AUDIT_ARCH[machine])
    assert prog[2] == (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.ENOSYS)
    assert prog[3] == (BPF_LD_W_ABS, 0, 0, DATA_NR)
    assert ((BPF_JGE_K, 0, 1, X32_SYSCALL_BIT) in prog) == (machine == "x86_64")
    assert prog[-1] == (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW)


@pytest.mark.parametrize("machine", sorted(SYSCALLS))
def test_each_denied_call_fails_with_eperm_and_clone3_with_enosys(machine):
    """Is each denied call, found by its number, followed by a return of EPERM; clone3 by ENOSYS; clone by a check
    of CLONE_NEWUSER in its flags?"""
    prog = decode(_seccomp_program(machine))
    checked = {ins[3]: prog[i + 1] for i, ins in enumerate(prog[4:], 4) if ins[0] == BPF_JEQ_K}
    names = {number: name for name, number in SYSCALLS[machine].items()}
    assert {names[n] for n in checked} == {*DENIED, "clone", "clone3"}
    for name in DENIED:
        assert checked[SYSCALLS[machine][name]] == (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM), name
    assert checked[SYSCALLS[machine]["clone3"]] == (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.ENOSYS)
    at = next(i for i, ins in enumerate(prog) if ins[0] == BPF_JEQ_K and ins[3] == SYSCALLS[machine]["clone"])
    assert prog[at + 2] == (seccomp.BPF_JSET_K, 0, 1, CLONE_NEWUSER)
    assert prog[at + 3] == (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM)


def test_an_unknown_machine_gets_no_program_and_known_numbers_are_named():
    """Is there no filter for a machine the sandbox does not know, and are the numbers the setup needs named?"""
    assert _seccomp_program("riscv64") == b""
    assert syscall_number("pivot_root", "x86_64") == 155 and syscall_number("capset", "aarch64") == 91
    assert set(SYSCALLS) == set(AUDIT_ARCH)
    for numbers in SYSCALLS.values():
        assert {"pivot_root", "capset", "clone", "clone3", *DENIED} <= set(numbers)
