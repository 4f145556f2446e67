"""Running a command inside a running container (healthchecks, exec).

The process joins the container's cgroup (a host ``sh`` writes its own pid into the
container's ``cgroup.procs`` files, then execs) and its namespaces and root
(util-linux ``nsenter -t PID -m -u -i -n -p -C -r -w``), with the container's
environment. It is spawned with ``subprocess`` (fork+exec in C: safe in the
multi-threaded engine). Limits: the command runs with the engine's capabilities and
without the container's seccomp profile (the runtime has no exec entry point yet).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass

_JOIN_AND_ENTER = 'for f in $STACKR_CGROUP_PROCS; do echo $$ > "$f"; done; exec "$@"'


class ExecError(Exception):
    pass


def cgroup_procs_files(container_id: str) -> list[str]:
    pattern_v1 = f"/sys/fs/cgroup/*/stackr/{container_id}/cgroup.procs"
    pattern_v2 = f"/sys/fs/cgroup/stackr/{container_id}/cgroup.procs"
    return sorted(glob.glob(pattern_v1) + glob.glob(pattern_v2))


def command_line(pid: int, args: list[str], user: str = "", directory_fd: int | None = None
                 ) -> list[str]:
    """``directory_fd``: the working directory, open (nsenter reopens it through
    /proc/self/fd before it enters, and changes to it after its chroot); ``None``: PID
    1's."""
    nsenter = shutil.which("nsenter")
    if nsenter is None:
        raise ExecError("nsenter (util-linux) is not installed")
    command = [nsenter, "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "-C", "-r",
               "-w" if directory_fd is None else f"--wd=/proc/self/fd/{directory_fd}"]
    uid, _, gid = user.partition(":")
    if uid.isdigit():
        command += ["-S", uid, "-G", gid if gid.isdigit() else uid]
    return ["/bin/sh", "-c", _JOIN_AND_ENTER, "sh", *command, "--", *args]


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: bytes
    timed_out: bool = False


def spawn(container_id: str, pid: int, args: list[str], env: list[str], user: str = "",
          stdout: int = subprocess.PIPE, tty: bool = False,
          stdin: int = subprocess.DEVNULL, working_dir: str = "") -> subprocess.Popen[bytes]:
    """Start ``args`` in the container. With ``tty``, ``stdout`` is a pty slave that
    becomes stdin/stdout/stderr and the controlling terminal (a new session).
    ``working_dir``: a directory in the container (empty: PID 1's)."""
    environment = dict(item.split("=", 1) for item in env if "=" in item)
    environment["STACKR_CGROUP_PROCS"] = " ".join(cgroup_procs_files(container_id))
    directory_fd = _open_in_container(pid, working_dir) if working_dir else None
    try:
        command = command_line(pid, args, user, directory_fd)
        kept = () if directory_fd is None else (directory_fd,)
        if tty:
            environment.setdefault("TERM", "xterm")
            # setsid(1) -c makes the pty the controlling terminal of the new session.
            return subprocess.Popen(
                ["setsid", "-c", *command], stdin=stdout, stdout=stdout, stderr=stdout,
                env=environment, close_fds=True, pass_fds=kept,
            )
        return subprocess.Popen(
            command, stdin=stdin, stdout=stdout, stderr=subprocess.STDOUT, env=environment,
            start_new_session=True, close_fds=True, pass_fds=kept,
        )
    finally:
        if directory_fd is not None:
            os.close(directory_fd)


def _open_in_container(pid: int, working_dir: str) -> int:
    """The container's directory, resolved inside its root (a symlink in the image
    cannot lead the command's working directory out of the container)."""
    from stackr.inroot import openat2_in_root

    root_fd = os.open(f"/proc/{pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return openat2_in_root(root_fd, working_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as error:
        raise ExecError(f"working directory {working_dir}: {os.strerror(error.errno)}"
                        if error.errno else str(error)) from None
    finally:
        os.close(root_fd)


def run(container_id: str, pid: int, args: list[str], env: list[str], timeout: float,
        user: str = "", max_output: int = 4096) -> ExecResult:
    process = spawn(container_id, pid, args, env, user)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return ExecResult(-1, output[:max_output], timed_out=True)
    return ExecResult(process.returncode, output[:max_output])
