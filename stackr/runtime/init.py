"""The re-executed helper that builds a container: ``python -m stackr.runtime.init``.

Started by ``stackr.runtime.process.spawn_init`` as a fresh, single-threaded process
(so forking here is safe), with ``argv = [state_dir, config_fd, report_fd]`` and the
container's stdio as fds 0-2. Three roles, one after the other:

* **helper**: reads the config, forks the shim, exits (so ``create`` returns while the
  container lives on; the shim is orphaned to the caller's subreaper or to init);
* **shim**: new session, ``unshare(CLONE_NEWPID)``, forks PID 1, records the pids in
  ``state.json``, reports to the caller, then waits for PID 1 and writes ``exit.json``;
* **PID 1**: builds the container (steps in ``build_container``), waits on the exec
  fifo, then ``execve`` the command - or, with ``init: true``, stays as a tiny reaping,
  signal-forwarding init. That init is this Python process itself, already loaded in
  memory: it needs nothing from the image. For that reason every module it uses is
  imported here, at the top, before pivot_root makes the host's files unreachable.
"""

from __future__ import annotations

import _socket  # not socket: its enums cost every container ~4 ms of imports
import contextlib
import errno
import fcntl
import json
import os
import resource
import signal
import struct
import sys
import time
from pathlib import Path

from stackr import naming, syscalls
from stackr.cgroups import open_manager_from, v1, v2
from stackr.runtime import namespaces, rootfs, seccomp, security, users
from stackr.runtime.process import start_time
from stackr.runtime.spec import ContainerSpec, spec_from_dict
from stackr.statefile import write_json_atomic

TYPE_CHECKING = False  # mypy reads True: typing is not imported at run time
if TYPE_CHECKING:
    from typing import Any, NoReturn

_RLIMITS = {
    "core": resource.RLIMIT_CORE,
    "cpu": resource.RLIMIT_CPU,
    "data": resource.RLIMIT_DATA,
    "fsize": resource.RLIMIT_FSIZE,
    "locks": 10,  # RLIMIT_LOCKS: not exported by the resource module
    "memlock": resource.RLIMIT_MEMLOCK,
    "msgqueue": resource.RLIMIT_MSGQUEUE,
    "nice": resource.RLIMIT_NICE,
    "nofile": resource.RLIMIT_NOFILE,
    "nproc": resource.RLIMIT_NPROC,
    "rss": resource.RLIMIT_RSS,
    "rtprio": resource.RLIMIT_RTPRIO,
    "sigpending": resource.RLIMIT_SIGPENDING,
    "stack": resource.RLIMIT_STACK,
    "as": resource.RLIMIT_AS,
}
# Sysctls a container may set: those the kernel namespaces (Docker's list).
_NAMESPACED_SYSCTLS = (
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
)
_NAMESPACED_SYSCTL_PREFIXES = ("fs.mqueue.", "net.")
_PRELOADED = (v1, v2)  # open_manager_from imports them lazily: not in every forked init
_UNFORWARDABLE = {signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD}
TIOCSCTTY = 0x540E
TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431


class SetupError(Exception):
    """A step of building the container failed; the message is shown to the user."""


def main(argv: list[str]) -> int:
    state_dir = Path(argv[0])
    config_fd, report_fd = int(argv[1]), int(argv[2])
    with os.fdopen(config_fd, "rb") as config_pipe:
        config = json.loads(config_pipe.read())
    return fork_shim(state_dir, config, report_fd)


def take_stdio(config: dict[str, Any], fds: list[int]) -> int:
    """A forked helper's start (fork server, prefork): the request's fds (stdin,
    stdout, stderr, report pipe[, console socket]) become the container's fds 0-2 as
    when the helper is started by exec; returns the report pipe's fd."""
    stdin_fd, stdout_fd, stderr_fd, report_fd = fds[:4]
    if len(fds) > 4:
        config["console_fd"] = fds[4]
    os.chdir("/")  # the helper's children live long: they must not keep a cwd busy
    # dup first, so that an fd already numbered 0-2 is not closed before it is copied.
    copies = [os.dup(fd) for fd in (stdin_fd, stdout_fd, stderr_fd)]
    for target, copy in enumerate(copies):
        os.dup2(copy, target)
        os.close(copy)
    for fd in (stdin_fd, stdout_fd, stderr_fd):
        if fd > 2:
            os.close(fd)
    return report_fd


def fork_shim(state_dir: Path, config: dict[str, Any], report_fd: int) -> int:
    """Fork the shim and return 0 in the parent (used by ``main`` and the fork server)."""
    if os.fork() != 0:
        os.close(report_fd)
        return 0  # the helper's work is done: the caller's create() stops waiting on us
    try:
        code = run_shim(state_dir, config, report_fd)
    except BaseException as error:  # the shim must never print a traceback into the logs
        _report(report_fd, {"error": f"shim failed: {error}"})
        code = 1
    os._exit(code)


def _report(fd: int, message: dict[str, Any]) -> None:
    try:
        os.write(fd, json.dumps(message).encode())
        os.close(fd)
    except OSError:
        pass


def run_shim(state_dir: Path, config: dict[str, Any], report_fd: int) -> int:
    """The per-container shim: start PID 1, then wait for it and record its exit."""
    sync_read, sync_write = os.pipe2(os.O_CLOEXEC)
    pid = start_pid1(state_dir, config, report_fd, (sync_read, sync_write))
    if pid is None:
        return 1
    # After start: either the exec succeeds (CLOEXEC closes the pipe: EOF) or PID 1
    # writes why it could not exec.
    exec_error = _read_message(sync_read)
    os.close(sync_read)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            status = 255 << 8
            break
    record_exit(state_dir, config["cgroup"], status, exec_error)
    return 0


def start_pid1(
    state_dir: Path,
    config: dict[str, Any],
    report_fd: int,
    sync: tuple[int, int],
    reaper_pid: int | None = None,
) -> int | None:
    """Fork the container's PID 1, wait until it is built, record it and report.

    Returns PID 1's pid, or None when building it failed (the report says why).
    ``sync`` is a CLOEXEC pipe: PID 1 writes one message when built, and later one
    more if its command cannot be executed; this reads only the first. The caller
    keeps the read end. With ``reaper_pid`` (the engine's fork server, a child
    subreaper that adopts PID 1 when this process exits) the record names that
    process as the one that writes ``exit.json``; without, this process is the shim.
    """
    sync_read, sync_write = sync
    # A new session: a terminal's ^C or hang-up aimed at the caller must not reach us.
    os.setsid()
    # Our next child is PID 1 of a new PID namespace (or joins the one asked for).
    namespaces.enter_pid_namespace(config["spec"].get("pid_namespace", ""))
    pid = os.fork()
    if pid == 0:
        os.close(sync_read)
        os.close(report_fd)
        run_container_init(config, sync_write)  # never returns
    os.close(sync_write)
    if "console_fd" in config:
        os.close(config["console_fd"])  # PID 1's to use
    # The container holds its stdio; the shim must not keep the caller's pipes open.
    null_fd = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null_fd, fd)
    os.close(null_fd)

    first = _read_message(sync_read)
    if first is None or "error" in first:
        os.waitpid(pid, 0)
        detail = first["error"] if first else "the container's init died while being built"
        _report(report_fd, {"error": detail})
        return None
    record_path = state_dir / "state.json"
    record = json.loads(record_path.read_text())
    record.update(pid=pid, pid_start=start_time(pid))
    watcher = reaper_pid if reaper_pid is not None else os.getpid()
    role = "reaper" if reaper_pid is not None else "shim"
    record.update({f"{role}_pid": watcher, f"{role}_start": start_time(watcher)})
    write_json_atomic(record_path, record)
    _report(report_fd, {"pid": pid})
    return pid


def record_exit(
    state_dir: Path, cgroup: dict[str, Any], status: int, exec_error: dict[str, Any] | None
) -> None:
    """Write ``exit.json`` from PID 1's wait status (and its cgroup's OOM count)."""
    try:
        oom_kills = open_manager_from(cgroup).oom_kill_count()
    except Exception:
        oom_kills = 0
    exit_record: dict[str, Any] = {"finished_at": time.time(), "oom_killed": oom_kills > 0}
    if os.WIFSIGNALED(status):
        exit_record["signal"] = os.WTERMSIG(status)
        exit_record["exit_code"] = 128 + os.WTERMSIG(status)
    else:
        exit_record["exit_code"] = os.WEXITSTATUS(status)
    if exec_error is not None:
        exit_record["error"] = exec_error.get("error")
    write_json_atomic(state_dir / "exit.json", exit_record)


def _read_message(fd: int) -> dict[str, Any] | None:
    """One JSON message (terminated by a newline) or None at EOF."""
    data = b""
    while not data.endswith(b"\n"):
        try:
            chunk = os.read(fd, 4096)
        except InterruptedError:
            continue
        if not chunk:
            return None
        data += chunk
    value: dict[str, Any] = json.loads(data)
    return value


def _send(fd: int, message: dict[str, Any]) -> None:
    os.write(fd, json.dumps(message).encode() + b"\n")


def run_container_init(config: dict[str, Any], sync_fd: int) -> NoReturn:
    """PID 1 of the container: build it, wait for start, exec (or be the init)."""
    try:
        spec = spec_from_dict(config["spec"])
        executable, env, exec_user, keep_mask = build_container(spec, config)
    except BaseException as error:
        _send(sync_fd, {"error": str(error) or type(error).__name__})
        os._exit(1)
    if spec.init:
        # Signals for the command are held from now on (a blocked signal is queued even
        # for a PID 1 without handlers) and forwarded once the init runs (_run_as_init).
        signal.pthread_sigmask(signal.SIG_BLOCK, _forwardable_signals())
    _send(sync_fd, {"ready": True})
    _wait_for_start(config["exec_fifo_fd"])
    try:
        become_user(spec, exec_user, keep_mask)
    except BaseException as error:
        _send(sync_fd, {"error": f"switch to user {spec.user!r}: {error}"})
        os._exit(126)
    if spec.init:
        _run_as_init(executable, spec, env, sync_fd)
    _exec(executable, spec, env, sync_fd)


def _exec(executable: str, spec: ContainerSpec, env: dict[str, str], sync_fd: int) -> NoReturn:
    try:
        os.execve(executable, list(spec.args), env)
    except OSError as error:
        _send(sync_fd, {"error": f"exec {spec.args[0]}: {error.strerror}"})
        os._exit(127 if isinstance(error, FileNotFoundError) else 126)
    os._exit(126)  # not reached: execve either replaces us or raises


def _wait_for_start(fifo_fd: int) -> None:
    # Opening the fifo for writing blocks until start() opens it for reading.
    fd = os.open(f"/proc/self/fd/{fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
    os.write(fd, b"0")
    os.close(fd)
    os.close(fifo_fd)


def build_container(
    spec: ContainerSpec, config: dict[str, Any]
) -> tuple[str, dict[str, str], users.ExecUser, int]:
    """Every step from host process to container, in an order that matters (why-comments).

    Returns the executable's path (looked up inside the container), the environment,
    the user to become and the capability mask to keep.
    """
    os.umask(0)  # device nodes and mount points get exactly the modes asked for
    # The exec fifo is opened by path now; after pivot_root the path is unreachable.
    config["exec_fifo_fd"] = os.open(
        os.path.join(config["state_dir"], "exec.fifo"), os.O_PATH | os.O_CLOEXEC
    )
    # Python ignores SIGPIPE and SIGXFSZ; ignored signals survive execve, handlers do not.
    for signum in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(signum, signal.SIG_DFL)

    # 1. cgroup before anything allocates: limits apply to all that follows, and the
    #    cgroup namespace made below takes this cgroup as its root. We move only
    #    ourselves, a single thread (see add_current_thread: 1 ms instead of an RCU
    #    grace period of 10-60 ms on v1).
    open_manager_from(config["cgroup"]).add_current_thread()
    if spec.oom_score_adj is not None:
        Path("/proc/self/oom_score_adj").write_text(str(spec.oom_score_adj))

    # 2. namespaces: net first (joining by path needs the host's mount namespace).
    network_flag = namespaces.enter_network(spec.network.mode, spec.network.netns_path)
    namespaces.unshare_container_namespaces(network_flag, spec.ipc_namespace,
                                            spec.uts_namespace, spec.cgroup_namespace)
    if spec.network.mode == "none":
        namespaces.bring_loopback_up()
    if spec.hostname:
        syscalls.sethostname(spec.hostname)
    if spec.domainname:
        syscalls.setdomainname(spec.domainname)

    # 3. the root filesystem, then everything mounted onto it, then pivot_root.
    root = config["rootfs_mountpoint"]
    rootfs.make_mounts_private()
    rootfs.mount_root(
        root,
        spec.rootfs.layer_dirs,
        config["upper_dir"],
        config["work_dir"],
        spec.rootfs.rootfs_dir,
    )
    rootfs.mount_standard(root, spec.shm_size)
    rootfs.make_devices(root, spec.devices)
    rootfs.mount_cgroups(root, _cgroup_hierarchies(config["cgroup"]))
    for mount in spec.mounts:
        rootfs.mount_user(root, mount)
    rootfs.bind_etc_files(
        root,
        {
            "/etc/hosts": spec.hosts_file,
            "/etc/hostname": spec.hostname_file,
            "/etc/resolv.conf": spec.resolv_conf_file,
        },
    )
    # Sysctls before /proc/sys becomes read-only (step 4).
    _apply_sysctls(spec, os.path.join(root, "proc"))
    rootfs.enter_root(root)

    # 4. Docker's masked and read-only paths, then the working dir, then a read-only root
    #    (last: mount points and the working dir must be made before).
    if not spec.privileged:
        rootfs.mask_paths(spec.masked_paths)
        rootfs.readonly_paths(spec.readonly_paths)
    rootfs.make_workdir(spec.cwd)
    if spec.read_only:
        rootfs.remount_root_readonly()

    # 5. who runs the command: read from the image's files, now that they are our /etc.
    executable, env, exec_user = prepare_process(spec)
    apply_ulimits(spec)
    console_fd = config.get("console_fd")
    if spec.tty:
        if console_fd is not None:
            _make_console(console_fd, exec_user)
        # A terminal needs a session whose controlling terminal it is (job control).
        os.setsid()
        fcntl.ioctl(0, TIOCSCTTY, 0)
    elif console_fd is not None:
        os.close(console_fd)

    # 6. security, in the order the kernel allows: seccomp while we still hold
    #    CAP_SYS_ADMIN (without no_new_privs it needs it); the bounding set while we
    #    hold CAP_SETPCAP. The user switch waits until after start (become_user): the
    #    exec fifo is reached through /proc/self/fd, which a non-root uid cannot open.
    keep_mask = confine(spec, device_cgroup=config["cgroup"].get("driver") != "v2")
    return executable, env, exec_user, keep_mask


def _make_console(console_fd: int, exec_user: users.ExecUser) -> None:
    """A pty of the container's own devpts as stdio; its master goes to the caller.

    After pivot_root, so /dev/ptmx is the container's. runc's console socket: the
    caller holds the master, the command sees /dev/pts/N as its terminal.
    """
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))  # unlockpt
    number = struct.unpack("i", fcntl.ioctl(master, TIOCGPTN, struct.pack("i", 0)))[0]
    terminal = os.open(f"/dev/pts/{number}", os.O_RDWR | os.O_NOCTTY)
    os.fchown(terminal, exec_user.uid, exec_user.gid)
    console = _socket.socket(fileno=console_fd)
    try:  # socket.send_fds
        rights = (_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("i", master))
        console.sendmsg([b"\0"], [rights])
    finally:
        console.close()
    os.close(master)
    for fd in (0, 1, 2):
        os.dup2(terminal, fd)
    if terminal > 2:
        os.close(terminal)


def apply_ulimits(spec: ContainerSpec) -> None:
    for ulimit in spec.ulimits:
        if ulimit.name not in _RLIMITS:
            raise SetupError(f"unknown ulimit {ulimit.name!r}")
        resource.setrlimit(_RLIMITS[ulimit.name], (ulimit.soft, ulimit.hard))


def prepare_process(spec: ContainerSpec) -> tuple[str, dict[str, str], users.ExecUser]:
    """The user (from the container's /etc), environment and executable of ``spec.args``."""
    exec_user = users.resolve_user(
        spec.user, spec.group_add, _read_text("/etc/passwd"), _read_text("/etc/group")
    )
    env = dict(item.partition("=")[::2] for item in spec.env)
    env.setdefault("HOME", exec_user.home)
    # (No hostname of its own: the host's UTS namespace, whose name it has.)
    env.setdefault("HOSTNAME", spec.hostname or os.uname().nodename)
    executable = _lookup_executable(spec.args[0], env.get("PATH", ""), spec.cwd)
    return executable, env, exec_user


def confine(spec: ContainerSpec, device_cgroup: bool = True) -> int:
    """Seccomp and the bounding set; returns the capability mask to keep (see step 6)."""
    keep_mask = security.capabilities_to_keep(spec, device_cgroup)
    if spec.seccomp == "default" and not spec.privileged:
        seccomp.install_default_filter(keep_mask)
    security.drop_bounding_set(keep_mask)
    return keep_mask


def become_user(spec: ContainerSpec, exec_user: users.ExecUser, keep_mask: int) -> None:
    """Ids, then capabilities: done after start, the fifo being root's (see build_container)."""
    # Groups and ids while we hold CAP_SETGID/SETUID; the capability sets last
    # (setuid to a non-root uid has cleared them already, as the kernel does for Docker).
    os.setgroups(list(exec_user.supplementary_gids))
    os.setgid(exec_user.gid)
    os.setuid(exec_user.uid)
    security.set_capabilities(keep_mask if exec_user.uid == 0 else 0)
    if spec.no_new_privileges:
        syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)
    os.chdir(spec.cwd)
    os.umask(spec.umask)


def _cgroup_hierarchies(description: dict[str, Any]) -> list[str] | None:
    """The v1 hierarchies the container is in (mount options), or None for v2."""
    if description["driver"] == "v2":
        return None
    root = description["root"]
    return sorted(
        name
        for name in os.listdir(root)
        if name not in ("systemd", "unified")
        and not os.path.islink(os.path.join(root, name))
        and os.path.exists(
            os.path.join(root, name, naming.CGROUP_PARENT, description["container_id"])
        )
    )


def _read_text(path: str) -> str:
    try:
        with open(path) as text_file:
            return text_file.read()
    except OSError:
        return ""


def _lookup_executable(name: str, search_path: str, cwd: str) -> str:
    """``execvp``'s search, done before start so that a missing command fails create."""
    if "/" in name:
        candidate = name if name.startswith("/") else os.path.join(cwd, name)
        if not os.path.exists(candidate):
            raise SetupError(f"exec {name}: no such file or directory")
        return candidate
    for directory in search_path.split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise SetupError(f"exec {name!r}: executable file not found in $PATH")


def _apply_sysctls(spec: ContainerSpec, proc_dir: str) -> None:
    for key, value in sorted(spec.sysctls.items()):
        namespaced = key in _NAMESPACED_SYSCTLS or key.startswith(_NAMESPACED_SYSCTL_PREFIXES)
        if not namespaced or (key.startswith("net.") and spec.network.mode == "host"):
            raise SetupError(f"sysctl {key} is not namespaced: it cannot be set per container")
        path = os.path.join(proc_dir, "sys", *key.split("."))
        try:
            with open(path, "w") as sysctl_file:
                sysctl_file.write(value)
        except OSError as error:
            raise SetupError(f"sysctl {key}={value}: {error.strerror}") from error


def _forwardable_signals() -> set[signal.Signals]:
    return {
        signal.Signals(signum)
        for signum in signal.valid_signals()
        if signum not in _UNFORWARDABLE and signum < signal.SIGRTMIN
    }


def _run_as_init(
    executable: str, spec: ContainerSpec, env: dict[str, str], sync_fd: int
) -> NoReturn:
    """``init: true``: fork the command, forward signals to it, reap every orphan.

    Exits with the command's status (128+N when killed by signal N, as tini does).
    """
    forwarded = _forwardable_signals()
    child = os.fork()
    if child == 0:
        for signum in forwarded:
            with contextlib.suppress(OSError, ValueError):
                signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, forwarded)
        _exec(executable, spec, env, sync_fd)
    os.close(sync_fd)

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    for signum in forwarded:
        with contextlib.suppress(OSError, ValueError):
            signal.signal(signum, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, forwarded)  # held signals arrive now
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(0)
        if pid == child:
            if os.WIFSIGNALED(status):
                os._exit(128 + os.WTERMSIG(status))
            os._exit(os.WEXITSTATUS(status))


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except OSError as error:
        if error.errno == errno.EPIPE:
            sys.exit(1)
        raise
