"""Namespaces of the container's PID 1, in their fixed order (youki's namespaces.rs).

The shim has already made a new PID namespace for its children (``unshare(CLONE_NEWPID)``
only affects children); PID 1 then joins or creates the others for itself:

* net first: joining by path needs the host's mount namespace to see the netns file;
* cgroup after joining the container's cgroup, so the namespace's root is that cgroup;
* mount, uts: new, private to the container; ipc new, or the host's, or joined;
* pid (made by the shim for its child): new, or the host's, or joined.
"""

from __future__ import annotations

import _socket  # not socket: its enums cost the container's init ~4 ms of imports
import fcntl
import os
import struct

from stackr import syscalls

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def enter_network(mode: str, netns_path: str | None) -> int:
    """Join ``netns_path`` now; return the unshare flag for a new namespace (or 0)."""
    if mode == "join" and netns_path:
        join(netns_path, syscalls.CLONE_NEWNET)
        return 0
    if mode == "none":
        return syscalls.CLONE_NEWNET
    return 0  # host


def unshare_container_namespaces(network_flag: int, ipc_namespace: str = "",
                                 uts_namespace: str = "", cgroup_namespace: str = "") -> None:
    """A new mount namespace; IPC new, the host's, or joined by path; UTS and cgroup
    new or the host's."""
    ipc_flag = syscalls.CLONE_NEWIPC if ipc_namespace == "" else 0
    if ipc_namespace not in ("", "host"):
        join(ipc_namespace, syscalls.CLONE_NEWIPC)
    uts_flag = syscalls.CLONE_NEWUTS if uts_namespace == "" else 0
    cgroup_flag = syscalls.CLONE_NEWCGROUP if cgroup_namespace == "" else 0
    syscalls.unshare(syscalls.CLONE_NEWNS | uts_flag | ipc_flag | cgroup_flag | network_flag)


def enter_pid_namespace(pid_namespace: str) -> None:
    """For the next child (PID 1): a new PID namespace, the host's, or one joined."""
    if pid_namespace == "":
        syscalls.unshare(syscalls.CLONE_NEWPID)
    elif pid_namespace != "host":
        join(pid_namespace, syscalls.CLONE_NEWPID)


def join(path: str, flag: int) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        syscalls.setns(fd, flag)
    finally:
        os.close(fd)


def bring_loopback_up() -> None:
    """A new network namespace has ``lo`` down; Docker's ``none`` network has it up."""
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
    finally:
        sock.close()
