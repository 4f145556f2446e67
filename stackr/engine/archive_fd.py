"""An image archive passed as an open file descriptor instead of a request body.

A client on the engine's own machine can skip copying a 100 MB archive through the
socket: it sends ``POST /images/load`` with no body and ``Connection: Upgrade``,
``Upgrade: stackr-archive-fd``; the engine answers ``101``; the client sends one byte
carrying the open file in an ``SCM_RIGHTS`` message; the engine reads the archive from
that descriptor itself, then writes the ordinary HTTP answer (the one a request with the
archive as its body gets) and closes the connection.

The client waits for the 101 before it sends the descriptor: the server's buffered
reader must not swallow the byte the descriptor travels with (a read without room for
ancillary data would close the descriptor). The descriptor is the client's own open
file, so the engine reads exactly what the client could read, from where its offset is.
"""

from __future__ import annotations

import array
import contextlib
import os
import socket
import stat

ARCHIVE_FD_UPGRADE = "stackr-archive-fd"
RECEIVE_TIMEOUT_SECONDS = 30.0

_REASONS = {200: "OK", 400: "Bad Request", 412: "Precondition Failed",
            500: "Internal Server Error"}


class PassedFdError(Exception):
    """No usable descriptor came (none, several, not a readable regular file)."""


def receive_archive_fd(connection: socket.socket) -> int:
    """The one descriptor the client sends after the 101: a regular file open for
    reading (owned by the caller from now on)."""
    int_size = array.array("i").itemsize
    connection.settimeout(RECEIVE_TIMEOUT_SECONDS)
    try:
        # MSG_CMSG_CLOEXEC: the engine forks container processes from other threads;
        # the client's file must not leak into them
        data, ancillary, _flags, _address = connection.recvmsg(
            1, socket.CMSG_SPACE(4 * int_size), socket.MSG_CMSG_CLOEXEC
        )
    except OSError as error:
        raise PassedFdError(f"no file descriptor came ({error})") from error
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.extend(array.array("i", payload[: len(payload) - len(payload) % int_size]))
    if len(fds) != 1 or data != b"\0":
        for fd in fds:
            os.close(fd)
        raise PassedFdError(
            f"expected one file descriptor with one zero byte, got {len(fds)} with {data!r}"
        )
    fd = fds[0]
    try:
        _check_readable_file(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_readable_file(fd: int) -> None:
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        raise PassedFdError("the descriptor passed is not a regular file")
    import fcntl

    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    # O_PATH opens nothing for reading; a write-only descriptor must not become a read
    if flags & os.O_PATH or flags & os.O_ACCMODE not in (os.O_RDONLY, os.O_RDWR):
        raise PassedFdError("the descriptor passed is not open for reading")


def send_answer(connection: socket.socket, status: int, body: bytes) -> None:
    """The final HTTP/1.1 answer (JSON lines or a JSON error), then the end of the
    connection; a client already gone is no error of the engine's."""
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        "Content-Type: application/json\r\nApi-Version: 1.43\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode("latin-1")
    with contextlib.suppress(OSError):
        connection.sendall(head + body)
