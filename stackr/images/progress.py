"""Per-layer progress of a pull or load, as events the caller renders (the library never prints).

Events may be delivered from worker threads (layers download concurrently); a callback
must be thread-safe. ``render_event`` gives Docker's one-line text for an event.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass


class Phase(enum.Enum):
    RESOLVING = "Resolving"
    WAITING = "Waiting"
    EXISTS = "Already exists"
    DOWNLOADING = "Downloading"
    VERIFYING = "Verifying checksum"
    EXTRACTING = "Extracting"
    DONE = "Pull complete"
    LOADED = "Loaded"


@dataclass(frozen=True)
class ProgressEvent:
    """One step of one layer (``layer`` is the blob digest) or of the whole image (``layer=""``)."""

    phase: Phase
    layer: str = ""
    current: int = 0
    total: int = 0
    detail: str = ""


ProgressCallback = Callable[[ProgressEvent], None]


def short_digest(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def render_event(event: ProgressEvent) -> str:
    subject = short_digest(event.layer) if event.layer else event.detail
    text = f"{subject}: {event.phase.value}"
    if event.phase is Phase.DOWNLOADING and event.total:
        text += f" {event.current / 1e6:.1f}MB/{event.total / 1e6:.1f}MB"
    return text
