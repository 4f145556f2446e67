"""Named network namespaces as bind-mounted files, made and used without ``fork()``.

The engine is a multi-threaded daemon, so forking it is out (a forked copy of a
threaded CPython can deadlock on any lock another thread held). A network namespace is
a *per-thread* attribute on Linux, which gives a fork-free way for everything:

* **create**: a dedicated, short-lived thread calls ``unshare(CLONE_NEWNET)`` (only that
  thread moves to the new netns), bind-mounts ``/proc/thread-self/ns/net`` onto the
  target file, brings ``lo`` up, and exits. The bind mount keeps the namespace alive
  without a process, the way ``ip netns add`` does it. The container runtime then joins
  it by path (``setns`` on the opened file) before exec.
* **use**: ``run_in_netns(path, work)`` runs ``work`` in a fresh thread that first
  ``setns()``-es into the namespace and then opens its own netlink socket there (a
  netlink socket stays in the netns it was created in; see ``netlink.RawNetlink``).
  pyroute2 0.9's own ``netns=`` argument (and the ``NetNS`` class on top of it) is
  avoided on purpose: it creates the socket in a forked helper process
  (``pyroute2.netns.create_socket`` → ``ChildProcess``), which is a fork of our threaded
  process and costs tens of milliseconds per attachment. A fresh thread per use, never
  a pool thread, so no thread is ever returned to the engine sitting in a foreign
  namespace.

The files live in ``run_root()/netns``. Where that directory sits on a *shared* mount,
it is first made a private bind mount of itself (as iproute2 does for ``/run/netns``),
so that the netns bind mounts neither propagate into other mount namespaces (where they
would keep namespaces alive after removal) nor come back from them.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from stackr import paths, syscalls
from stackr.errors import HostError
from stackr.network.netlink import NetnsNetlink, open_raw_netlink

T = TypeVar("T")

_dir_lock = threading.Lock()


def netns_dir() -> Path:
    return paths.run_root() / "netns"


def _mount_entry(path: Path) -> tuple[bool, bool]:
    """(is ``path`` a mount point, is the mount containing ``path`` shared)."""
    best = ""
    is_mount = False
    shared = False
    text = str(path)
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            target = fields[4].replace("\\040", " ")
            optional = fields[6 : fields.index("-")]
            if target == text:
                is_mount = True
            inside = text == target or text.startswith(target.rstrip("/") + "/")
            if inside and len(target) >= len(best):
                best = target
                shared = any(o.startswith("shared:") for o in optional)
    return is_mount, shared


def ensure_netns_dir() -> Path:
    directory = netns_dir()
    with _dir_lock:
        directory.mkdir(parents=True, exist_ok=True)
        is_mount, shared = _mount_entry(directory)
        if shared:
            try:
                if not is_mount:
                    syscalls.mount(str(directory), str(directory), None, syscalls.MS_BIND)
                syscalls.mount("none", str(directory), None, syscalls.MS_PRIVATE)
            except OSError as error:
                raise HostError.from_os_error(
                    "make private mount", str(directory), error
                ) from error
    return directory


def release_netns_dir() -> None:
    """Undo ``ensure_netns_dir``'s self bind mount when no netns file is left in it."""
    directory = netns_dir()
    with _dir_lock:
        if not directory.is_dir() or any(directory.iterdir()):
            return
        is_mount, _ = _mount_entry(directory)
        if is_mount:
            with contextlib.suppress(OSError):
                syscalls.umount2(str(directory), syscalls.MNT_DETACH)
        with contextlib.suppress(OSError):
            directory.rmdir()


def _run_in_thread(work: Callable[[], T], name: str) -> T:
    result: list[T] = []
    failure: list[BaseException] = []

    def body() -> None:
        try:
            result.append(work())
        except BaseException as error:  # handed to the caller's thread
            failure.append(error)

    thread = threading.Thread(target=body, name=name, daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def is_netns_mounted(path: Path) -> bool:
    return _mount_entry(path)[0]


def create_netns(path: Path) -> Path:
    """A new, empty network namespace bound to ``path``; an existing one is kept (idempotent)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and is_netns_mounted(path):
        return path
    path.touch(mode=0o444)

    def make() -> None:
        syscalls.unshare(syscalls.CLONE_NEWNET)
        source = f"/proc/self/task/{threading.get_native_id()}/ns/net"
        syscalls.mount(source, str(path), None, syscalls.MS_BIND)
        bring_loopback_up()

    try:
        _run_in_thread(make, "stackr-netns-create")
    except OSError as error:
        with contextlib.suppress(OSError):
            path.unlink()
        raise HostError.from_os_error("create network namespace", str(path), error) from error
    return path


SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def bring_loopback_up() -> None:
    """``lo`` up in the calling thread's netns, by ioctl: ~20 us where opening a netlink
    socket for one request costs ~3 ms, on the hot path of every container."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def remove_netns(path: Path) -> bool:
    """Unmount and delete a netns file; absent is success. Whether it was mounted.

    The namespace itself disappears with its last user: once no process is in it and no
    file binds it, the kernel destroys it and with it the container ends of its veths.
    """
    unmounted = True
    try:
        syscalls.umount2(str(path), syscalls.MNT_DETACH)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.ENOENT):  # not mounted / absent
            raise HostError.from_os_error("unmount network namespace", str(path), error) from error
        unmounted = False
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as error:
        raise HostError.from_os_error("remove network namespace file", str(path), error) from error
    return unmounted


def open_netns(path: Path) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as error:
        raise HostError.from_os_error("open network namespace", str(path), error) from error


def run_in_netns(path: Path, work: Callable[[NetnsNetlink], T]) -> T:
    """Run ``work`` with a netlink handle inside the netns at ``path``, in a fresh thread."""
    fd = open_netns(path)

    def inside() -> T:
        try:
            syscalls.setns(fd, syscalls.CLONE_NEWNET)
        except OSError as error:
            raise HostError.from_os_error("enter network namespace", str(path), error) from error
        with open_raw_netlink() as netlink:
            return work(netlink)

    try:
        return _run_in_thread(inside, "stackr-netns-work")
    finally:
        os.close(fd)
