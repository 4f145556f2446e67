"""Clients attached to a container's stdio: ``POST /containers/{id}/attach`` (hijacked).

What ``docker attach`` and ``docker compose run`` use. The container's output reaches
an attached client from the log pump, after the log (``tee``), so attaching loses
nothing the log keeps and costs nothing while no one is attached. Input goes to the
container's terminal (``tty: true``) or to its stdin: a pipe the engine holds for a
one-off (``StdinOnce``: the client's end of input is the command's EOF), or the
``stdin_open`` FIFO of a service container. A client may attach before ``start``: its
input waits until the container has an input, its output starts with the first byte.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

FRAME_HEADER = struct.Struct(">BxxxL")  # Docker's stream frames without a TTY
STREAM_NUMBERS = {"stdout": 1, "stderr": 2}
TIOCSWINSZ = 0x5414
INPUT_WAIT_SECONDS = 30.0


def is_terminal_size(value: object) -> bool:
    """``[rows, columns]`` as the API gives it (``ConsoleSize``; ``h``/``w`` of resize)."""
    return isinstance(value, list | tuple) and len(value) == 2 and all(
        isinstance(number, int) and 0 <= number < 65536 for number in value
    )


def resize_terminal(descriptor: int, rows: int, columns: int) -> None:
    with contextlib.suppress(OSError):  # the terminal may have just gone
        fcntl.ioctl(descriptor, TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


@dataclass
class _Client:
    connection: socket.socket
    tty: bool
    done: threading.Event = field(default_factory=threading.Event)

    def send(self, stream: str, data: bytes) -> None:
        try:
            if self.tty:
                self.connection.sendall(data)
            else:
                header = FRAME_HEADER.pack(STREAM_NUMBERS.get(stream, 1), len(data))
                self.connection.sendall(header + data)
        except OSError:
            self.done.set()  # the client went away


@dataclass
class Attachments:
    """The clients attached to one container, and where their input goes this run.

    Two locks: output (the client list) never waits for input, which may block while
    the container does not read its stdin; a write to the input happens under the
    input lock, so the descriptor cannot be closed (and its number reused) meanwhile.
    """

    _clients: list[_Client] = field(default_factory=list)
    _clients_lock: threading.Lock = field(default_factory=threading.Lock)
    _input_lock: threading.Condition = field(default_factory=threading.Condition)
    _input: int | None = None  # a pty master, a pipe's write end or the stdin FIFO
    _input_owned: bool = False  # closed here at the run's end
    _input_eof_closes: bool = False  # and at an attached client's end of input
    _terminal: int | None = None  # the pty master, for resize

    # -- the container's side (start, the log pump, exit) ----------------------------

    def set_input(self, descriptor: int | None, *, owned: bool = False,
                  eof_closes: bool = False, terminal: int | None = None) -> None:
        """This run's input (closed here when ``owned``: at the run's end, and at a
        client's end of input when ``eof_closes``) and its terminal."""
        with self._input_lock:
            self._input, self._input_owned, self._terminal = descriptor, owned, terminal
            self._input_eof_closes = eof_closes
            self._input_lock.notify_all()

    def tee(self, stream: str, data: bytes) -> None:
        with self._clients_lock:
            clients = list(self._clients)
        for client in clients:
            client.send(stream, data)

    def run_ended(self) -> None:
        """Called by the log pump before it closes its descriptors: every byte of output
        is out, so attached clients are done and input goes nowhere."""
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.done.set()
        with self._input_lock:
            self._close_owned_input()
            self._input, self._terminal = None, None
            self._input_lock.notify_all()

    def resize(self, rows: int, columns: int) -> bool:
        with self._input_lock:
            if self._terminal is None:
                return False
            resize_terminal(self._terminal, rows, columns)
            return True

    # -- the client's side ------------------------------------------------------------

    def session(self, tty: bool, with_stdin: bool, is_alive: Callable[[], bool]
                ) -> Callable[[socket.socket, BinaryIO], None]:
        """The upgraded connection's handler: output until the run ends, input meanwhile.
        ``is_alive``: whether the container is created or running (else nothing will
        ever come, and the session ends)."""

        def handle(connection: socket.socket, reader: BinaryIO) -> None:
            client = _Client(connection, tty)
            with self._clients_lock:
                self._clients.append(client)
            if with_stdin:
                threading.Thread(target=self._copy_input, args=(reader, client), daemon=True,
                                 name="attach-in").start()
            while not client.done.wait(0.5):
                if not is_alive():
                    break
            with self._clients_lock, contextlib.suppress(ValueError):
                self._clients.remove(client)
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_WR)

        return handle

    def _copy_input(self, reader: BinaryIO, client: _Client) -> None:
        try:
            while data := reader.read1(65536):  # type: ignore[attr-defined]
                with self._input_lock:
                    if not self._input_lock.wait_for(
                        lambda: self._input is not None or client.done.is_set(),
                        INPUT_WAIT_SECONDS,
                    ) or self._input is None:
                        return
                    os.write(self._input, data)
        except OSError:
            return
        with self._input_lock:  # the client's end of input: a one-off's stdin reaches EOF
            if self._input_eof_closes:
                self._close_owned_input()
                self._input = None

    def _close_owned_input(self) -> None:
        if self._input is not None and self._input_owned:
            with contextlib.suppress(OSError):
                os.close(self._input)
            self._input_owned = False
