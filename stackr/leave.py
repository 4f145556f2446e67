"""Leaving a finished command without the interpreter's teardown.

Tearing down the modules a command loaded (pydantic's, yaml's, the client's) takes
tens of milliseconds, up to a tenth of a second on a busy host: more than some whole
commands. Nothing of stackr's needs atexit handlers or finalizers once a command has
returned (its files are closed, its threads joined, its temporary directories removed
by their ``with`` blocks), so the process ends with ``os._exit`` after flushing.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # mypy reads True: typing is not loaded by `stackr runtime`
if TYPE_CHECKING:
    from typing import NoReturn


def exit_now(code: int) -> NoReturn:
    """Flush stdout and stderr, then end the process with ``code``."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing left to say
            code = code or 1
    os._exit(code)
