"""Capabilities: Docker's default set, cap_add/cap_drop, privileged; applied in init.

``effective_capability_names`` is pure (it decides); ``drop_bounding_set`` and
``set_capabilities`` only apply (through ``stackr.syscalls``). As in Docker, a
non-root user keeps the bounding set but gets no effective or permitted capabilities
(the kernel clears them at ``setuid``), and the inheritable set is empty.

``stackr.syscalls`` (ctypes: ~9 M instructions to load) is imported by the two
functions that apply, which run in the container's init only: the OCI command's
caller, which decides, does without it.
"""

from __future__ import annotations

from stackr.errors import UsageError
from stackr.runtime.spec import DEFAULT_CAPABILITIES, ContainerSpec

# Indexed by capability number (linux/capability.h).
_CAPABILITY_NAMES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
    "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
    "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)  # fmt: skip
CAPABILITY_NUMBERS: dict[str, int] = {name: n for n, name in enumerate(_CAPABILITY_NAMES)}


def last_capability() -> int:
    """The highest capability number this kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as cap_file:
            return int(cap_file.read())
    except OSError:
        return max(CAPABILITY_NUMBERS.values())


def normalise(name: str) -> str:
    upper = name.strip().upper()
    if upper == "ALL":
        return upper
    full = upper if upper.startswith("CAP_") else f"CAP_{upper}"
    if full not in CAPABILITY_NUMBERS:
        raise UsageError(f"unknown capability {name!r}")
    return full


def effective_capability_names(spec: ContainerSpec) -> frozenset[str]:
    """Docker's rule: default set, then cap_add (ALL = every one), then cap_drop."""
    if spec.privileged:
        return frozenset(CAPABILITY_NUMBERS)
    added = {normalise(name) for name in spec.cap_add}
    dropped = {normalise(name) for name in spec.cap_drop}
    names = set(CAPABILITY_NUMBERS) if "ALL" in added else set(DEFAULT_CAPABILITIES) | added
    if "ALL" in dropped:
        names = added - {"ALL"}
    names -= dropped
    names.discard("ALL")
    return frozenset(names)


def guarded_capability_names(spec: ContainerSpec, device_cgroup: bool) -> frozenset[str]:
    """The effective set, less CAP_MKNOD where no device cgroup guards it (cgroup v2,
    whose device control needs an eBPF program stackr does not load yet): there, a node
    made for the host's disk would give the container the raw disk. Kept when the
    stack file asks for it by name (cap_add), or for a privileged container."""
    names = effective_capability_names(spec)
    asked = {normalise(name) for name in spec.cap_add}
    if device_cgroup or spec.privileged or "CAP_MKNOD" in asked:
        return names
    return names - {"CAP_MKNOD"}


def capabilities_to_keep(spec: ContainerSpec, device_cgroup: bool) -> int:
    """The container's capabilities as a mask. "Every capability" (privileged, cap_add:
    ALL) is every one this process may still hold: where the host withholds one from
    the engine's bounding set (this project's VMs lack CAP_SYS_RESOURCE), asking the
    kernel for it fails the whole capset, and the container with it."""
    keep_mask = capability_mask(guarded_capability_names(spec, device_cgroup))
    if spec.privileged or "ALL" in {normalise(name) for name in spec.cap_add}:
        keep_mask &= bounding_set_mask()
    return keep_mask


def bounding_set_mask() -> int:
    from stackr import syscalls

    mask = 0
    for number in range(last_capability() + 1):
        if syscalls.prctl(syscalls.PR_CAPBSET_READ, number) == 1:
            mask |= 1 << number
    return mask


def capability_mask(names: frozenset[str]) -> int:
    mask = 0
    for name in names:
        mask |= 1 << CAPABILITY_NUMBERS[name]
    return mask


def drop_bounding_set(keep_mask: int) -> None:
    """Remove every capability not in ``keep_mask`` from the bounding set (irreversible)."""
    from stackr import syscalls

    for number in range(last_capability() + 1):
        if not keep_mask & (1 << number):
            syscalls.prctl(syscalls.PR_CAPBSET_DROP, number)
    syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_CLEAR_ALL)


def set_capabilities(keep_mask: int) -> None:
    """Effective and permitted = ``keep_mask`` (root) ; inheritable empty, as Docker."""
    from stackr import syscalls

    syscalls.capset(keep_mask, keep_mask, 0)
