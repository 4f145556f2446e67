"""A fork server: one pre-started, single-threaded process that forks container inits.

Re-executing ``python -m stackr.runtime.init`` for each container pays the
interpreter's start-up and imports every time. The engine instead starts one fork
server (``ForkServer.start()``) early; it imports the init code once and, per
request, forks the same helper that ``init.main`` is, so the marginal cost of a
container is a fork, not an interpreter. The server is never multi-threaded (it only
blocks in ``recvmsg`` and ``waitpid``), so forking it is safe (DESIGN.md §3).

Protocol, over a SOCK_SEQPACKET socketpair (one message per container, atomic, so
threads of the engine may send concurrently without a lock): the JSON init config
as data, and four fds as SCM_RIGHTS: the container's stdin, stdout, stderr and the
write end of the caller's report pipe (and, for ``tty: true``, a console socket).
The server exits when the engine's end closes.
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from stackr.runtime import init as container_init

_MAX_MESSAGE = 1 << 20
_MIN_FDS_PER_REQUEST = 4  # stdin, stdout, stderr, report pipe
_MAX_FDS_PER_REQUEST = 5  # and a console socket (tty: true)
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


class ForkServer:
    """The engine's handle on a running fork server."""

    def __init__(self, label: str) -> None:
        import threading

        self.label = label
        self._restart_lock = threading.Lock()
        self._socket, self._helper = self._spawn(label)

    @property
    def pid(self) -> int:
        pid: int = self._helper.pid
        return pid

    @classmethod
    def start(cls, label: str = "") -> ForkServer:
        """Start the server (subprocess: fork+exec in C, safe from a threaded caller).

        ``label`` goes on its command line (the engine puts its run dir there, so that
        tools and tests can tell whose server it is).
        """
        return cls(label)

    @staticmethod
    def _spawn(label: str) -> tuple[socket.socket, Any]:
        import subprocess

        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            helper = subprocess.Popen(
                [
                    sys.executable,
                    "-S",
                    "-m",
                    "stackr.runtime.forkserver",
                    str(child_end.fileno()),
                    label,
                ],
                pass_fds=(child_end.fileno(),),
                stdin=subprocess.DEVNULL,
                env={"PYTHONPATH": _PACKAGE_PARENT},
                cwd="/",
            )
        finally:
            child_end.close()
        return parent_end, helper

    def launch(self, config: dict[str, Any], fds: list[int]) -> None:
        """Send one request; a server that died is started again (once) and asked again."""
        message = [json.dumps(config).encode()]
        rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
        current = self._socket
        try:
            current.sendmsg(message, rights)
            return
        except (BrokenPipeError, ConnectionResetError, ConnectionRefusedError):
            pass
        with self._restart_lock:
            if self._socket is current:  # another thread may have restarted it already
                current.close()
                self._helper.wait()
                self._socket, self._helper = self._spawn(self.label)
            self._socket.sendmsg(message, rights)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the server; containers it made live on (they are not its children)."""
        self._socket.close()
        self._helper.wait(timeout)


class DirectFork:
    """Fork the init helper from the calling process itself: for single-threaded callers.

    ``stackr runtime`` (one container per process) uses it to skip a second
    interpreter start-up. Refuses to fork when the caller has other threads.
    """

    def launch(self, config: dict[str, Any], fds: list[int]) -> None:
        import threading

        if threading.active_count() != 1:
            raise RuntimeError("DirectFork used in a multi-threaded process")
        helper = os.fork()
        if helper == 0:
            kept = [os.dup(fd) for fd in fds]
            # A fork copies every fd of the caller, inheritable or not: the shim must not
            # hold, say, the caller's end of the report pipe (its reader would never see EOF).
            for name in os.listdir("/proc/self/fd"):
                if int(name) > 2 and int(name) not in kept:
                    with contextlib.suppress(OSError):
                        os.close(int(name))
            os._exit(_run_helper(config, kept))
        os.waitpid(helper, 0)  # the helper exits as soon as it has forked the shim


def serve(sock: socket.socket) -> int:
    """Serve until the engine's end of the socket closes."""
    while True:
        try:
            data, ancillary, _, _ = sock.recvmsg(
                _MAX_MESSAGE, socket.CMSG_SPACE(_MAX_FDS_PER_REQUEST * 4)
            )
        except InterruptedError:
            continue
        if not data:
            return 0
        fds = array.array("i")
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % 4])
        if not _MIN_FDS_PER_REQUEST <= len(fds) <= _MAX_FDS_PER_REQUEST:
            for fd in fds:
                os.close(fd)
            continue
        config = json.loads(data)
        helper = os.fork()
        if helper == 0:
            sock.close()
            os._exit(_run_helper(config, list(fds)))
        for fd in fds:
            os.close(fd)
        os.waitpid(helper, 0)  # the helper exits as soon as it has forked the shim


def _run_helper(config: dict[str, Any], fds: list[int]) -> int:
    stdin_fd, stdout_fd, stderr_fd, report_fd = fds[:4]
    if len(fds) > 4:
        config["console_fd"] = fds[4]
    os.chdir("/")  # the shim lives long: it must not keep the caller's cwd busy
    # The container's stdio become fds 0-2, as when the helper is started by exec.
    # dup first, so that an fd already numbered 0-2 is not closed before it is copied.
    copies = [os.dup(fd) for fd in (stdin_fd, stdout_fd, stderr_fd)]
    for target, copy in enumerate(copies):
        os.dup2(copy, target)
        os.close(copy)
    for fd in (stdin_fd, stdout_fd, stderr_fd):
        if fd > 2:
            os.close(fd)
    try:
        return container_init.fork_shim(Path(config["state_dir"]), config, report_fd)
    except BaseException as error:
        container_init._report(report_fd, {"error": f"fork server: {error}"})
        return 1


if __name__ == "__main__":
    sys.exit(serve(socket.socket(fileno=int(sys.argv[1]))))
