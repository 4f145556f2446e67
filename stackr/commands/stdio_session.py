"""An attached exec or one-off container: the user's stdin to the process, its output
back, a TTY when on one (``stackr exec``, ``stackr run``).

With a TTY the local terminal is put in raw mode (restored on the way out, whatever
happens), the remote terminal gets the local size at start and on every SIGWINCH, and
the output is raw bytes. Without one, stdin is copied until EOF and the output comes in
Docker's 8-byte-header frames (stream 1 stdout, 2 stderr).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stackr.client.transport import Hijacked

FRAME_HEADER = struct.Struct(">BxxxL")


def terminal_size() -> tuple[int, int]:
    columns, rows = shutil.get_terminal_size()
    return rows, columns


@contextlib.contextmanager
def raw_terminal(descriptor: int) -> Iterator[None]:
    """The local terminal in raw mode: keys (Ctrl-C too) go to the remote process."""
    import termios
    import tty

    saved = termios.tcgetattr(descriptor)
    tty.setraw(descriptor)
    try:
        yield
    finally:
        termios.tcsetattr(descriptor, termios.TCSADRAIN, saved)


def wants_tty(no_tty: bool) -> bool:
    """A TTY unless refused, when stdin and stdout are terminals (as Compose decides)."""
    return not no_tty and sys.stdin.isatty() and sys.stdout.isatty()


def copy_stdio(session: Hijacked, tty: bool,
               resize: Callable[[int, int], None] | None = None) -> None:
    """Copy stdin to the session and its output to stdout/stderr until the output ends.
    With ``tty``: raw mode, and ``resize(rows, columns)`` on every SIGWINCH."""
    try:
        threading.Thread(target=_copy_input, args=(session,), daemon=True,
                         name="stdin").start()
        if tty:
            with _resizing(resize), raw_terminal(sys.stdin.fileno()):
                _copy_output(session, tty=True)
        else:
            _copy_output(session, tty=False)
    finally:
        session.close()


@contextlib.contextmanager
def _resizing(resize: Callable[[int, int], None] | None) -> Iterator[None]:
    if resize is None:
        yield
        return

    def on_change(_signum: int, _frame: object) -> None:
        with contextlib.suppress(Exception):
            resize(*terminal_size())

    previous = signal.signal(signal.SIGWINCH, on_change)
    try:
        yield
    finally:
        signal.signal(signal.SIGWINCH, previous)


def _copy_input(session: Hijacked) -> None:
    descriptor = sys.stdin.fileno()
    try:
        while data := os.read(descriptor, 65536):
            session.send(data)
        session.close_input()
    except OSError:
        pass  # the process ended and the engine closed the connection


def _copy_output(session: Hijacked, tty: bool) -> None:
    out = sys.stdout.buffer
    if tty:
        while data := session.recv():
            out.write(data)
            out.flush()
        return
    pending = b""
    streams = {1: out, 2: sys.stderr.buffer}
    while data := session.recv():
        pending += data
        while len(pending) >= FRAME_HEADER.size:
            stream, length = FRAME_HEADER.unpack_from(pending)
            if len(pending) < FRAME_HEADER.size + length:
                break
            target = streams.get(stream, out)
            target.write(pending[FRAME_HEADER.size:FRAME_HEADER.size + length])
            target.flush()
            pending = pending[FRAME_HEADER.size + length:]
