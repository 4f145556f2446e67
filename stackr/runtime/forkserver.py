"""A fork server: one pre-started, single-threaded process that forks container inits.

Re-executing ``python -m stackr.runtime.init`` for each container pays the
interpreter's start-up and imports every time. The engine instead starts one fork
server (``ForkServer.start()``) early; it imports the init code once and, per
request, forks a helper that builds the container's PID 1, so the marginal cost of a
container is a fork, not an interpreter. The server is never multi-threaded (it only
blocks in ``select``), so forking it is safe (DESIGN.md §3).

The server is also the reaper of every container it made (``_Server``): no shim
process per container, so a running container costs the host its own processes
and nothing else of stackr's.

Protocol, over a SOCK_SEQPACKET socketpair (one message per container, atomic, so
threads of the engine may send concurrently without a lock): the JSON init config
as data, and four fds as SCM_RIGHTS: the container's stdin, stdout, stderr and the
write end of the caller's report pipe (and, for ``tty: true``, a console socket).
When the engine's end closes, the server answers ``exit`` or ``linger`` (it still
watches containers) and leaves once its last container has exited.

Memory: the server is one of the engine's two processes, and its loop needs little;
it imports neither the init code (``stackr.runtime.init`` with the spec, cgroups,
rootfs, seccomp: ``dataclasses``, ``inspect``, ``typing``, ``pathlib``...) nor
``stackr.statefile``, and not even ``socket``, ``signal``, ``json`` or ``contextlib``:
it uses their C halves (``_socket``, ``_signal``, ``_json``'s scanner). Each helper
imports the init code after its fork, in its own short-lived process; the server
itself imports it on the first container exit it records (the exit record reads the
cgroup's OOM count, and must be written within a millisecond or two of the exit:
every stop and restart waits for it, so not by a child that would import first).
That keeps ~4.3 MiB off the server's resident memory until a container has exited;
from then on the server's own forks are helpers as fast as spares.

A helper that imports the init code itself makes a create ~40-80 ms slower. Bursts
(``up`` of a whole project) do not pay it: after each request the server forks
*spare* helpers (up to ``SPARES``) that import the init code at once, say they are ready
and wait for a request; a request that finds one is handed to the oldest (data and
fds, as SCM_RIGHTS). A spare left unused ``SPARE_IDLE_SECONDS`` after it was ready is sent
away (killed: it has done nothing yet): an idle engine keeps two processes, and the
first create after a pause pays the import.
"""

from __future__ import annotations

# The server's loop imports C modules only: not ``socket``, ``signal`` (their enums),
# ``json`` (``re``, ``enum``) nor ``contextlib`` (hence try/except/pass): ~1.2 MiB of the
# server's memory (see the module docstring).
# ruff: noqa: SIM105
import _json
import _signal  # type: ignore[import-not-found]  # no stub: signal's C half
import _socket
import array
import os
import select
import sys
import time

TYPE_CHECKING = False  # not ``typing``'s: the server process does without ``typing``
if TYPE_CHECKING:
    from typing import Any

_MAX_MESSAGE = 1 << 20
SPARE_IDLE_SECONDS = 0.5
SPARES = 2  # importing takes about as long as the engine's create+start
_MIN_FDS_PER_REQUEST = 4  # stdin, stdout, stderr, report pipe
_MAX_FDS_PER_REQUEST = 5  # and a console socket (tty: true)
# Not pathlib: the server process does without it (see the module's docstring).
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))


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
        """Start the server (posix_spawn: vfork+exec in C, safe from a threaded caller).

        ``label`` goes on its command line (the engine puts its run dir there, so that
        tools and tests can tell whose server it is).
        """
        return cls(label)

    @staticmethod
    def _spawn(label: str) -> tuple[_socket.socket, _ServerProcess]:
        """``posix_spawn`` (vfork+exec in glibc: safe from a threaded caller), not
        ``subprocess``: the engine would keep that module (~0.4 MiB) for this call only.

        The socket's end is the one fd passed: ``dup2`` onto itself clears its
        close-on-exec flag in the child only. ``-P``: the engine's cwd is not put on
        the server's ``sys.path``; the server moves to ``/`` itself.
        """
        parent_end, child_end = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        fd = child_end.fileno()
        try:
            pid = os.posix_spawn(
                sys.executable,
                [sys.executable, "-S", "-P", "-m", "stackr.runtime.forkserver", str(fd), label],
                {"PYTHONPATH": _PACKAGE_PARENT},
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, fd, fd),
                ],
            )
        finally:
            child_end.close()
        return parent_end, _ServerProcess(pid)

    def launch(self, config: dict[str, Any], fds: list[int]) -> None:
        """Send one request; a server that died is started again (once) and asked again."""
        import json

        message = [json.dumps(config).encode()]
        rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
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
        """Let the server go: at once when it watches no container, else when the last
        of them has exited (containers outlive the engine, and their exits are recorded).
        """
        answer = b""
        try:
            self._socket.shutdown(_socket.SHUT_WR)
            self._socket.settimeout(timeout)
            answer = self._socket.recv(16)
        except OSError:
            pass
        self._socket.close()
        if answer == b"linger":
            return
        try:
            self._helper.wait(timeout)
        except TimeoutError:
            pass


class _ServerProcess:
    """The fork server's process as its parent sees it (what ``subprocess.Popen`` gave)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        """Reap it; ``TimeoutError`` if it is still running after ``timeout`` seconds."""
        if self.returncode is not None:
            return self.returncode
        if timeout is not None:
            try:
                pidfd = os.pidfd_open(self.pid)  # a zombie still has its pidfd
            except ProcessLookupError:
                pidfd = -1
            if pidfd >= 0:
                try:
                    if not select.select([pidfd], [], [], timeout)[0]:
                        raise TimeoutError(f"fork server {self.pid} still runs")
                finally:
                    os.close(pidfd)
        try:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        except ChildProcessError:  # reaped elsewhere: as Popen, call it a success
            self.returncode = 0
        return self.returncode


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
                    try:
                        os.close(int(name))
                    except OSError:
                        pass
            os._exit(_run_helper(config, kept))
        os.waitpid(helper, 0)  # the helper exits as soon as it has forked the shim


class _Container:
    """A container whose PID 1 this server adopts: where to record its exit.

    A plain class, not a dataclass: ``dataclasses`` imports ``inspect`` (and ``ast``,
    ``dis``...), about 1.5 MiB of the server's memory.
    """

    __slots__ = ("cgroup", "exec_error", "state_dir", "sync_read")

    def __init__(self, state_dir: str, cgroup: dict[str, Any], sync_read: int | None) -> None:
        self.state_dir = state_dir
        self.cgroup = cgroup
        self.sync_read: int | None = sync_read  # PID 1's sync pipe: an exec error, or EOF
        self.exec_error: dict[str, Any] | None = None


class _Spare:
    """A helper forked ahead of a request (``_Server._fork_spare``)."""

    __slots__ = ("deadline", "pid", "sock")

    def __init__(self, pid: int, sock: _socket.socket) -> None:
        self.pid = pid
        self.sock = sock  # the server's end: "ready" comes on it, the request goes on it
        self.deadline: float | None = None  # sent away then; set once it is ready


class _Server:
    """The fork server's loop: requests from the engine, and the exits of containers.

    The server is a child subreaper. Per request it forks a helper that builds PID 1
    in a new pid namespace, records it and exits, so PID 1 is re-parented here: the
    server reaps every container it made and writes its ``exit.json``. One process
    watches all containers, where a shim per container would cost a process (and its
    memory) per container. It outlives the engine while any container does, so an
    engine restart loses no exit status; a new engine starts its own server, and this
    one leaves when its last container has exited.
    """

    def __init__(self, sock: _socket.socket) -> None:
        self.sock: _socket.socket | None = sock
        self.helpers: dict[int, _Container] = {}  # helper pid -> the container it builds
        self.containers: dict[int, _Container] = {}  # PID 1 -> its container
        self.orphans: dict[int, int] = {}  # exited before its helper was reaped: status
        # Helpers forked ahead, importing the init code, then waiting on their socket
        # for a request (oldest first); and the spares sent away (their exits are
        # nobody's).
        self.spares: list[_Spare] = []
        # Spares handed a request keep their socket open until they exit: closing it
        # with their "ready" unread would reset the connection before they read it.
        self.handed: dict[int, _socket.socket] = {}
        self.retired_spares: set[int] = set()
        self.wakeup_read, self.wakeup_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        _signal.set_wakeup_fd(self.wakeup_write)
        _signal.signal(_signal.SIGCHLD, lambda _signum, _frame: None)
        from stackr import syscalls  # ctypes: the server's, not the engine's

        syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)

    def run(self) -> int:
        # Spares sent away are waited for too: an orphan would be the engine's zombie.
        while self.sock is not None or self.helpers or self.containers or self.retired_spares:
            readable = [self.wakeup_read, *self._sync_fds()]
            if self.sock is not None:
                readable.append(self.sock.fileno())
            readable += [spare.sock.fileno() for spare in self.spares if spare.deadline is None]
            deadlines = [spare.deadline for spare in self.spares if spare.deadline is not None]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            try:
                ready, _, _ = select.select(readable, [], [], timeout)
            except InterruptedError:
                continue
            self._check_spares(ready)
            if self.wakeup_read in ready:
                try:
                    os.read(self.wakeup_read, 4096)
                except BlockingIOError:
                    pass
            self._reap()
            for container in list(self.containers.values()):
                if container.sync_read in ready:
                    self._read_sync(container)
            if self.sock is not None and self.sock.fileno() in ready:
                self._serve_request()
        return 0

    def _sync_fds(self) -> list[int]:
        return [c.sync_read for c in self.containers.values() if c.sync_read is not None]

    def _serve_request(self) -> None:
        assert self.sock is not None
        try:
            data, ancillary, _, _ = self.sock.recvmsg(
                _MAX_MESSAGE, _socket.CMSG_SPACE(_MAX_FDS_PER_REQUEST * 4)
            )
        except InterruptedError:
            return
        if not data:  # the engine closed its end (or died): say whether we linger
            try:
                self.sock.send(b"linger" if self.helpers or self.containers else b"exit")
            except OSError:
                pass
            self.sock.close()
            self.sock = None
            self._check_spares([])
            return
        fds = array.array("i")
        for level, kind, payload in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % 4])
        if not _MIN_FDS_PER_REQUEST <= len(fds) <= _MAX_FDS_PER_REQUEST:
            for fd in fds:
                os.close(fd)
            return
        config = _loads_json(data)
        sync_read, sync_write = os.pipe2(os.O_CLOEXEC)
        helper = self._hand_to_spare(data, [*fds, sync_read, sync_write])
        if helper is None:
            helper = os.fork()
            if helper == 0:
                self._leave_server()
                os._exit(_run_helper(config, list(fds), (sync_read, sync_write), os.getppid()))
        for fd in (*fds, sync_write):
            os.close(fd)
        self.helpers[helper] = _Container(config["state_dir"], config["cgroup"], sync_read)
        self._fork_spare()

    def _leave_server(self) -> None:
        """In a forked child: only this container's fds go on, not the server's, nor
        other containers', nor the spare's; and the server's signal handling goes."""
        _signal.set_wakeup_fd(-1)
        _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
        if self.sock is not None:
            self.sock.close()
        for spare in self.spares:
            spare.sock.close()
        for handed_sock in self.handed.values():
            handed_sock.close()
        for fd in (self.wakeup_read, self.wakeup_write, *self._sync_fds(),
                   *(c.sync_read for c in self.helpers.values() if c.sync_read)):
            os.close(fd)

    def _fork_spare(self) -> None:
        """Fork helpers for the next requests now, while the engine is busy with this
        one: ``SPARES`` of them, so each has the time of two requests to import.

        Not needed once the server has imported the init code itself (its first
        recorded exit): a plain fork is then as fast.
        """
        if self.sock is None or "stackr.runtime.init" in sys.modules:
            return
        while len(self.spares) < SPARES:
            ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
            pid = os.fork()
            if pid == 0:
                ours.close()
                self._leave_server()
                os._exit(_be_spare(theirs))
            theirs.close()
            self.spares.append(_Spare(pid, ours))

    def _check_spares(self, ready: list[int]) -> None:
        """Note the spares that said they are ready; send away those idle too long
        (and all of them once the engine has gone)."""
        now = time.monotonic()
        for spare in list(self.spares):
            if spare.deadline is None and spare.sock.fileno() in ready:
                try:
                    spare.sock.recv(16)  # "ready" (or EOF: it died, see _reap)
                except OSError:
                    pass
                spare.deadline = now + SPARE_IDLE_SECONDS
            if self.sock is None or (spare.deadline is not None and now >= spare.deadline):
                self._retire(spare)

    def _hand_to_spare(self, data: bytes, fds: list[int]) -> int | None:
        """Send the request to the oldest spare; its pid, or None when there is none (or
        it died: it never saw the request, which a fresh helper then serves)."""
        if not self.spares:
            return None
        spare = self.spares.pop(0)
        rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
        try:
            spare.sock.sendmsg([data], rights)
        except OSError:
            spare.sock.close()
            self.retired_spares.add(spare.pid)
            return None
        self.handed[spare.pid] = spare.sock
        return spare.pid

    def _retire(self, spare: _Spare) -> None:
        """Send a spare away. It has not been handed a request (it would no longer be a
        spare), so it has nothing to finish: SIGKILL, not EOF, which it would only see
        once its (low-priority) import is done, and the server waits for it."""
        self.spares.remove(spare)
        spare.sock.close()
        try:
            os.kill(spare.pid, _signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.retired_spares.add(spare.pid)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.helpers:
                handed_sock = self.handed.pop(pid, None)
                if handed_sock is not None:
                    handed_sock.close()
                self._adopt(self.helpers.pop(pid))
            elif pid in self.retired_spares:
                self.retired_spares.discard(pid)
            elif any(spare.pid == pid for spare in self.spares):
                # It died waiting (it cannot have started anything).
                for spare in [spare for spare in self.spares if spare.pid == pid]:
                    self._retire(spare)
                self.retired_spares.discard(pid)
            elif pid in self.containers:
                self._record(self.containers.pop(pid), status)
            else:
                self.orphans[pid] = status  # its helper's exit is still to be seen

    def _adopt(self, container: _Container) -> None:
        """The helper is done: PID 1 (recorded in state.json) is now ours to watch."""
        record = _read_record(os.path.join(container.state_dir, "state.json"))
        pid = record.get("pid")
        if not isinstance(pid, int) or record.get("reaper_pid") != os.getpid():
            _close(container)  # building it failed; the helper reported why
            return
        if pid in self.orphans:
            self._record(container, self.orphans.pop(pid))
        else:
            self.containers[pid] = container

    def _read_sync(self, container: _Container) -> None:
        assert container.sync_read is not None
        try:
            data = os.read(container.sync_read, 4096)
        except InterruptedError:
            return
        if data:
            try:
                container.exec_error = _loads_json(data.splitlines()[0])
            except ValueError:
                pass
        _close(container)

    def _record(self, container: _Container, status: int) -> None:
        if container.sync_read is not None:  # PID 1 is gone: what it wrote is all there
            self._read_sync(container)
        # The state dir may be gone already (a forced delete does not wait for us).
        from pathlib import Path

        from stackr.runtime import init as container_init  # once: at the first exit

        try:
            container_init.record_exit(
                Path(container.state_dir), container.cgroup, status, container.exec_error
            )
        except OSError:
            pass


def _read_record(path: str) -> dict[str, Any]:
    """A JSON object from a file, or ``{}`` when it is missing or unreadable (what
    ``statefile.read_json_object`` does, without its imports: ``pathlib``, the errors)."""
    try:
        with open(path, "rb") as record_file:
            value = _loads_json(record_file.read())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


class _JsonContext:
    """What ``json.JSONDecoder`` hands ``_json``'s scanner: standard JSON, no hooks."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float  # NaN, Infinity, -Infinity


_scan_json = _json.make_scanner(_JsonContext())  # type: ignore[arg-type]  # duck-typed


def _loads_json(data: bytes) -> Any:
    """``json.loads`` for the server's loop, through the C scanner json itself uses (the
    ``json`` package would import ``re`` and ``enum`` for its pure-Python fallbacks)."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    start = len(text) - len(text.lstrip())
    try:
        value, end = _scan_json(text, start)
    except StopIteration as stop:
        raise ValueError(f"not JSON at {stop.value}") from None
    if text[end:].strip():
        raise ValueError(f"extra data at {end}")
    return value


def _close(container: _Container) -> None:
    if container.sync_read is not None:
        os.close(container.sync_read)
        container.sync_read = None


def serve(sock: _socket.socket) -> int:
    """Serve until the engine's end of the socket closes and no container is left."""
    return _Server(sock).run()


def _be_spare(sock: _socket.socket) -> int:
    """A spare helper: import the init code, say so, then take one request (or EOF) and
    be its helper. The request's fds are the engine's four or five, then the sync pipe."""
    try:
        # Speculative work: the import yields the CPU to the helper building the current
        # container and to the engine. The priority is restored before anything the
        # container could inherit; raising it back needs root (CAP_SYS_NICE), which the
        # engine has: without it, the spare keeps its priority throughout.
        priority = os.getpriority(os.PRIO_PROCESS, 0)
        lowered = os.geteuid() == 0
        if lowered:
            os.setpriority(os.PRIO_PROCESS, 0, 19)
        from stackr.runtime import init  # noqa: F401  # what the spare is for

        if lowered:
            os.setpriority(os.PRIO_PROCESS, 0, priority)
        sock.send(b"ready")
        data, ancillary, _, _ = sock.recvmsg(
            _MAX_MESSAGE, _socket.CMSG_SPACE((_MAX_FDS_PER_REQUEST + 2) * 4)
        )
    except BaseException:
        return 1
    sock.close()
    fds = array.array("i")
    for level, kind, payload in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % 4])
    if not data:
        return 0  # sent away unused
    if not _MIN_FDS_PER_REQUEST + 2 <= len(fds) <= _MAX_FDS_PER_REQUEST + 2:
        return 1
    *request_fds, sync_read, sync_write = fds
    return _run_helper(_loads_json(data), request_fds, (sync_read, sync_write), os.getppid())


def _run_helper(
    config: dict[str, Any],
    fds: list[int],
    sync: tuple[int, int] | None = None,
    reaper_pid: int | None = None,
) -> int:
    from pathlib import Path

    # In the helper, after the fork: the server's own memory stays without the init code.
    from stackr.runtime import init as container_init

    report_fd = container_init.take_stdio(config, fds)
    try:
        if reaper_pid is None or sync is None:
            return container_init.fork_shim(Path(config["state_dir"]), config, report_fd)
        # Reaper mode: this helper starts PID 1 itself and leaves; the server adopts it.
        pid = container_init.start_pid1(
            Path(config["state_dir"]), config, report_fd, sync, reaper_pid
        )
        return 0 if pid is not None else 1
    except BaseException as error:
        container_init._report(report_fd, {"error": f"fork server: {error}"})
        return 1


if __name__ == "__main__":
    os.chdir("/")  # not the engine's cwd: helpers and containers inherit this one
    # posix_spawn passes every inheritable fd of the engine (subprocess closed them):
    # only stdio and our socket stay, or containers would inherit them.
    _socket_fd = int(sys.argv[1])
    os.closerange(3, _socket_fd)
    os.closerange(_socket_fd + 1, os.sysconf("SC_OPEN_MAX"))
    sys.exit(serve(_socket.socket(fileno=_socket_fd)))
