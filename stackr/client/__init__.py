"""The Python client of the stackr engine (what the CLI uses)."""

from stackr.client.client import EngineClient
from stackr.client.errors import (
    EngineConflictError,
    EngineError,
    EngineNotFoundError,
    EngineUnavailableError,
)
from stackr.client.hosts import SshHost, UnixHost, parse_host

__all__ = [
    "EngineClient",
    "EngineConflictError",
    "EngineError",
    "EngineNotFoundError",
    "EngineUnavailableError",
    "SshHost",
    "UnixHost",
    "parse_host",
]
