"""Containers: records, lifecycle through the runtime, supervision (filled in below)."""

from __future__ import annotations

import threading
from typing import Any

from stackr.engine.events import EventBus
from stackr.engine.records import RecordStore

JsonObject = dict[str, Any]


class ContainerManager:
    def __init__(self, events: EventBus, stopping: threading.Event) -> None:
        self.events = events
        self.stopping = stopping
        self.records = RecordStore("containers")

    def counts(self) -> dict[str, int]:
        total = running = paused = 0
        for _, record in self.records.items():
            total += 1
            status = record.get("State", {}).get("Status")
            running += status == "running"
            paused += status == "paused"
        return {"total": total, "running": running, "paused": paused,
                "stopped": total - running - paused}

    def users_of_volume(self, volume_name: str) -> list[str]:
        users = []
        for container_id, record in self.records.items():
            for mount in record.get("Mounts", []):
                if mount.get("Type") == "volume" and mount.get("Name") == volume_name:
                    users.append(container_id)
        return users

    def adopt(self) -> None:
        pass

    def detach(self) -> None:
        pass
