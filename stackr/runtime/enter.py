"""Run another process in a running container: ``python -m stackr.runtime.enter``.

The runtime half of ``stackr exec`` and of healthchecks (runc's ``exec``, nsenter).
Started by ``container.exec_process`` as a fresh single-threaded process with the
config on an inherited pipe and the new process's stdio as fds 0-2. It stays the
parent of the entered process and exits with its status (128+N for signal N), so
the caller's ``Popen.wait()`` is the exit status; signals it receives are forwarded.

Order, and why:

1. open every namespace of the container's PID 1 *first*, and check its start time
   after opening them (a reused pid is refused); the fds pin the namespaces;
2. join the container's cgroup while the host's /sys/fs/cgroup is still visible;
3. setns cgroup, ipc, uts, net, pid, then mnt last (it changes what paths mean);
4. fork: only children enter a PID namespace; the child takes the container's
   security (seccomp, bounding set, user, capabilities) and execs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import sys

from stackr import syscalls
from stackr.cgroups import open_manager_from
from stackr.record import replace_record
from stackr.runtime import init as container_init
from stackr.runtime.process import start_time
from stackr.runtime.spec import spec_from_dict

TYPE_CHECKING = False  # mypy reads True: typing is not imported at run time
if TYPE_CHECKING:
    from typing import Any, NoReturn

_NAMESPACES = (  # the order of setns; mnt last
    ("cgroup", syscalls.CLONE_NEWCGROUP),
    ("ipc", syscalls.CLONE_NEWIPC),
    ("uts", syscalls.CLONE_NEWUTS),
    ("net", syscalls.CLONE_NEWNET),
    ("pid", syscalls.CLONE_NEWPID),
    ("mnt", syscalls.CLONE_NEWNS),
)
EXIT_CANNOT_ENTER = 125  # as docker exec: the process could not be started


def main(argv: list[str]) -> int:
    with os.fdopen(int(argv[0]), "rb") as config_pipe:
        config: dict[str, Any] = json.loads(config_pipe.read())
    try:
        _enter(config)
    except Exception as error:
        os.write(2, f"stackr exec: {error}\n".encode())
        return EXIT_CANNOT_ENTER
    child = os.fork()
    if child == 0:
        _run_child(config)
    return _supervise(child)


def _enter(config: dict[str, Any]) -> None:
    pid = config["pid"]
    namespace_fds = []
    try:
        for name, kind in _NAMESPACES:
            namespace_fds.append(
                (os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC), kind)
            )
        if start_time(pid) != config["pid_start"]:
            raise ProcessLookupError(f"container process {pid} is gone")
        open_manager_from(config["cgroup"]).add_pid(0)
        for fd, kind in namespace_fds:
            syscalls.setns(fd, kind)
    finally:
        for fd, _ in namespace_fds:
            os.close(fd)


def _run_child(config: dict[str, Any]) -> NoReturn:
    try:
        spec = spec_from_dict(config["spec"])
        spec = replace_record(
            spec,
            args=tuple(config["args"]),
            env=spec.env + tuple(config["env"]),
            cwd=config["cwd"] or spec.cwd,
            user=config["user"] or spec.user,
            tty=config["tty"],
        )
        os.chdir("/")
        executable, env, exec_user = container_init.prepare_process(spec)
        container_init.apply_ulimits(spec)
        if spec.tty:
            os.setsid()
            fcntl.ioctl(0, container_init.TIOCSCTTY, 0)
        keep_mask = container_init.confine(
            spec, device_cgroup=config["cgroup"].get("driver") != "v2"
        )
        container_init.become_user(spec, exec_user, keep_mask)
        # Dies with its supervisor (set after the uid change, which would clear it).
        syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signal.SIGKILL)
        for signum in (signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(signum, signal.SIG_DFL)
        os.execve(executable, list(spec.args), env)
    except Exception as error:
        os.write(2, f"stackr exec: {error}\n".encode())
        os._exit(127 if isinstance(error, FileNotFoundError | container_init.SetupError) else 126)
    os._exit(126)  # not reached


def _supervise(child: int) -> int:
    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    for signum in (
        signal.SIGTERM,
        signal.SIGINT,
        signal.SIGHUP,
        signal.SIGQUIT,
        signal.SIGUSR1,
        signal.SIGUSR2,
    ):
        signal.signal(signum, forward)
    _, status = os.waitpid(child, 0)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
