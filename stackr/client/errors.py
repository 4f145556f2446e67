"""Errors the engine client raises: what the engine answered, or that it is unreachable."""

from __future__ import annotations

from stackr.errors import PreconditionError, StackrError


class EngineError(StackrError):
    """The engine refused or failed a request; carries the HTTP status and its message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class EngineNotFoundError(EngineError):
    """404: no such container, volume, image or path."""


class EngineConflictError(EngineError):
    """409: the resource exists, is in use, or is in the wrong state."""


class EngineUnavailableError(PreconditionError):
    """No engine answers at the host (and it could not be started)."""


def error_for(status: int, message: str) -> EngineError:
    if status == 404:
        return EngineNotFoundError(status, message)
    if status == 409:
        return EngineConflictError(status, message)
    return EngineError(status, message)
