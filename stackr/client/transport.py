"""HTTP/1.1 connections to an engine: over its unix socket, or through ssh.

ssh works as Docker's ``ssh://`` does: ``ssh host stackr engine dial-stdio`` turns the
remote engine's socket into the ssh process's stdin/stdout, and one end of a local
socketpair is given to ssh, so ``http.client`` talks to it as to any socket.
"""

from __future__ import annotations

import http.client
import socket
import subprocess

from stackr.client.hosts import EngineHost, SshHost


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class SshConnection(http.client.HTTPConnection):
    def __init__(self, host: SshHost, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.ssh_host = host
        self.process: subprocess.Popen[bytes] | None = None

    def connect(self) -> None:
        local, remote = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.process = subprocess.Popen(
                self.ssh_host.ssh_command(), stdin=remote.fileno(), stdout=remote.fileno(),
                stderr=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            local.close()
            raise ConnectionRefusedError(
                f"ssh is not installed (needed for {self.ssh_host})"
            ) from None
        finally:
            remote.close()
        local.settimeout(self.timeout)
        self.sock = local

    def close(self) -> None:
        super().close()
        if self.process is not None:
            self.process.terminate()
            self.process.wait()
            self.process = None


def open_connection(host: EngineHost, timeout: float | None) -> http.client.HTTPConnection:
    if isinstance(host, SshHost):
        return SshConnection(host, timeout)
    return UnixConnection(host.socket_path, timeout)
