"""Named volumes: directories the engine owns under ``state_root()/volumes/<name>/_data``.

As with Docker's ``local`` driver, a volume is a directory plus a record (name,
labels, creation time). Removing a volume a container uses is refused; ``stackr down``
keeps volumes unless ``-v`` asks for their removal.
"""

from __future__ import annotations

import builtins
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stackr.engine.events import EventBus
from stackr.engine.records import RecordStore, is_valid_name
from stackr.engine.routing import ApiError, bad_request, conflict, not_found
from stackr.engine.timetext import rfc3339_seconds
from stackr.paths import state_root

JsonObject = dict[str, Any]


def _now_text() -> str:
    return rfc3339_seconds(time.time())


def _labels(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise bad_request(f"{what} must be an object of strings")
    return dict(value)


def labels_match(labels: dict[str, str], wanted: list[str]) -> bool:
    """All of ``wanted`` (``key`` or ``key=value``) hold for ``labels``."""
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


class VolumeManager:
    def __init__(
        self,
        events: EventBus,
        in_use: Callable[[str], list[str]],
        root: Path | None = None,
    ) -> None:
        self.events = events
        self.in_use = in_use  # volume name -> ids of containers that mount it
        self.root = root or state_root() / "volumes"
        self.records = RecordStore("volumes")
        self._lock = threading.Lock()

    def mountpoint(self, name: str) -> Path:
        return self.root / name / "_data"

    def _view(self, name: str, record: JsonObject) -> JsonObject:
        return {
            "Name": name,
            "Driver": "local",
            "Mountpoint": str(self.mountpoint(name)),
            "CreatedAt": record["CreatedAt"],
            "Labels": record.get("Labels", {}),
            "Options": {},
            "Scope": "local",
        }

    def create(self, body: JsonObject) -> JsonObject:
        unknown = set(body) - {"Name", "Driver", "DriverOpts", "Labels"}
        if unknown:
            raise bad_request(f"unknown field(s) in volume create: {', '.join(sorted(unknown))}")
        name = body.get("Name") or os.urandom(32).hex()
        if not isinstance(name, str) or not is_valid_name(name):
            raise bad_request(f"invalid volume name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")
        driver = body.get("Driver") or "local"
        if driver != "local":
            raise bad_request(f"volume {name}: driver {driver!r} is not supported (only local)")
        if body.get("DriverOpts"):
            raise bad_request(f"volume {name}: driver options are not supported yet")
        labels = _labels(body.get("Labels"), "Labels")
        with self._lock:
            existing = self.records.get(name)
            if existing is not None:
                if existing.get("Labels", {}) != labels:
                    raise conflict(f"volume {name} already exists with other labels")
                return self._view(name, existing)
            record = {"CreatedAt": _now_text(), "Labels": labels}
            # Record before making (DESIGN.md §5): a crash leaves a record to clean up.
            self.records.put(name, record)
            self.mountpoint(name).mkdir(parents=True, exist_ok=True, mode=0o755)
        self.events.publish("volume", "create", name, {"driver": "local", **labels})
        return self._view(name, record)

    def ensure_mountpoint(self, name: str) -> str:
        """The host directory of volume ``name``, created (as Docker does) if missing."""
        if self.records.get(name) is None:
            self.create({"Name": name})
        return str(self.mountpoint(name))

    def inspect(self, name: str) -> JsonObject:
        if not is_valid_name(name):
            raise not_found(f"no such volume: {name!r}")
        record = self.records.get(name)
        if record is None:
            raise not_found(f"no such volume: {name}")
        return self._view(name, record)

    def list(self, filters: dict[str, list[str]]) -> list[JsonObject]:
        unknown = set(filters) - {"name", "label", "dangling", "driver"}
        if unknown:
            raise bad_request(f"unknown volume filter(s): {', '.join(sorted(unknown))}")
        views = []
        for name, record in self.records.items():
            view = self._view(name, record)
            if "name" in filters and not any(w in name for w in filters["name"]):
                continue
            if "label" in filters and not labels_match(view["Labels"], filters["label"]):
                continue
            if "driver" in filters and "local" not in filters["driver"]:
                continue
            if "dangling" in filters:
                dangling = not self.in_use(name)
                if any((v.lower() in ("1", "true")) != dangling for v in filters["dangling"]):
                    continue
            views.append(view)
        return views

    def remove(self, name: str, force: bool = False) -> None:
        if not is_valid_name(name):
            raise not_found(f"no such volume: {name!r}")
        with self._lock:
            if self.records.get(name) is None:
                if force:
                    return
                raise not_found(f"no such volume: {name}")
            users = self.in_use(name)
            if users:
                raise ApiError(
                    409, f"volume {name} is in use by container(s) {', '.join(sorted(users))}"
                )
            if (self.root / name).exists():
                shutil.rmtree(self.root / name)
            self.records.delete(name)
        self.events.publish("volume", "destroy", name, {"driver": "local"})

    def prune(self, filters: dict[str, builtins.list[str]]) -> builtins.list[str]:
        """Remove the volumes no container uses (``label`` filters narrow the set)."""
        unknown = set(filters) - {"label"}
        if unknown:
            raise bad_request(f"unknown volume prune filter(s): {', '.join(sorted(unknown))}")
        removed = []
        for view in self.list({"dangling": ["true"], **filters}):
            try:
                self.remove(view["Name"])
            except ApiError:
                continue  # taken into use meanwhile
            removed.append(view["Name"])
        return removed
