"""``PreFork``: a one-request fork server forked from the caller, that loads while it works.

``stackr runtime run`` makes one container per process, and its time is mostly
Python's imports. The init helper's code (``stackr.runtime.init`` with rootfs,
seccomp, users, namespaces, socket: about a fifth of those imports) is needed only by
the process that builds the container, never by the caller. ``DirectFork`` imports it
in the caller before forking; ``PreFork.start()`` instead forks a child at once (the
caller is single-threaded: fork is safe), and that child imports the init code while
the caller reads the bundle, creates the cgroup and writes the state dir: on two CPUs,
the two halves overlap. The child then takes exactly one request of the fork
server's protocol and is its helper (``forkserver``'s: the container is built exactly as
with the engine's fork server): it forks the shim and leaves.

Nothing here imports ``socket`` (its enums cost ~4 ms), the fork server or the init
code: the caller's side sends through ``_socket``. Fork it after the imports both
sides need (spec, cgroups, process, statefile: made once) and before those only the
caller needs (``stackr.runtime.container``, ``oci``: made while the child loads the
init code, which takes it longer; the container waits for the later of the two).
"""

from __future__ import annotations

import _socket
import contextlib
import gc
import json
import os
import struct
from pathlib import Path
from types import ModuleType

TYPE_CHECKING = False  # mypy reads True: typing is not imported at run time
if TYPE_CHECKING:
    from typing import Any

# The fork server's request: JSON, and stdin, stdout, stderr, the report pipe's write
# end[, a console socket] as SCM_RIGHTS.
_MAX_MESSAGE = 1 << 20
_MIN_FDS_PER_REQUEST = 4
_MAX_FDS_PER_REQUEST = 5


def single_threaded() -> bool:
    """True when this process has one thread (``threading`` sees only the ones it made)."""
    return len(os.listdir("/proc/self/task")) == 1


class PreFork:
    """The caller's end: ``launch`` once (``process.Launcher``), then ``close``."""

    def __init__(self, own_end: _socket.socket, child_pid: int) -> None:
        self._socket: _socket.socket | None = own_end
        self.child_pid = child_pid

    @classmethod
    def start(cls) -> PreFork:
        """Fork the child now; refuses in a multi-threaded process (fork is unsafe there)."""
        if not single_threaded():
            raise RuntimeError("PreFork started in a multi-threaded process")
        own_end, child_end = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        child_pid = os.fork()
        if child_pid == 0:
            own_end.close()
            os._exit(_serve_one(child_end.detach()))
        child_end.close()
        return cls(own_end, child_pid)

    def launch(self, config: dict[str, Any], fds: list[int]) -> None:
        """Hand the request to the child; the report pipe tells when the container is built.

        The fds go as SCM_RIGHTS, as to the fork server. The child is not waited for
        here (its exit would delay the caller's wait for the report): ``close`` reaps
        it. A child that died before the request (it cannot have started anything) is
        replaced by a fork of the caller.
        """
        if self._socket is None:
            raise RuntimeError("PreFork used twice")
        rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))]
        try:
            self._socket.sendmsg([json.dumps(config).encode()], rights)
        except OSError:
            self.close()
            from stackr.runtime.forkserver import DirectFork

            DirectFork().launch(config, fds)
            return
        self._socket.close()  # one request only
        self._socket = None

    def close(self) -> None:
        """Reap the child (it exits once it has forked the shim, or at once if unused).

        Call it once ``create`` has returned, or to give up before ``launch``.
        """
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self.child_pid:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.child_pid, 0)
            self.child_pid = 0


def _serve_one(socket_fd: int) -> int:
    """The child: import the init code, take one request and be its helper."""
    # A fork copies every fd of the caller, inheritable or not: the shim and the
    # container must not hold any (a pipe's reader would never see EOF), as with
    # DirectFork. The container's stdio come with the request. Our own stdio are the
    # caller's: a caller reading its stdout to EOF must not wait for this child.
    os.closerange(3, socket_fd)
    os.closerange(socket_fd + 1, os.sysconf("SC_OPEN_MAX"))
    null_fd = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(null_fd, target)
    os.close(null_fd)
    try:
        from stackr.runtime import init  # the init code: what this child is for

        # The shim (and an ``init: true`` PID 1) live long: collect cycles again if the
        # caller had the collector off (``ocicli.one_shot_process``), but not through
        # what was there before the fork: that would copy every page on write.
        gc.freeze()
        gc.enable()

        request = _socket.socket(fileno=socket_fd)
        data, ancillary, _, _ = request.recvmsg(
            _MAX_MESSAGE, _socket.CMSG_SPACE(_MAX_FDS_PER_REQUEST * 4)
        )
        request.close()  # not to be inherited by the shim
        fds: list[int] = []
        for level, kind, payload in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                count = len(payload) // 4
                fds.extend(struct.unpack(f"{count}i", payload[: count * 4]))
        if not data or not _MIN_FDS_PER_REQUEST <= len(fds) <= _MAX_FDS_PER_REQUEST:
            return 0 if not data else 1  # closed unused; or not a request of ours
        return _be_the_helper(init, json.loads(data), fds)
    except BaseException:  # the caller sees the missing report
        return 1


def _be_the_helper(init: ModuleType, config: dict[str, Any], fds: list[int]) -> int:
    """What the fork server's helper does (``forkserver._run_helper``), done here.

    We are the helper ourselves (the fork server forks one per request): fork the shim
    and leave, which tells the caller's ``launch`` the container is on its way. Not
    imported from the fork server, whose ``socket`` this child does without.
    """
    report_fd: int = init.take_stdio(config, fds)
    try:
        code: int = init.fork_shim(Path(config["state_dir"]), config, report_fd)
    except BaseException as error:
        init._report(report_fd, {"error": f"init helper: {error}"})
        return 1
    return code
