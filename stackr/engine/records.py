"""The engine's records: one JSON file per resource, written atomically.

Records live under ``state_root()/engine/<kind>/<id>.json``. A write goes to a temp
file in the same directory, is fsynced, renamed over the old record, and the
directory is fsynced, so a crash leaves either the old or the new record, never half
of one (DESIGN.md §5). A container's run state alone (its exit, a stop's flag) is
written atomically without the fsyncs: a power loss ends the process anyway, and the
next engine finds it gone. Ids and names are validated before they become paths, so a
request can never reach outside the record directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stackr.errors import StateError
from stackr.paths import state_root
from stackr.statefile import write_json_atomic

# Docker's name rule ([a-zA-Z0-9][a-zA-Z0-9_.-]*), capped: no "/", no "..", no NUL.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")

RECORD_VERSION = 1

JsonObject = dict[str, Any]


def is_valid_name(name: str) -> bool:
    """Whether ``name`` can be a resource id/name (and so a single path component)."""
    return bool(_NAME.fullmatch(name)) and ".." not in name


def engine_root() -> Path:
    return state_root() / "engine"


class RecordStore:
    """Records of one kind (``containers``, ``volumes``), keyed by a validated id."""

    def __init__(self, kind: str, root: Path | None = None) -> None:
        self.kind = kind
        self.directory = (root or engine_root()) / kind
        self._lock = threading.Lock()
        # One lock per record: two writes of one record land in their order, while
        # writes of different records (each with its fsyncs) go on side by side.
        self._record_locks: dict[str, threading.Lock] = {}

    def path_of(self, record_id: str) -> Path:
        if not is_valid_name(record_id):
            raise ValueError(f"invalid {self.kind} id {record_id!r}")
        return self.directory / f"{record_id}.json"

    def put(self, record_id: str, data: JsonObject, durable: bool = True) -> None:
        """Write the record atomically; ``durable``: fsynced too (see the module)."""
        path = self.path_of(record_id)
        with self._lock:
            record_lock = self._record_locks.setdefault(record_id, threading.Lock())
        with record_lock:
            write_json_atomic(path, {"Version": RECORD_VERSION, **data}, durable=durable)

    def get(self, record_id: str) -> JsonObject | None:
        path = self.path_of(record_id)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise StateError(f"engine record {path} is corrupt: {error}") from error
        if not isinstance(data, dict) or data.get("Version") != RECORD_VERSION:
            raise StateError(f"engine record {path} has an unknown version")
        data.pop("Version")
        return data

    def delete(self, record_id: str) -> None:
        path = self.path_of(record_id)
        with self._lock:
            record_lock = self._record_locks.pop(record_id, None) or threading.Lock()
        with record_lock, contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    def ids(self) -> list[str]:
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return sorted(
            name[: -len(".json")]
            for name in names
            if name.endswith(".json") and not name.startswith(".")
        )

    def items(self) -> Iterator[tuple[str, JsonObject]]:
        for record_id in self.ids():
            data = self.get(record_id)
            if data is not None:
                yield record_id, data
