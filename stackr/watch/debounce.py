"""Batch a burst of file events into one, once the files have been quiet for a while.

Compose's ``pkg/watch/debounce.go`` idea: an editor's save (write temp, rename, chmod)
or a ``git checkout`` is dozens of events in a few milliseconds; acting on each would
reapply the stack dozens of times, the first ones on half-written files. The batch is
released when no event came for ``quiet`` seconds, or at the latest ``max_delay``
seconds after its first event, so a file that is written continuously (a log in the
watched tree) cannot hold every other change back forever.

The clock is injectable: tests drive it by hand and never sleep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Clock = Callable[[], float]


class Debouncer(Generic[Item]):
    """Thread-safe: watchdog's observer threads ``add``, the loop ``take``s."""

    def __init__(self, quiet: float, *, max_delay: float | None = None,
                 clock: Clock = time.monotonic) -> None:
        if quiet < 0:
            raise ValueError("the quiet period cannot be negative")
        self.quiet = quiet
        self.max_delay = max_delay if max_delay is not None else max(quiet * 10, 2.0)
        self._clock = clock
        self._items: list[Item] = []
        self._first_at = 0.0
        self._last_at = 0.0
        self._changed = threading.Condition()
        self._closed = False

    def add(self, item: Item) -> None:
        with self._changed:
            now = self._clock()
            if not self._items:
                self._first_at = now
            self._items.append(item)
            self._last_at = now
            self._changed.notify_all()

    def close(self) -> None:
        """Wake a waiting ``wait_batch`` for good (the loop is stopping)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def _due_in(self, now: float) -> float | None:
        """Seconds until the pending batch is due (0 or less: due now); None: no batch."""
        if not self._items:
            return None
        return min(self._last_at + self.quiet, self._first_at + self.max_delay) - now

    def due_in(self) -> float | None:
        with self._changed:
            return self._due_in(self._clock())

    def take(self) -> list[Item]:
        """The pending batch if it is due (emptying it), else an empty list."""
        with self._changed:
            due = self._due_in(self._clock())
            if due is None or due > 0:
                return []
            items, self._items = self._items, []
            return items

    def wait_batch(self, timeout: float | None = None) -> list[Item]:
        """Block until a batch is due (returned), ``timeout`` passes or ``close`` is
        called (an empty list). Uses the real clock's waits: for the running loop."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while not self._closed:
                due = self._due_in(self._clock())
                if due is not None and due <= 0:
                    items, self._items = self._items, []
                    return items
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return []
                waits = [w for w in (due, remaining) if w is not None]
                self._changed.wait(min(waits) if waits else None)
            return []
