"""The embedded default: start the local engine when its socket does not answer.

The engine is spawned detached (its own session, stdio to ``$STACKR_RUN/engine.log``),
through ``subprocess`` (exec, never a bare fork), with the same ``STACKR_ROOT`` and
``STACKR_RUN``. If two clients race, both spawn; the engine's lock lets one win and the
other exits, and both clients find the winner's socket.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from stackr.client.errors import EngineUnavailableError
from stackr.paths import run_root

START_TIMEOUT_SECONDS = 15.0
LOG_KEEP_BYTES = 10 * 1024 * 1024  # engine.log is moved to engine.log.1 beyond this


def ping_socket(socket_path: str) -> bool:
    """Whether an engine answers ``GET /_ping`` on ``socket_path`` (one round trip)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(2.0)
    try:
        sock.connect(socket_path)
        sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        return answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"OK")
    except OSError:
        return False
    finally:
        sock.close()


def _log_tail(path: str, size: int = 2000) -> str:
    try:
        with open(path, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - size))
            return log.read().decode(errors="replace").strip()
    except OSError:
        return ""


def start_engine(socket_path: str, timeout: float = START_TIMEOUT_SECONDS) -> None:
    """Spawn ``python -m stackr engine`` detached and wait until it answers."""
    directory = run_root()
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except PermissionError:
        raise EngineUnavailableError(
            f"cannot start the engine: {directory} is not writable (run as root, or set "
            "STACKR_HOST to an engine you can reach)"
        ) from None
    log_name = str(directory / "engine.log")
    try:
        if os.path.getsize(log_name) > LOG_KEEP_BYTES:
            os.replace(log_name, log_name + ".1")
    except FileNotFoundError:
        pass
    with open(log_name, "ab") as log, open(os.devnull, "rb") as devnull:
        process = subprocess.Popen(
            [sys.executable, "-m", "stackr", "engine"],
            stdin=devnull, stdout=log, stderr=log,
            start_new_session=True, close_fds=True,
        )
    deadline = time.monotonic() + timeout
    delay = 0.002
    while time.monotonic() < deadline:
        if ping_socket(socket_path):
            return
        exit_code = process.poll()
        if exit_code is not None and exit_code != 0 and not ping_socket(socket_path):
            # Lost a start race? Then another engine answers shortly; else it failed.
            time.sleep(0.2)
            if ping_socket(socket_path):
                return
            raise EngineUnavailableError(
                f"the engine failed to start (exit {exit_code}); its log {log_name} says:\n"
                f"{_log_tail(log_name)}"
            )
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    raise EngineUnavailableError(
        f"the engine did not answer on {socket_path} within {timeout:g} s; see {log_name}"
    )
