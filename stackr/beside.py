"""``beside``: two independent calls at once, the second in the calling thread.

For host work that mostly waits on the kernel (an nft transaction while a bridge is
deleted; a container's cgroup and files while its network namespace is taken apart):
the waits overlap, and the caller still gets the first error.
"""

from __future__ import annotations

import threading

TYPE_CHECKING = False  # mypy reads True: the engine does without typing
if TYPE_CHECKING:
    from collections.abc import Callable


def beside(background: Callable[[], None], foreground: Callable[[], None]) -> None:
    """Run ``background`` in a thread while ``foreground`` runs in this one; raise the
    first error (``foreground``'s first)."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            background()
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run, name="beside")
    thread.start()
    try:
        foreground()
    finally:
        thread.join()
    if errors:
        raise errors[0]
