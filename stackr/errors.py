"""The one exception tree of stackr, and the exit code of each kind of failure.

Library code raises these and never prints or exits; only ``stackr.cli`` renders them
(``../shared/DESIGN.md`` §6). Exit codes:

====  ==========================================================================
 1    an operation on the host failed (``ApplyError``, ``HostError``, engine errors)
 2    usage: bad flags, a verb that is not implemented yet
 3    the stack file is invalid (``StackFileError``); nothing was touched
 4    a precondition is missing: not root, no overlay, a lock held, corrupt state
 70   a bug in stackr ("internal error"), with a crash log
 130  interrupted (Ctrl-C)
====  ==========================================================================
"""

from __future__ import annotations

import errno as errno_codes
import os

from stackr.record import frozen_record, ordered_record

TYPE_CHECKING = False  # mypy reads True: typing and collections.abc are not loaded
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

EXIT_APPLY = 1
EXIT_USAGE = 2
EXIT_STACK_FILE = 3
EXIT_PRECONDITION = 4
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


@ordered_record
class Location:
    """Where a value stands in a stack file; line and column count from 1."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


KeyPath = tuple[str | int, ...]


def render_key_path(path: Sequence[str | int]) -> str:
    """``("services", "web", "ports", 0)`` → ``services.web.ports[0]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


@frozen_record
class Diagnostic:
    """One problem in a stack file, rendered like a compiler message."""

    location: Location | None
    path: str
    message: str
    hint: str | None = None

    def sort_key(self) -> tuple[str, int, int, str, str]:
        if self.location is None:
            return ("~", 0, 0, self.path, self.message)
        return (self.location.file, self.location.line, self.location.col, self.path, self.message)

    def render(self) -> str:
        where = f"{self.location}: " if self.location else ""
        what = f"{self.path}: " if self.path else ""
        text = f"{where}{what}{self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class StackrError(Exception):
    """Base of every error stackr reports to a user."""

    exit_code = EXIT_APPLY

    def render(self) -> str:
        return f"error: {self}"


class UsageError(StackrError):
    """The command line asks for something that cannot be done as asked."""

    exit_code = EXIT_USAGE


class NotImplementedYetError(UsageError):
    """A verb or option that stackr will have, but does not have yet."""


class StackFileError(StackrError):
    """The stack file is invalid. Carries every problem found, sorted by position."""

    exit_code = EXIT_STACK_FILE

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics: tuple[Diagnostic, ...] = tuple(
            sorted(set(diagnostics), key=Diagnostic.sort_key)
        )
        super().__init__("\n".join(d.render() for d in self.diagnostics))

    def render(self) -> str:
        lines = [f"{d.render()}" for d in self.diagnostics]
        count = len(self.diagnostics)
        lines.append(f"error: the stack file is invalid ({count} problem{'s' * (count != 1)})")
        return "\n".join(lines)


class PreconditionError(StackrError):
    """Something stackr needs of the host is missing (root, overlay, a free lock)."""

    exit_code = EXIT_PRECONDITION


class StateError(PreconditionError):
    """A state record is corrupt or of an unknown version."""


class HostError(StackrError):
    """A syscall, netlink request or cgroup-file write failed.

    Carries the action, the object acted on (a path, an interface name) and the errno,
    so that the message says exactly what failed and why.
    """

    def __init__(
        self, action: str, target: str, errno: int | None = None, detail: str = ""
    ) -> None:
        self.action = action
        self.target = target
        self.errno = errno
        self.detail = detail
        cause = ""
        if errno is not None:
            name = errno_codes.errorcode.get(errno, str(errno))
            cause = f": {os.strerror(errno)} ({name})"
        elif detail:
            cause = f": {detail}"
        super().__init__(f"{action} {target}{cause}")

    @classmethod
    def from_os_error(cls, action: str, target: str, error: OSError) -> HostError:
        return cls(action, target, error.errno, error.strerror or "")


class ApplyError(StackrError):
    """An operation of a plan failed; names the resource, the cause and what to do next."""
