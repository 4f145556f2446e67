"""``stackr engine dial-stdio``: stdin/stdout ⇄ the engine socket (the far end of ssh://).

Single-threaded: a ``selectors`` loop copies bytes both ways until either side closes.
"""

from __future__ import annotations

import os
import selectors
import socket
import sys

from stackr.errors import PreconditionError


def dial_stdio(socket_path: str | None) -> int:
    from stackr.engine.daemon import socket_path as default_socket_path

    path = socket_path or str(default_socket_path())
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as error:
        raise PreconditionError(f"no engine answers at {path}: {error.strerror}") from None
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    selector = selectors.DefaultSelector()
    selector.register(stdin, selectors.EVENT_READ, "in")
    selector.register(sock, selectors.EVENT_READ, "sock")
    open_sides = 2
    while open_sides:
        for key, _ in selector.select():
            if key.data == "in":
                data = os.read(stdin, 65536)
                if not data:
                    selector.unregister(stdin)
                    sock.shutdown(socket.SHUT_WR)
                    open_sides -= 1
                else:
                    sock.sendall(data)
            else:
                data = sock.recv(65536)
                if not data:
                    return 0
                os.write(stdout, data)
    return 0
