"""One thread that waits for the exits of all running containers (a pidfd each).

A thread per running container blocked in ``runtime.wait`` costs the engine ~30 KiB
of resident memory each (its stack, its frames, its thread state), for doing nothing
but waiting. ``ExitWatcher`` waits for every container's PID 1 at once, in one
``epoll``; when one exits, its ``on_exit`` runs in a thread of its own (recording an
exit may wait for the log pump and apply a restart policy, which must not hold up the
others), and that thread ends with it.
"""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Callable

POLL_SECONDS = 1.0  # how soon the thread notices ``stopping``


class ExitWatcher:
    def __init__(self, stopping: threading.Event) -> None:
        self.stopping = stopping
        self._lock = threading.Lock()
        self._epoll: select.epoll | None = None
        self._callbacks: dict[int, tuple[Callable[[], None], str]] = {}  # pidfd -> on_exit
        self._thread: threading.Thread | None = None

    def watch(self, pidfd: int, on_exit: Callable[[], None], name: str) -> bool:
        """Call ``on_exit`` (in a new thread called ``name``) once the process of
        ``pidfd`` has exited; the watcher owns ``pidfd`` from now on. False (and
        ``pidfd`` closed) when the engine is stopping: the next engine watches it."""
        with self._lock:
            if self.stopping.is_set():
                os.close(pidfd)
                return False
            if self._epoll is None:
                self._epoll = select.epoll()
            self._callbacks[pidfd] = (on_exit, name)
            # epoll_ctl is safe while the thread waits in epoll_wait: it sees the new fd.
            self._epoll.register(pidfd, select.EPOLLIN)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="exits", daemon=True)
                self._thread.start()
        return True

    def watched(self) -> int:
        with self._lock:
            return len(self._callbacks)

    def _run(self) -> None:
        assert self._epoll is not None
        epoll = self._epoll
        while not self.stopping.is_set():
            try:
                ready = epoll.poll(POLL_SECONDS)
            except InterruptedError:
                continue
            for pidfd, _ in ready:
                with self._lock:
                    on_exit, name = self._callbacks.pop(pidfd)
                    epoll.unregister(pidfd)
                os.close(pidfd)
                threading.Thread(target=on_exit, name=name, daemon=True).start()
        with self._lock:  # the engine is going away: the next one watches them again
            for pidfd in self._callbacks:
                os.close(pidfd)
            self._callbacks.clear()
            epoll.close()
            self._epoll = None
            self._thread = None
