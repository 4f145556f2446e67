"""Namespaces of the container's PID 1, in their fixed order (youki's namespaces.rs).

The shim has already made a new PID namespace for its children (``unshare(CLONE_NEWPID)``
only affects children); PID 1 then joins or creates the others for itself:

* net first: joining by path needs the host's mount namespace to see the netns file;
* cgroup after joining the container's cgroup, so the namespace's root is that cgroup;
* mount, uts, ipc: new, private to the container.
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
        fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            syscalls.setns(fd, syscalls.CLONE_NEWNET)
        finally:
            os.close(fd)
        return 0
    if mode == "none":
        return syscalls.CLONE_NEWNET
    return 0  # host


def unshare_container_namespaces(network_flag: int) -> None:
    syscalls.unshare(
        syscalls.CLONE_NEWNS
        | syscalls.CLONE_NEWUTS
        | syscalls.CLONE_NEWIPC
        | syscalls.CLONE_NEWCGROUP
        | network_flag
    )


def bring_loopback_up() -> None:
    """A new network namespace has ``lo`` down; Docker's ``none`` network has it up."""
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
    finally:
        sock.close()
