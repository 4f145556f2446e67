"""HTTP/1.1 connections to an engine: over its unix socket, or through ssh.

A small HTTP/1.1 client of its own (request line, headers, Content-Length or chunked
bodies, keep-alive) rather than ``http.client``, whose import (it pulls in the
``email`` package) costs a CLI call more than the whole round trip to the engine.

ssh works as Docker's ``ssh://`` does: ``ssh host stackr engine dial-stdio`` turns the
remote engine's socket into the ssh process's stdin/stdout, and one end of a local
socketpair is given to ssh, so the client talks to it as to any socket.
"""

from __future__ import annotations

import _socket  # not socket: its enums cost every CLI call ~5 ms of imports
import io

from stackr.client.hosts import SshHost

TYPE_CHECKING = False  # mypy reads True: typing is not loaded by the CLI's verbs
if TYPE_CHECKING:
    import subprocess
    from typing import IO, Any, BinaryIO

    from stackr.client.hosts import EngineHost

MAX_HEADER_LINE = 65536
# the engine's name for passing an archive as a file descriptor (stackr.engine.archive_fd)
ARCHIVE_FD_UPGRADE = "stackr-archive-fd"


class ProtocolError(ConnectionError):
    """The engine's answer is not HTTP/1.1 as expected."""


class Response:
    """A response whose body is read on demand (whole, or line by line for streams)."""

    def __init__(self, reader: BinaryIO, method: str) -> None:
        self._reader = reader
        status_line = reader.readline(MAX_HEADER_LINE)
        if not status_line:
            raise ConnectionResetError("the engine closed the connection")
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError(f"bad status line {status_line[:80]!r}")
        self.status = int(parts[1])
        self.headers: dict[str, str] = {}
        while True:
            line = reader.readline(MAX_HEADER_LINE)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        no_body = method == "HEAD" or self.status in (204, 304) or 100 <= self.status < 200
        self._remaining = 0 if no_body else int(self.headers.get("content-length") or 0)
        self._chunk_left = 0
        self._done = no_body or (not self.chunked and self._remaining == 0)
        self._pending = b""
        self.will_close = self.headers.get("connection", "").lower() == "close"

    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()

    def _read_some(self) -> bytes:
        """The next piece of the body; b"" at its end."""
        if self._done:
            return b""
        if not self.chunked:
            data = self._reader.read(min(self._remaining, 65536))
            if not data:
                raise ConnectionResetError("the engine closed the connection mid-body")
            self._remaining -= len(data)
            self._done = self._remaining == 0
            return data
        if self._chunk_left == 0:
            size_line = self._reader.readline(MAX_HEADER_LINE)
            try:
                self._chunk_left = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                raise ProtocolError(f"bad chunk size {size_line[:40]!r}") from None
            if self._chunk_left == 0:
                self._reader.readline(MAX_HEADER_LINE)  # the blank line after the last chunk
                self._done = True
                return b""
        data = self._reader.read(self._chunk_left)
        if not data:
            raise ConnectionResetError("the engine closed the connection mid-chunk")
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            self._reader.readline(MAX_HEADER_LINE)
        return data

    def read(self) -> bytes:
        pieces = [self._pending]
        self._pending = b""
        while data := self._read_some():
            pieces.append(data)
        return b"".join(pieces)

    def readline(self) -> bytes:
        while b"\n" not in self._pending:
            data = self._read_some()
            if not data:
                line, self._pending = self._pending, b""
                return line
            self._pending += data
        line, _, self._pending = self._pending.partition(b"\n")
        return line + b"\n"

    @property
    def complete(self) -> bool:
        return self._done and not self._pending


class Hijacked:
    """A connection the engine upgraded to a raw two-way stream (exec attach)."""

    def __init__(self, connection: Connection, reader: BinaryIO) -> None:
        self._connection = connection
        self._reader = reader

    def send(self, data: bytes) -> None:
        assert self._connection.sock is not None
        self._connection.sock.sendall(data)

    def close_input(self) -> None:
        """EOF on the process's stdin (the output keeps coming)."""
        assert self._connection.sock is not None
        self._connection.sock.shutdown(_socket.SHUT_WR)

    def recv(self) -> bytes:
        """Some output; b"" once the process has ended."""
        return self._reader.read1(65536)  # type: ignore[attr-defined,no-any-return]

    def fileno(self) -> int:
        assert self._connection.sock is not None
        return self._connection.sock.fileno()

    def close(self) -> None:
        self._connection.close()


class _SocketReader(io.RawIOBase):
    """What ``socket.makefile("rb")`` reads through, on ``_socket`` alone."""

    def __init__(self, sock: _socket.socket) -> None:
        super().__init__()
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._sock.recv_into(buffer)


class Connection:
    """One keep-alive HTTP/1.1 connection (opened on first use)."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self.sock: _socket.socket | None = None
        self._reader: BinaryIO | None = None

    def _open_socket(self) -> _socket.socket:
        raise NotImplementedError

    def failure_detail(self) -> str:
        """What the transport itself said about a connection that closed early."""
        return ""

    def open(self) -> None:
        """Connect now (else the first request does)."""
        if self.sock is None:
            self.sock = self._open_socket()
            self._reader = io.BufferedReader(_SocketReader(self.sock))

    def request(self, method: str, path: str, body: bytes | IO[bytes] | None = None,
                headers: dict[str, str] | None = None, length: int | None = None
                ) -> Response:
        self.open()
        assert self.sock is not None and self._reader is not None
        lines = [f"{method} {path} HTTP/1.1", "Host: localhost"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if isinstance(body, bytes):
            lines.append(f"Content-Length: {len(body)}")
        elif body is not None:
            lines.append(f"Content-Length: {length}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if isinstance(body, bytes):
            self.sock.sendall(head + body)
        else:
            self.sock.sendall(head)
            if body is not None:
                while data := body.read(1 << 20):
                    self.sock.sendall(data)
        return Response(self._reader, method)

    def request_passing_fd(self, method: str, path: str, fd: int,
                           headers: dict[str, str] | None = None) -> Response | None:
        """Send a request whose body is the open file ``fd`` itself, passed over the unix
        socket (SCM_RIGHTS) for the engine to read: the engine's answer, or None if
        it does not take a descriptor this way (it read nothing: send the body instead).
        The protocol is the engine's ``stackr.engine.archive_fd``."""
        upgrade = {**(headers or {}), "Connection": "Upgrade", "Upgrade": ARCHIVE_FD_UPGRADE}
        first = self.request(method, path, b"", upgrade)
        if first.status != 101:  # an engine without it answered the empty body: drop that
            first.read()
            return None
        assert self.sock is not None and self._reader is not None
        # only now: a byte sent with the head could be read (and the fd lost) with it
        import array

        self.sock.sendmsg([b"\0"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                     array.array("i", [fd]))])
        answer = Response(self._reader, method)
        if answer.status == 412:  # no usable descriptor arrived; nothing was read
            answer.read()
            return None
        return answer

    def hijack(self, method: str, path: str, body: bytes) -> tuple[Response, Hijacked]:
        """Send a request asking for an upgrade; the caller checks for status 101."""
        response = self.request(method, path, body, {
            "Content-Type": "application/json", "Connection": "Upgrade", "Upgrade": "tcp",
        })
        assert self._reader is not None
        return response, Hijacked(self, self._reader)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class UnixConnection(Connection):
    def __init__(self, socket_path: str, timeout: float | None) -> None:
        super().__init__(timeout)
        self.socket_path = socket_path

    def _open_socket(self) -> _socket.socket:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        return sock


class SshConnection(Connection):
    def __init__(self, host: SshHost, timeout: float | None) -> None:
        super().__init__(timeout)
        self.ssh_host = host
        self.process: subprocess.Popen[bytes] | None = None
        self._stderr: int | None = None  # ssh's messages, kept for an error (a memfd)

    def _open_socket(self) -> _socket.socket:
        import os
        import socket
        import subprocess

        local, remote = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._stderr = os.memfd_create("ssh-stderr", os.MFD_CLOEXEC)
        try:
            self.process = subprocess.Popen(
                self.ssh_host.ssh_command(), stdin=remote.fileno(), stdout=remote.fileno(),
                stderr=self._stderr,
            )
        except FileNotFoundError:
            local.close()
            raise ConnectionRefusedError(
                f"ssh is not installed (needed for {self.ssh_host})"
            ) from None
        finally:
            remote.close()
        local.settimeout(self.timeout)
        return local

    def failure_detail(self) -> str:
        """ssh's last message ("ssh: connect to host …: Connection refused")."""
        import contextlib
        import os
        import subprocess

        if self.process is None or self._stderr is None:
            return ""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(1.0)  # it writes its message, then exits
        size = os.fstat(self._stderr).st_size
        text = os.pread(self._stderr, 4096, max(0, size - 4096))
        lines = text.decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else ""

    def close(self) -> None:
        super().close()
        if self.process is not None:
            self.process.terminate()
            self.process.wait()
            self.process = None
        if self._stderr is not None:
            import os

            os.close(self._stderr)
            self._stderr = None


def open_connection(host: EngineHost, timeout: float | None) -> Connection:
    if isinstance(host, SshHost):
        return SshConnection(host, timeout)
    return UnixConnection(host.socket_path, timeout)
