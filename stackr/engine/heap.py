"""Giving the engine's freed heap back to the kernel (``malloc_trim``).

The engine is long-lived and mostly idle. Its start-up (reading and unmarshalling
hundreds of modules) and bursts of requests (20 creates at once) free a lot of
memory inside glibc's heaps, which ``free`` keeps for reuse rather than returning:
about 1.4 MiB of resident memory after start-up alone. ``malloc_trim(0)`` returns
every whole free page, of every arena, to the kernel. It is cheap (well under a
millisecond for the engine's heap) but takes each arena's lock, so the server calls
it at quiet moments only: after start-up, and once requests have stopped for a while
(``QuietTrim``).
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable

QUIET_SECONDS = 0.5


def _trim_function() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl has no malloc_trim): nothing to give back
        return None
    try:
        trim = libc.malloc_trim
    except AttributeError:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _trim_function()


def release_free_memory() -> bool:
    """Return the heaps' free pages to the kernel; False when there was nothing to give
    back (or no ``malloc_trim`` in this libc)."""
    return bool(_TRIM(0)) if _TRIM is not None else False


class QuietTrim:
    """Trims once activity has stopped: ``activity()`` after each request, ``poll()``
    from the server's loop (it runs at least every ``QUIET_SECONDS``)."""

    def __init__(self, quiet_seconds: float = QUIET_SECONDS) -> None:
        self.quiet_seconds = quiet_seconds
        self._last_activity: float | None = None
        self._lock = threading.Lock()

    def activity(self) -> None:
        with self._lock:
            self._last_activity = time.monotonic()

    def poll(self) -> bool:
        """Trim if there was activity and none for ``quiet_seconds``; True if it trimmed."""
        with self._lock:
            last = self._last_activity
            if last is None or time.monotonic() - last < self.quiet_seconds:
                return False
            self._last_activity = None
        release_free_memory()
        return True
