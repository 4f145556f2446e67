"""Exec instances: a command run in a running container on request (``/exec``).

Created by ``POST /containers/{id}/exec``, run by ``POST /exec/{id}/start``, which
streams the output as JSON lines ``{"stream": "stdout", "data": ...}`` and ends with
``{"ExitCode": n}``; with an HTTP upgrade it is Docker's hijacked stream (stdin in,
output out, raw with a TTY); with ``Detach`` it runs in the background. A TTY gets
``ConsoleSize`` at start and ``/exec/{id}/resize`` later. Kept in memory only, as
Docker does.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from stackr.engine import nsexec
from stackr.engine.attach import FRAME_HEADER, is_terminal_size, resize_terminal
from stackr.engine.containers import ContainerManager
from stackr.engine.routing import bad_request, conflict, not_found

JsonObject = dict[str, Any]
EXEC_KEYS = {"Cmd", "Env", "User", "AttachStdout", "AttachStderr", "AttachStdin", "Tty",
             "Detach", "Privileged", "WorkingDir", "ConsoleSize"}


@dataclass
class ExecInstance:
    exec_id: str
    container_id: str
    args: list[str]
    env: list[str]
    user: str
    tty: bool = False
    console_size: tuple[int, int] | None = None  # rows, columns
    working_dir: str = ""  # empty: the container's
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    terminal: int | None = None  # the pty master while it runs (for resize)

    def resize(self, rows: int, columns: int) -> None:
        if self.terminal is not None:
            resize_terminal(self.terminal, rows, columns)

    def to_json(self) -> JsonObject:
        return {"ID": self.exec_id, "ContainerID": self.container_id, "Running": self.running,
                "ExitCode": self.exit_code, "Pid": self.pid,
                "ProcessConfig": {"entrypoint": self.args[0], "arguments": self.args[1:],
                                  "user": self.user, "tty": self.tty}}


def _read(descriptor: int) -> bytes:
    try:
        return os.read(descriptor, 65536)
    except OSError:  # EIO: a pty master once the last slave is closed
        return b""


class ExecManager:
    def __init__(self, containers: ContainerManager) -> None:
        self.containers = containers
        self._instances: dict[str, ExecInstance] = {}
        self._lock = threading.Lock()

    def create(self, ref: str, body: JsonObject) -> str:
        unknown = set(body) - EXEC_KEYS
        if unknown:
            raise bad_request(f"unknown field(s) in exec config: {', '.join(sorted(unknown))}")
        if not isinstance(body.get("Tty", False), bool):
            raise bad_request("exec: Tty must be a boolean")
        size = body.get("ConsoleSize")
        if size is not None and not is_terminal_size(size):
            raise bad_request("exec: ConsoleSize must be [rows, columns]")
        working_dir = body.get("WorkingDir") or ""
        if not isinstance(working_dir, str) or (working_dir and not working_dir.startswith("/")):
            raise bad_request("exec: WorkingDir must be an absolute path in the container")
        args = body.get("Cmd")
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            raise bad_request("exec: Cmd must be a non-empty list of strings")
        env = body.get("Env") or []
        if not isinstance(env, list) or not all(isinstance(e, str) and "=" in e for e in env):
            raise bad_request("exec: Env must be a list of KEY=value strings")
        supervised = self.containers.running(ref)
        config = supervised.record["Config"]
        instance = ExecInstance(
            secrets.token_hex(32), supervised.container_id, list(args),
            [*config.get("Env", []), *env], body.get("User") or config.get("User") or "",
            tty=bool(body.get("Tty")),
            console_size=(size[0], size[1]) if size else None,
            working_dir=working_dir,
        )
        with self._lock:
            self._instances[instance.exec_id] = instance
        return instance.exec_id

    def get(self, exec_id: str) -> ExecInstance:
        with self._lock:
            instance = self._instances.get(exec_id)
        if instance is None:
            raise not_found(f"no such exec instance: {exec_id}")
        return instance

    def _spawn(self, instance: ExecInstance, with_stdin: bool
               ) -> tuple[subprocess.Popen[bytes], int, int | None]:
        """Start the process: (process, output fd, stdin fd or None). With a TTY the pty
        master is both the output and the input."""
        with self._lock:
            if instance.running or instance.exit_code is not None:
                raise conflict(f"exec {instance.exec_id} has already been started")
            instance.running = True
        supervised = self.containers.running(instance.container_id)
        # A pty for Tty (its master reads like a pipe; EIO instead of EOF at the end).
        read_end, write_end = os.openpty() if instance.tty else os.pipe()
        stdin_read, stdin_write = os.pipe() if with_stdin and not instance.tty else (None, None)
        try:
            process = nsexec.spawn(
                instance.container_id, supervised.state["Pid"], instance.args, instance.env,
                instance.user, stdout=write_end, tty=instance.tty,
                stdin=stdin_read if stdin_read is not None else subprocess.DEVNULL,
                working_dir=instance.working_dir,
            )
        except (OSError, nsexec.ExecError) as error:
            for descriptor in (read_end, stdin_write):
                if descriptor is not None:
                    os.close(descriptor)
            instance.running = False
            instance.exit_code = 126
            raise conflict(f"exec: {error}") from None
        finally:
            os.close(write_end)
            if stdin_read is not None:
                os.close(stdin_read)
        instance.pid = process.pid
        if instance.tty:
            instance.terminal = read_end
            if instance.console_size:
                instance.resize(*instance.console_size)
        input_fd = read_end if instance.tty and with_stdin else stdin_write
        return process, read_end, input_fd

    def _finish(self, instance: ExecInstance, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.kill()
        instance.exit_code = process.wait()
        instance.running = False
        instance.terminal = None

    def start_detached(self, exec_id: str) -> None:
        """``Detach``: run in the background, output discarded (as Docker does)."""
        instance = self.get(exec_id)
        process, read_end, _ = self._spawn(instance, with_stdin=False)

        def drain() -> None:
            try:
                while _read(read_end):
                    pass
                self._finish(instance, process)
            finally:
                os.close(read_end)

        threading.Thread(target=drain, daemon=True, name=f"exec-{exec_id[:12]}").start()

    def start(self, exec_id: str) -> Iterator[JsonObject | None]:
        """Output as JSON lines ``{"stream", "data"}``, then ``{"ExitCode"}``."""
        instance = self.get(exec_id)
        process, read_end, _ = self._spawn(instance, with_stdin=False)

        def output() -> Iterator[JsonObject | None]:
            try:
                while data := _read(read_end):
                    text = data.decode(errors="replace")
                    entry: JsonObject = {"stream": "stdout", "data": text}
                    if text.encode() != data:
                        entry["data_base64"] = base64.b64encode(data).decode()
                    yield entry
                process.wait()
                self._finish(instance, process)
                yield {"ExitCode": instance.exit_code}
            finally:
                os.close(read_end)
                self._finish(instance, process)

        return output()

    def attach(self, exec_id: str) -> Callable[[socket.socket, BinaryIO], None]:
        """Docker's hijacked exec: after the 101, the socket carries stdin one way and
        the output the other (raw with a TTY; else Docker's 8-byte frame headers, all
        output as stdout since stderr is merged). The process is started now, so
        errors are still answered as HTTP errors."""
        instance = self.get(exec_id)
        process, read_end, input_fd = self._spawn(instance, with_stdin=True)

        def pump_input(reader: BinaryIO) -> None:
            try:
                while data := reader.read1(65536):  # type: ignore[attr-defined]
                    os.write(input_fd, data)  # type: ignore[arg-type]
            except OSError:
                pass
            finally:
                if not instance.tty and input_fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(input_fd)  # EOF for the process's stdin

        def session(connection: socket.socket, reader: BinaryIO) -> None:
            threading.Thread(target=pump_input, args=(reader,), daemon=True,
                             name=f"exec-in-{exec_id[:12]}").start()
            try:
                while data := _read(read_end):
                    if instance.tty:
                        connection.sendall(data)
                    else:
                        connection.sendall(FRAME_HEADER.pack(1, len(data)) + data)
                # The exit code is recorded before the client sees the end of output,
                # so that its inspect right after finds it.
                self._finish(instance, process)
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the client went away: the process is killed below
            finally:
                os.close(read_end)
                self._finish(instance, process)

        return session
