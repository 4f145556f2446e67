"""The engine's in-memory state: the managers of each noun and the event bus.

One ``Engine`` per daemon process; API handlers receive it as their first argument.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from stackr.engine.containers import ContainerManager
from stackr.engine.events import EventBus
from stackr.engine.execs import ExecManager
from stackr.engine.networks import NetworkManager
from stackr.engine.records import engine_root
from stackr.engine.volumes import VolumeManager


def _engine_id() -> str:
    """A stable id of this engine's state (Docker's ``ID`` in /info)."""
    path = engine_root() / "engine-id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine_id = os.urandom(16).hex()
        path.write_text(engine_id + "\n")
        return engine_id


class Engine:
    def __init__(self, *, verbose: bool = False) -> None:
        self.verbose = verbose
        self.started_monotonic = time.monotonic()
        self.engine_id = _engine_id()
        self.stopping = threading.Event()
        self.events = EventBus()
        self.containers = ContainerManager(self.events, self.stopping)
        self.volumes = VolumeManager(self.events, self.containers.users_of_volume)
        self.containers.volume_path = self.volumes.ensure_mountpoint
        self.execs = ExecManager(self.containers)
        self._images: Any = None
        self._images_lock = threading.Lock()
        self.containers.image_store = self.images
        self.networks = NetworkManager(self.events, self.containers.while_stopped)
        self.containers.networks = self.networks

    def uptime(self) -> float:
        return time.monotonic() - self.started_monotonic

    def images(self) -> Any:
        """The image store, opened on first use (keeps the engine's start lean)."""
        with self._images_lock:
            if self._images is None:
                from stackr.images import ImageStore

                self._images = ImageStore(in_use=self.containers.image_ids_in_use)
            return self._images

    def image_count(self) -> int:
        return len(self.images().list())

    def start(self) -> None:
        """Re-adopt what the records and the kernel say is still running."""
        self.networks.start()
        self.containers.adopt()

    def stop(self) -> None:
        """Stop serving streams and supervising; containers keep running."""
        self.stopping.set()
        self.containers.detach()
        self.networks.close()
