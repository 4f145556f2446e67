"""The engine's event bus: what happened to which resource, in Docker's event shape.

Publishers (API handlers, the supervisor) call ``publish``; each ``/events`` client
holds a ``Subscription`` (a bounded queue). A slow subscriber loses its oldest events
rather than blocking the publisher: the engine must never stall on a client. The last
``HISTORY`` events are kept so ``/events?since=...`` can replay them.
"""

from __future__ import annotations

import collections
import contextlib
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

HISTORY = 1000
QUEUE_SIZE = 4096

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class Event:
    type: str  # container, volume, network, image
    action: str  # create, start, die, destroy, health_status: healthy, ...
    actor_id: str
    attributes: tuple[tuple[str, str], ...]
    time_nano: int

    def to_json(self) -> JsonObject:
        return {
            "Type": self.type,
            "Action": self.action,
            "Actor": {"ID": self.actor_id, "Attributes": dict(self.attributes)},
            "scope": "local",
            "time": self.time_nano // 1_000_000_000,
            "timeNano": self.time_nano,
        }

    def matches(self, filters: dict[str, list[str]]) -> bool:
        """Docker's event filters: ``type``, ``event`` (action), ``container``/``volume``
        (id or name), ``label`` (``key`` or ``key=value``). Values of one key are OR-ed,
        keys are AND-ed."""
        attributes = dict(self.attributes)
        for key, values in filters.items():
            if not values:
                continue
            if key == "type":
                ok = self.type in values
            elif key in ("event", "action"):
                ok = self.action in values or self.action.split(":")[0] in values
            elif key in ("container", "volume", "network", "image"):
                ok = self.type == key and (
                    self.actor_id in values or attributes.get("name") in values
                )
            elif key == "label":
                ok = any(_label_matches(attributes, value) for value in values)
            else:
                ok = False
            if not ok:
                return False
        return True


def _label_matches(labels: dict[str, str], wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    if key not in labels:
        return False
    return not sep or labels[key] == value


class Subscription:
    def __init__(self, bus: EventBus, filters: dict[str, list[str]]) -> None:
        self.bus = bus
        self.filters = filters
        self.queue: queue.Queue[Event] = queue.Queue(QUEUE_SIZE)

    def offer(self, event: Event) -> None:
        if not event.matches(self.filters):
            return
        while True:
            try:
                self.queue.put_nowait(event)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self.queue.get_nowait()  # drop the oldest: never block a publisher

    def next(self, timeout: float) -> Event | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self.bus.unsubscribe(self)


class EventBus:
    def __init__(self, clock: Any = time.time_ns) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._history: collections.deque[Event] = collections.deque(maxlen=HISTORY)
        self._subscribers: list[Subscription] = []

    def publish(
        self, type_: str, action: str, actor_id: str, attributes: dict[str, str] | None = None
    ) -> Event:
        event = Event(
            type_, action, actor_id, tuple(sorted((attributes or {}).items())), self._clock()
        )
        with self._lock:
            self._history.append(event)
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber.offer(event)
        return event

    def subscribe(
        self, filters: dict[str, list[str]], since_nano: int | None = None
    ) -> Subscription:
        subscription = Subscription(self, filters)
        with self._lock:
            if since_nano is not None:
                for event in self._history:
                    if event.time_nano >= since_nano:
                        subscription.offer(event)
            self._subscribers.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self._subscribers:
                self._subscribers.remove(subscription)

    def history(self) -> Iterator[Event]:
        with self._lock:
            return iter(list(self._history))
