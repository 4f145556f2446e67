"""Running the engine: lock, socket (mode 0600), pid file, signals, clean shutdown.

Only one engine serves a ``STACKR_RUN``: it holds an exclusive ``flock`` on
``engine.lock`` for its whole life, so two CLIs that auto-start an engine at the same
moment end up with one engine (the loser exits, the clients find the winner's socket).
The socket is bound under a 0177 umask, so it is never reachable by others, not even
for an instant. The engine makes itself a child subreaper: container processes whose
runtime helper exits are re-parented to the engine, which reaps them and records
their exit status.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from stackr.errors import HostError, PreconditionError
from stackr.paths import run_root, state_root
from stackr.statefile import write_atomic

PR_SET_CHILD_SUBREAPER = 36
STOP_TIMEOUT_SECONDS = 30.0
SWITCH_INTERVAL_SECONDS = 0.0005


def socket_path() -> Path:
    return run_root() / "engine.sock"


def pid_path() -> Path:
    return run_root() / "engine.pid"


def lock_path() -> Path:
    return run_root() / "engine.lock"


def log_path() -> Path:
    return run_root() / "engine.log"


def set_child_subreaper() -> None:
    # stackr.syscalls, not ctypes.util.find_library: that imports subprocess, tempfile
    # and random into the engine for good (and runs ldconfig).
    from stackr import syscalls

    try:
        syscalls.prctl(PR_SET_CHILD_SUBREAPER, 1)
    except OSError as error:
        raise HostError("prctl(PR_SET_CHILD_SUBREAPER) for", "the engine",
                        error.errno) from None


def _acquire_lock() -> int:
    run_root().mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(lock_path(), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise PreconditionError(
            f"an engine already serves {run_root()} (pid {read_pid() or '?'})"
        ) from None
    return descriptor


def read_pid() -> int | None:
    try:
        return int(pid_path().read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (clock ticks since boot): a pid plus this is unique."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def notify_service_manager(state: str) -> None:
    """``sd_notify``: tell systemd (``Type=notify``) that the engine answers now."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        try:
            notify.connect(address)
            notify.sendall(state.encode())
        except OSError:
            pass  # not fatal: the engine serves either way


def _write_pid_file() -> None:
    write_atomic(pid_path(), f"{os.getpid()} {process_start_time(os.getpid())}\n".encode())


def serve(*, verbose: bool = False) -> int:
    """Run the engine in this process until SIGTERM/SIGINT or ``engine stop``."""
    from stackr.engine.app import build_router
    from stackr.engine.heap import release_free_memory
    from stackr.engine.server import EngineServer
    from stackr.engine.state import Engine
    from stackr.runtime import container as runtime
    from stackr.runtime.forkserver import ForkServer

    lock_descriptor = _acquire_lock()
    # The engine's threads mostly wait on syscalls and hand work to each other (a
    # request, a container's exit, its log pump); at Python's default 5 ms switch
    # interval each handoff can wait that long behind a busy thread. Measured: `down`
    # of 20 chained services 5-10 % faster at 0.5 ms.
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    state_root().mkdir(parents=True, exist_ok=True, mode=0o711)
    set_child_subreaper()
    # Containers are forked from one pre-started single-threaded helper: a fork per
    # container instead of an interpreter start (~35 ms instead of ~200 ms each).
    fork_server = ForkServer.start(str(run_root()))
    runtime.use_fork_server(fork_server)
    engine = Engine(verbose=verbose)
    path = socket_path()
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    old_umask = os.umask(0o177)
    try:
        server = EngineServer(str(path), engine, build_router())
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)

    def request_shutdown(signum: int, frame: FrameType | None) -> None:
        # serve_forever runs in this (main) thread: shut it down from another one.
        notify_service_manager("STOPPING=1")
        engine.stopping.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, request_shutdown)
    signal.signal(signal.SIGINT, request_shutdown)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        engine.start()
        _write_pid_file()
        # Start-up freed ~1.4 MiB inside malloc's heaps (module loading): give it back.
        release_free_memory()
        notify_service_manager(f"READY=1\nMAINPID={os.getpid()}")
        # One line for the service manager's journal (or engine.log when auto-started).
        print(f"stackr engine: serving on {path} (pid {os.getpid()})", file=sys.stderr,
              flush=True)
        server.serve_forever(poll_interval=0.5)
    finally:
        engine.stop()
        server.server_close()
        runtime.use_fork_server(None)
        fork_server.close()
        for leftover in (path, pid_path()):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        os.close(lock_descriptor)
    return 0


def _is_engine_process(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"stackr" in b" ".join(cmdline) and b"engine" in cmdline


def stop_engine(timeout: float = STOP_TIMEOUT_SECONDS) -> int | None:
    """SIGTERM the engine of this ``STACKR_RUN`` and wait until it is gone.

    Returns the pid that was stopped, or ``None`` when no engine was running. The pid
    file's start time must match the process, so a recycled pid is never signalled.
    """
    try:
        fields = pid_path().read_text().split()
        pid, start_time = int(fields[0]), int(fields[1])
    except (OSError, ValueError, IndexError):
        return None
    if process_start_time(pid) != start_time or not _is_engine_process(pid):
        return None
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    try:
        os.kill(pid, signal.SIGTERM)
        import select

        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(timeout * 1000):
            raise PreconditionError(f"the engine (pid {pid}) did not stop within {timeout:g} s")
    except ProcessLookupError:
        pass
    finally:
        os.close(pidfd)
    return pid
