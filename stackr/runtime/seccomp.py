"""A default seccomp filter: the deny list of Docker's default profile, as classic BPF.

Docker's profile is an allow list whose effect, for a container with the default
capabilities, is to refuse the system calls below with EPERM; a denied call becomes
allowed again when the container holds the capability Docker's profile ties it to
(``cap_add: [SYS_ADMIN]`` allows mount, unshare, setns, ...). ``clone`` with namespace
flags is refused the same way, and ``clone3`` answers ENOSYS so that libc falls back to
``clone`` (whose flags a filter can read). Other architectures and the x32 ABI are
refused outright. Only x86_64 is built here; elsewhere no filter is installed.
``security_opt: seccomp=unconfined`` and ``privileged`` skip the filter.
"""

from __future__ import annotations

import errno
import os
import struct

from stackr import syscalls
from stackr.runtime.security import CAPABILITY_NUMBERS

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000

_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_JSET_K = 0x45
_BPF_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000

_OFFSET_NR = 0
_OFFSET_ARCH = 4
_OFFSET_ARG0_LOW = 16

_NR_CLONE = 56
_NR_CLONE3 = 435
_NAMESPACE_CLONE_FLAGS = 0x7E020080  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME

# x86_64 number → the capability that lets Docker's profile allow it (None: never).
DENIED_SYSCALLS: dict[str, tuple[int, str | None]] = {
    "acct": (163, "CAP_SYS_PACCT"),
    "add_key": (248, None),
    "bpf": (321, "CAP_SYS_ADMIN"),
    "clock_adjtime": (305, "CAP_SYS_TIME"),
    "clock_settime": (227, "CAP_SYS_TIME"),
    "create_module": (174, "CAP_SYS_MODULE"),
    "delete_module": (176, "CAP_SYS_MODULE"),
    "finit_module": (313, "CAP_SYS_MODULE"),
    "get_kernel_syms": (177, None),
    "get_mempolicy": (239, "CAP_SYS_NICE"),
    "init_module": (175, "CAP_SYS_MODULE"),
    "ioperm": (173, "CAP_SYS_RAWIO"),
    "iopl": (172, "CAP_SYS_RAWIO"),
    "kcmp": (312, "CAP_SYS_PTRACE"),
    "kexec_file_load": (320, "CAP_SYS_BOOT"),
    "kexec_load": (246, "CAP_SYS_BOOT"),
    "keyctl": (250, None),
    "lookup_dcookie": (212, "CAP_SYS_ADMIN"),
    "mbind": (237, "CAP_SYS_NICE"),
    "mount": (165, "CAP_SYS_ADMIN"),
    "mount_setattr": (442, "CAP_SYS_ADMIN"),
    "move_mount": (429, "CAP_SYS_ADMIN"),
    "move_pages": (279, "CAP_SYS_NICE"),
    "name_to_handle_at": (303, "CAP_DAC_READ_SEARCH"),
    "nfsservctl": (180, None),
    "open_by_handle_at": (304, "CAP_DAC_READ_SEARCH"),
    "open_tree": (428, "CAP_SYS_ADMIN"),
    "fsconfig": (431, "CAP_SYS_ADMIN"),
    "fsmount": (432, "CAP_SYS_ADMIN"),
    "fsopen": (430, "CAP_SYS_ADMIN"),
    "fspick": (433, "CAP_SYS_ADMIN"),
    "perf_event_open": (298, "CAP_PERFMON"),
    "pivot_root": (155, "CAP_SYS_ADMIN"),
    "process_vm_readv": (310, "CAP_SYS_PTRACE"),
    "process_vm_writev": (311, "CAP_SYS_PTRACE"),
    "query_module": (178, None),
    "quotactl": (179, "CAP_SYS_ADMIN"),
    "reboot": (169, "CAP_SYS_BOOT"),
    "request_key": (249, None),
    "set_mempolicy": (238, "CAP_SYS_NICE"),
    "setns": (308, "CAP_SYS_ADMIN"),
    "settimeofday": (164, "CAP_SYS_TIME"),
    "swapoff": (168, "CAP_SYS_ADMIN"),
    "swapon": (167, "CAP_SYS_ADMIN"),
    "syslog": (103, "CAP_SYSLOG"),
    "sysfs": (139, None),
    "_sysctl": (156, None),
    "umount2": (166, "CAP_SYS_ADMIN"),
    "unshare": (272, "CAP_SYS_ADMIN"),
    "uselib": (134, None),
    "userfaultfd": (323, None),
    "ustat": (136, None),
    "vhangup": (153, "CAP_SYS_TTY_CONFIG"),
}


def _statement(code: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, 0, 0, k)


def _jump(code: int, k: int, jump_true: int, jump_false: int) -> bytes:
    return struct.pack("=HBBI", code, jump_true, jump_false, k)


def _has(keep_mask: int, capability: str | None) -> bool:
    return capability is not None and bool(keep_mask & (1 << CAPABILITY_NUMBERS[capability]))


def build_default_filter(keep_mask: int) -> bytes:
    """The BPF program for a container holding the capabilities in ``keep_mask``."""
    deny = _RET_ERRNO | errno.EPERM
    program = [
        _statement(_BPF_LD_W_ABS, _OFFSET_ARCH),
        _jump(_BPF_JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        _statement(_BPF_RET_K, _RET_KILL_PROCESS),
        _statement(_BPF_LD_W_ABS, _OFFSET_NR),
        _jump(_BPF_JGE_K, X32_SYSCALL_BIT, 0, 1),
        _statement(_BPF_RET_K, deny),
    ]
    for number, capability in sorted(DENIED_SYSCALLS.values()):
        if not _has(keep_mask, capability):
            program += [_jump(_BPF_JEQ_K, number, 0, 1), _statement(_BPF_RET_K, deny)]
    if not _has(keep_mask, "CAP_SYS_ADMIN"):
        program += [
            _jump(_BPF_JEQ_K, _NR_CLONE3, 0, 1),
            _statement(_BPF_RET_K, _RET_ERRNO | errno.ENOSYS),
            _jump(_BPF_JEQ_K, _NR_CLONE, 0, 3),
            _statement(_BPF_LD_W_ABS, _OFFSET_ARG0_LOW),
            _jump(_BPF_JSET_K, _NAMESPACE_CLONE_FLAGS, 0, 1),
            _statement(_BPF_RET_K, deny),
        ]
    program.append(_statement(_BPF_RET_K, _RET_ALLOW))
    return b"".join(program)


def install_default_filter(keep_mask: int) -> bool:
    """Install the filter on this thread (inherited by execve); False if not x86_64."""
    if os.uname().machine != "x86_64":
        return False
    syscalls.seccomp_set_filter(build_default_filter(keep_mask))
    return True
