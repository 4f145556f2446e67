"""The container lifecycle: create, start, state, wait, kill, delete (runc's verbs).

Safe to call from a long-lived, multi-threaded process (the engine): nothing here
forks Python. ``create`` starts ``python -m stackr.runtime.init`` with ``subprocess``
(fork+exec in C); that single-threaded helper does all namespace and mount work. An
engine should call ``use_fork_server(ForkServer.start())`` once: the helper is then
forked from a pre-started single-threaded server, and a container costs a fork
instead of an interpreter start-up (``stackr.runtime.forkserver``).

Processes of one container::

    caller ──subprocess──► init helper ──fork──► shim (supervisor, setsid, host namespaces)
                             (exits at once)         │ unshare(CLONE_NEWPID); fork
                                                     ▼
                                           container PID 1: new mnt/uts/ipc/cgroup/net
                                           namespaces, rootfs, pivot_root, security; waits
                                           on exec.fifo until ``start``; then execve
                                           (or, with ``init: true``, forks the command and
                                           stays a reaping, signal-forwarding PID 1)

**How exit status reaches the caller.** The shim is the container's parent. When
PID 1 exits, the shim reaps it and writes ``exit.json`` (exit code, signal, OOM kill,
exec error, time) into the state dir, then exits. ``wait(container_id)`` blocks until
that record exists (a pidfd on the shim; no polling); ``state`` reads it. The shim
is orphaned at ``create``: it is re-parented to the nearest subreaper (the engine, if it
set PR_SET_CHILD_SUBREAPER) or to the host's init. ``wait`` reaps it when the caller is
its parent; an engine that reaps with ``waitpid(-1)`` loses nothing, because the
status is read from ``exit.json``, never from the shim's wait status.

With the engine's fork server there is no shim: the helper starts PID 1 and exits,
and the server, a child subreaper, adopts PID 1, reaps it and writes ``exit.json``
(``reaper_pid`` in state.json instead of ``shim_pid``). ``wait`` then waits on a
pidfd of PID 1 and for the record to appear.

**Logs and terminals.** ``ContainerStdio`` fds become the container's fds 0-2 as
they are (pipes, an O_APPEND log file, or a pty slave for ``tty: true``). Pipes end
when the reading engine dies; a file survives engine restarts.

**Re-adoption.** Everything lives in the state dir ``paths.run_root()/containers/<id>``
(``state.json`` with the container's and shim's pid and /proc start time, ``exit.json``,
``exec.fifo`` while created, ``config.json`` as OCI runtime-spec). Nothing is held in
memory: after an engine restart ``list_containers()``/``state()``/``wait()`` work as
before. Status is always re-derived from the kernel: a pid whose start time differs
from the record is a reused pid and the container counts as stopped.

**Restart.** ``create`` again with the same id once the container is stopped: the
writable layer (``rw_layer_dir``, under ``paths.state_root()``) is kept, so files
written by the previous run are still there; ``delete`` removes it.

**Also:** ``exec_process`` (docker exec, healthchecks), ``processes`` (top), ``stats``,
``pause``/``resume``, ``list_containers``.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import select
import signal as signals
import sys
import time
from pathlib import Path

from stackr import paths
from stackr.cgroups import open_manager, open_manager_from
from stackr.cgroups.base import CgroupStats
from stackr.errors import HostError, StateError
from stackr.record import frozen_record, record_field
from stackr.runtime import oci, process
from stackr.runtime.errors import (
    ContainerExistsError,
    ContainerNotFoundError,
    ContainerSetupError,
    ContainerStateError,
)
from stackr.runtime.spec import ContainerSpec, ContainerStdio, rw_layer_paths, validate_container_id
from stackr.statefile import read_json_object, write_json_atomic

TYPE_CHECKING = False  # mypy reads True: typing is not imported at run time
if TYPE_CHECKING:
    import subprocess
    from typing import Any

    from stackr.cgroups.base import CgroupManager


STATE_VERSION = 1
STATE_FILE = "state.json"
SPEC_FILE = "spec.json"  # the ContainerSpec, for exec_process
EXIT_FILE = "exit.json"
EXEC_FIFO = "exec.fifo"
ROOTFS_MOUNTPOINT = "rootfs"
CREATE_TIMEOUT = 30.0
SHIM_EXIT_TIMEOUT = 10.0
NO_STDIO = ContainerStdio()  # /dev/null in, out and err


class Status(enum.Enum):
    CREATING = "creating"  # the record exists, the init process has not reported yet
    CREATED = "created"  # PID 1 is built and waiting on exec.fifo
    RUNNING = "running"
    STOPPED = "stopped"

    def can_start(self) -> bool:
        return self is Status.CREATED

    def can_kill(self) -> bool:
        return self in (Status.CREATED, Status.RUNNING)

    def can_delete(self) -> bool:
        return self in (Status.CREATING, Status.STOPPED)


@frozen_record
class ContainerState:
    """What the kernel and the state dir say about a container, re-checked on each read."""

    container_id: str
    status: Status
    bundle: str
    pid: int | None = None  # host pid of the container's PID 1
    exit_code: int | None = None  # as a shell reports it: 128+N when killed by signal N
    signal: int | None = None  # the signal that killed PID 1
    oom_killed: bool = False
    error: str | None = None  # why the command could not be executed
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    annotations: dict[str, str] = record_field(default_factory=dict)


_containers_dir_override: Path | None = None


def containers_dir() -> Path:
    """Where state dirs live: ``run_root()/containers`` (or the OCI command's ``--root``)."""
    return _containers_dir_override or paths.run_root() / "containers"


def set_containers_dir(directory: Path | None) -> None:
    """Use ``directory`` for state dirs (``stackr runtime --root``); None: the default."""
    global _containers_dir_override
    _containers_dir_override = directory


def state_dir(container_id: str) -> Path:
    return containers_dir() / validate_container_id(container_id)


def rw_layer_dir(container_id: str) -> Path:
    """The container's own overlay upper+work dirs: persistent, kept across re-create."""
    return paths.state_root() / "containers" / validate_container_id(container_id)


_fork_server: process.Launcher | None = None


def use_fork_server(server: process.Launcher | None) -> None:
    """Make ``create`` fork container inits from ``server`` (None: re-exec each time).

    The engine calls this once at start-up with ``ForkServer.start()``: a container
    then costs a fork instead of an interpreter start (see ``stackr.runtime.forkserver``).
    A single-threaded program may pass ``forkserver.DirectFork()`` instead.
    """
    global _fork_server
    _fork_server = server


def create(
    spec: ContainerSpec,
    stdio: ContainerStdio = NO_STDIO,
    *,
    bundle_dir: Path | None = None,
    timeout: float = CREATE_TIMEOUT,
) -> ContainerState:
    """Build the container; its PID 1 waits for ``start`` before running user code.

    Writes ``config.json`` (OCI runtime-spec) into the state dir, unless a
    ``bundle_dir`` (whose config.json the spec was read from) is given; creates the
    cgroup with its limits, and runs the init helper, which builds the namespaces and
    root filesystem and reports back. Returns with status ``created``
    and the container's host pid. A stopped container with the same id is replaced
    (its writable layer is kept). On failure everything made so far is removed and a
    ``ContainerSetupError`` says what failed.
    """
    container_id = spec.container_id
    directory = state_dir(container_id)
    if directory.exists():
        current = state(container_id)
        if current.status is not Status.STOPPED:
            raise ContainerExistsError(container_id, current.status.value)
        _remove_run_state(container_id, directory, stopped=True)
    bundle = bundle_dir or directory
    keep_rw_layer = rw_layer_dir(container_id).exists()  # a re-create: the data stays
    try:
        directory.mkdir(parents=True)  # atomic: of two concurrent creates, one wins
    except FileExistsError:
        raise ContainerExistsError(container_id, Status.CREATING.value) from None
    # Recorded before anything is made, so delete can always find what to remove.
    write_json_atomic(
        directory / STATE_FILE,
        {
            "version": STATE_VERSION,
            "id": container_id,
            "bundle": str(bundle),
            "created_at": time.time(),
            "annotations": dict(spec.labels),
            "cgroup": open_manager(container_id).describe(),
        },
    )
    try:
        state_record = _build(spec, stdio, directory, bundle, timeout)
    except BaseException as error:
        try:
            _remove_run_state(container_id, directory)
            if not keep_rw_layer:
                _remove_tree(rw_layer_dir(container_id))
        except Exception as cleanup_error:  # report both, lose neither
            error.add_note(f"cleanup after the failed create also failed: {cleanup_error}")
        if isinstance(error, OSError):
            raise HostError.from_os_error("create container", container_id, error) from error
        raise
    return _derive_state(container_id, state_record)


def _build(
    spec: ContainerSpec, stdio: ContainerStdio, directory: Path, bundle: Path, timeout: float
) -> dict[str, Any]:
    container_id = spec.container_id
    upper_dir, work_dir = rw_layer_paths(rw_layer_dir(container_id))
    if spec.rootfs.layer_dirs:
        upper_dir.mkdir(parents=True, exist_ok=True)
        work_dir.mkdir(parents=True, exist_ok=True)
    if bundle == directory:  # a given bundle is the caller's (``stackr runtime``): kept as is
        write_json_atomic(bundle / "config.json", oci.config_from_spec(spec))
    (directory / ROOTFS_MOUNTPOINT).mkdir()
    os.mkfifo(directory / EXEC_FIFO, 0o600)

    cgroup = open_manager(container_id)
    cgroup.create()
    cgroup.apply(spec.resources, devices_allow_all=spec.privileged,
                 device_rules=(*(device.cgroup_rule for device in spec.devices),
                               *spec.device_cgroup_rules))

    spec_json = json.loads(spec.to_json())
    write_json_atomic(directory / SPEC_FILE, spec_json)
    init_config = {
        "spec": spec_json,
        "state_dir": str(directory),
        "rootfs_mountpoint": str(directory / ROOTFS_MOUNTPOINT),
        "upper_dir": str(upper_dir),
        "work_dir": str(work_dir),
        "cgroup": cgroup.describe(),
    }
    process.spawn_init(container_id, directory, init_config, stdio, timeout, _fork_server)
    record = read_json_object(directory / STATE_FILE)
    if record is None or "pid" not in record:
        raise ContainerSetupError(container_id, "the init process did not record the container")
    return record


def start(container_id: str, timeout: float = CREATE_TIMEOUT) -> ContainerState:
    """Let a created container run its command; returns once it is executing it.

    The container's PID 1 is blocked opening ``exec.fifo`` for writing; opening it
    here for reading releases it (runc's exec fifo), and the fifo's removal marks the
    container ``running``. The command was already looked up at create, so a missing
    executable fails ``create``, not here.
    """
    current = state(container_id)
    if not current.status.can_start() or current.pid is None:
        raise ContainerStateError(container_id, "start", current.status.value)
    fifo_path = state_dir(container_id) / EXEC_FIFO
    try:
        fifo_fd = os.open(fifo_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise HostError.from_os_error("open exec fifo of", container_id, error) from error
    try:
        released = _read_exec_fifo(fifo_fd, current.pid, timeout)
    finally:
        os.close(fifo_fd)
    if not released:
        raise ContainerSetupError(container_id, "the container exited before it was started")
    # Recorded before the fifo goes: state() reads started_at once the fifo is gone.
    _update_record(container_id, started_at=time.time())
    fifo_path.unlink(missing_ok=True)
    return state(container_id)


def _read_exec_fifo(fifo_fd: int, pid: int, timeout: float) -> bool:
    poller = select.poll()
    poller.register(fifo_fd, select.POLLIN)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if poller.poll(50):
            try:
                return os.read(fifo_fd, 1) == b"0"
            except BlockingIOError:
                continue
        if not process.is_alive(pid):
            return False
    return False


def state(container_id: str) -> ContainerState:
    """The container's status, re-derived from the kernel (pid + start time) each time."""
    directory = state_dir(container_id)
    if not directory.is_dir():
        raise ContainerNotFoundError(container_id)
    record = read_json_object(directory / STATE_FILE) or {"id": container_id}
    return _derive_state(container_id, record)


def _derive_state(container_id: str, record: dict[str, Any]) -> ContainerState:
    directory = state_dir(container_id)
    common: dict[str, Any] = {
        "container_id": container_id,
        "bundle": record.get("bundle", str(directory)),
        "created_at": record.get("created_at"),
        "started_at": record.get("started_at"),
        "annotations": record.get("annotations", {}),
    }
    pid = record.get("pid")
    if pid is None:
        # No pid recorded: still being built, or the build died half-way.
        shim_alive = process.is_same_process(record.get("shim_pid"), record.get("shim_start"))
        status = Status.CREATING if shim_alive or "shim_pid" not in record else Status.STOPPED
        return ContainerState(status=status, **common)
    if process.is_same_process(pid, record.get("pid_start")):
        if (directory / EXEC_FIFO).exists():
            return ContainerState(status=Status.CREATED, pid=pid, **common)
        return ContainerState(status=Status.RUNNING, pid=pid, **common)
    exit_record = read_json_object(directory / EXIT_FILE) or {}
    return ContainerState(
        status=Status.STOPPED,
        pid=pid,
        exit_code=exit_record.get("exit_code"),
        signal=exit_record.get("signal"),
        oom_killed=bool(exit_record.get("oom_killed", False)),
        error=exit_record.get("error"),
        finished_at=exit_record.get("finished_at"),
        **common,
    )


def wait(container_id: str, timeout: float | None = None) -> ContainerState:
    """Block until the container has stopped and its exit is recorded; return its state.

    Waits on a pidfd of the shim (which writes ``exit.json`` and then exits), so it
    works for containers created by an earlier engine process too. Reaps the shim
    when the caller is its parent or subreaper. Raises ``TimeoutError`` after
    ``timeout`` seconds.
    """
    directory = state_dir(container_id)
    record = read_json_object(directory / STATE_FILE) or {}
    shim_pid = record.get("shim_pid")
    if shim_pid is not None:
        process.wait_for_exit(shim_pid, record.get("shim_start"), timeout)
        process.reap_if_child(shim_pid)
    pid = record.get("pid")
    if pid is not None:
        # The shim is gone; if it was killed, PID 1 may outlive it (for a moment).
        process.wait_for_exit(pid, record.get("pid_start"), timeout)
        # Re-parented to us when its shim or reaper was killed: collect the zombie.
        process.reap_if_child(pid)
        _await_exit_record(directory, record)
    return state(container_id)


def _await_exit_record(directory: Path, record: dict[str, Any]) -> None:
    """After PID 1 has exited: wait until its reaper (the engine's fork server) has
    written ``exit.json``, which takes it a moment; not if the reaper itself is gone.
    """
    reaper_pid, reaper_start = record.get("reaper_pid"), record.get("reaper_start")
    if reaper_pid is None:
        return
    deadline = time.monotonic() + SHIM_EXIT_TIMEOUT
    polls = 0
    while not (directory / EXIT_FILE).exists() and time.monotonic() < deadline:
        if not process.is_same_process(reaper_pid, reaper_start):
            return
        # The reaper writes within a millisecond or two of the exit: poll finely at
        # first (every stop and every restart waits here), then back off.
        time.sleep(0.0005 if polls < 40 else 0.01)
        polls += 1


def kill(container_id: str, signal: int = signals.SIGTERM, *, all_processes: bool = False) -> None:
    """Send ``signal`` to the container's PID 1 (or, ``all_processes``, to every process).

    The signal goes through a pidfd opened after checking the start time, so a reused
    pid never receives it. As in Docker, PID 1 ignores signals it has no handler for,
    except SIGKILL; ``init: true`` puts a PID 1 in front that forwards them.
    """
    current = state(container_id)
    if not current.status.can_kill() or current.pid is None:
        raise ContainerStateError(container_id, "kill", current.status.value)
    record = read_json_object(state_dir(container_id) / STATE_FILE) or {}
    if all_processes:
        cgroup = open_manager_from(record["cgroup"])
        for pid in cgroup.pids():
            process.signal_pid(pid, None, signal)
        return
    if not process.signal_pid(current.pid, record.get("pid_start"), signal):
        raise ContainerStateError(container_id, "kill", Status.STOPPED.value)


def stop(container_id: str, signal: int = signals.SIGTERM, timeout: float = 10.0) -> ContainerState:
    """``docker stop``: ``signal`` (the spec's stop_signal), then SIGKILL after ``timeout``.

    Returns the stopped state. A container that is not running is left as it is.
    """
    current = state(container_id)
    if not current.status.can_kill():
        return current
    with contextlib.suppress(ContainerStateError):  # it may exit by itself meanwhile
        kill(container_id, signal)
    try:
        return wait(container_id, timeout)
    except TimeoutError:
        with contextlib.suppress(ContainerStateError):
            kill(container_id, signals.SIGKILL)
        return wait(container_id, SHIM_EXIT_TIMEOUT)


def delete(container_id: str, force: bool = False) -> None:
    """Remove the container: processes (with ``force``), cgroup, writable layer, state.

    Forgiving (runc's delete): a half-created container (no pid recorded, a dead
    init helper, a missing cgroup or record) is removed without complaint. A created
    or running container is refused unless ``force``, which kills every process of
    its cgroup first so that nothing escapes. An unknown id raises
    ``ContainerNotFoundError``.
    """
    directory = state_dir(container_id)
    if not directory.is_dir():
        if rw_layer_dir(container_id).exists():  # the run state went with a reboot
            _remove_tree(rw_layer_dir(container_id))
            return
        raise ContainerNotFoundError(container_id)
    current = state(container_id)
    if current.status in (Status.CREATED, Status.RUNNING) and not force:
        raise ContainerStateError(container_id, "delete", current.status.value)
    _remove_run_state(container_id, directory, stopped=current.status is Status.STOPPED)
    _remove_tree(rw_layer_dir(container_id))


def _remove_run_state(container_id: str, directory: Path, *, stopped: bool = False) -> None:
    """Kill what is left, remove the cgroup and the state dir (not the writable layer).

    ``stopped``: PID 1 has exited and its exit is recorded, so (in its own pid
    namespace) every process of it is gone: nothing to kill first, and the cgroup's
    removal kills whatever may still be in it (``pid: host``) when its rmdir says busy.
    """
    record = read_json_object(directory / STATE_FILE) or {}
    cgroup = (
        open_manager_from(record["cgroup"]) if "cgroup" in record else open_manager(container_id)
    )
    pid, pid_start = record.get("pid"), record.get("pid_start")
    if not stopped:
        if pid is not None:
            # Before the cgroup: a half-built PID 1 may not have joined it yet.
            process.signal_pid(pid, pid_start, signals.SIGKILL)
        cgroup.kill_all()
    shim_pid, shim_start = record.get("shim_pid"), record.get("shim_start")
    if shim_pid is not None:
        # The shim reaps PID 1, records its exit and leaves by itself; it is killed
        # only if it does not (then PID 1 is re-parented and reaped by init).
        try:
            process.wait_for_exit(shim_pid, shim_start, SHIM_EXIT_TIMEOUT)
        except TimeoutError:
            process.signal_pid(shim_pid, shim_start, signals.SIGKILL)
            process.wait_for_exit(shim_pid, shim_start, SHIM_EXIT_TIMEOUT)
        process.reap_if_child(shim_pid)
    if pid is not None:
        process.wait_for_exit(pid, pid_start, SHIM_EXIT_TIMEOUT)
        # The reaper's late exit.json must not land in a re-created state dir.
        _await_exit_record(directory, record)
    cgroup.remove()
    _remove_tree(directory)


def _remove_tree(path: Path) -> None:
    """``shutil.rmtree`` without shutil (whose archive modules cost every ``stackr
    runtime run`` ~8 M instructions to load), and as safe: the walk holds each directory
    open and never follows a symlink (a link to a directory is unlinked, not entered),
    so a container's files cannot redirect the removal outside its tree."""
    try:
        for _, dir_names, file_names, dir_fd in os.fwalk(path, topdown=False):
            for name in file_names:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=dir_fd)
            for name in dir_names:
                try:
                    os.rmdir(name, dir_fd=dir_fd)
                except NotADirectoryError:  # a symlink to a directory
                    os.unlink(name, dir_fd=dir_fd)
                except FileNotFoundError:
                    continue
        os.rmdir(path)
    except FileNotFoundError:
        return
    except OSError as error:
        raise HostError.from_os_error("remove", str(path), error) from error


def list_containers() -> list[ContainerState]:
    """Every container in the state dir, sorted by id (for re-adoption)."""
    base = containers_dir()
    if not base.is_dir():
        return []
    found = []
    for entry in sorted(base.iterdir()):
        try:
            found.append(state(entry.name))
        except (ContainerNotFoundError, StateError):
            continue
    return found


def processes(container_id: str) -> list[int]:
    """Host pids of every process of the container (``docker top``)."""
    return _cgroup_of(container_id).pids()


def pause(container_id: str) -> None:
    """Freeze every process of a running container (``docker pause``).

    A paused container still reports ``running`` (as runc's ``paused`` is not kept
    apart here); ``resume`` lets it go on.
    """
    current = state(container_id)
    if current.status is not Status.RUNNING:
        raise ContainerStateError(container_id, "pause", current.status.value)
    _cgroup_of(container_id).freeze()


def resume(container_id: str) -> None:
    _cgroup_of(container_id).thaw()


def _cgroup_of(container_id: str) -> CgroupManager:
    record = read_json_object(state_dir(container_id) / STATE_FILE)
    if record is None or "cgroup" not in record:
        raise ContainerNotFoundError(container_id)
    return open_manager_from(record["cgroup"])


def stats(container_id: str) -> CgroupStats:
    """Memory, CPU and pids of the container's cgroup."""
    record = read_json_object(state_dir(container_id) / STATE_FILE)
    if record is None:
        raise ContainerNotFoundError(container_id)
    return open_manager_from(record["cgroup"]).stats()


def _update_record(container_id: str, **changes: Any) -> None:
    path = state_dir(container_id) / STATE_FILE
    record = read_json_object(path) or {}
    record.update(changes)
    write_json_atomic(path, record)


__all__ = [
    "ContainerState",
    "ContainerStdio",
    "Status",
    "create",
    "delete",
    "kill",
    "list_containers",
    "pause",
    "processes",
    "resume",
    "start",
    "state",
    "stats",
    "stop",
    "wait",
]


def exec_process(
    container_id: str,
    args: list[str] | tuple[str, ...],
    *,
    env: tuple[str, ...] = (),
    cwd: str | None = None,
    user: str | None = None,
    tty: bool = False,
    stdin: int | None = None,
    stdout: int | None = None,
    stderr: int | None = None,
) -> subprocess.Popen[bytes]:
    """Run ``args`` inside a running container (``docker exec``; healthchecks).

    The process gets the container's namespaces, cgroup, capabilities, seccomp filter
    and user (``user`` and ``cwd`` override them; ``env`` adds to the container's).
    ``stdin``/``stdout``/``stderr`` are as for ``subprocess.Popen`` (an fd,
    ``subprocess.PIPE``, or None for /dev/null); with ``tty`` pass a pty slave as all
    three. Returns the Popen of a small supervisor that exits with the process's
    status (128+N when killed by signal N; 125 when it could not enter the container,
    126/127 when the command cannot be run), forwards signals to it, and takes it
    down if the supervisor is killed. The caller must ``wait()`` it.
    """
    import subprocess

    current = state(container_id)
    if current.status is not Status.RUNNING:
        raise ContainerStateError(container_id, "exec in", current.status.value)
    record = read_json_object(state_dir(container_id) / STATE_FILE) or {}
    spec_json = read_json_object(state_dir(container_id) / SPEC_FILE)
    if spec_json is None:
        raise StateError(f"container {container_id}: no {SPEC_FILE} in its state dir")
    config = {
        "pid": record["pid"],
        "pid_start": record["pid_start"],
        "cgroup": record["cgroup"],
        "spec": spec_json,
        "args": list(args),
        "env": list(env),
        "cwd": cwd,
        "user": user,
        "tty": tty,
    }
    config_read, config_write = os.pipe()
    devnull = subprocess.DEVNULL
    try:
        supervisor = subprocess.Popen(
            [
                sys.executable,
                "-S",
                "-m",
                "stackr.runtime.enter",
                str(config_read),
                str(state_dir(container_id)),
            ],
            stdin=stdin if stdin is not None else devnull,
            stdout=stdout if stdout is not None else devnull,
            stderr=stderr if stderr is not None else devnull,
            pass_fds=(config_read,),
            env={"PYTHONPATH": process.PACKAGE_PARENT},
            cwd="/",
        )
    except OSError as error:
        os.close(config_write)
        raise HostError.from_os_error("exec in", container_id, error) from error
    finally:
        os.close(config_read)
    with os.fdopen(config_write, "wb") as config_pipe:
        config_pipe.write(json.dumps(config).encode())
    return supervisor
