"""One mutating command per project at a time: an ``flock`` under ``run_root()``.

A second ``up`` of the same project says it is waiting, waits briefly, then fails
(exit 4) rather than interleave its operations with the first's. The kernel drops the
lock when its holder dies, so a killed ``up`` never leaves the project locked.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager

from stackr.errors import PreconditionError
from stackr.paths import run_root

TYPE_CHECKING = False  # mypy reads True: typing is not loaded by down
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

DEFAULT_WAIT_SECONDS = 10.0
RETRY_SECONDS = 0.05


class ProjectLockedError(PreconditionError):
    """Another stackr command holds the project's lock."""


def lock_path(project: str) -> str:
    return str(run_root() / "projects" / f"{project}.lock")


@contextmanager
def project_lock(
    project: str, wait_seconds: float = DEFAULT_WAIT_SECONDS,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    path = lock_path(project)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + wait_seconds
        said = False
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not said and on_wait is not None:
                    on_wait(f"waiting for another stackr command on project {project} "
                            f"(up to {wait_seconds:g} s)")
                    said = True
                if time.monotonic() >= deadline:
                    raise ProjectLockedError(
                        f"project {project} is locked by another stackr command "
                        f"({path}); try again when it has finished"
                    ) from None
                # flock has no timeout; a short retry keeps the wait bounded.
                time.sleep(RETRY_SECONDS)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock
