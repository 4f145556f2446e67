"""The build cache: step key → the layer that step produced.

A step's key is the sha256 of its parent layers (the content digests of the layers it
runs on, which identify the parent filesystem exactly) and of everything that decides
its result: for RUN the argv, environment, working directory, user and network; for
COPY/ADD the destination, owner, mode and the content hash of what is copied. Metadata
instructions (ENV, LABEL, CMD, ...) make no layer and have no entry: they only matter
through the RUN environment, which is in the key.

One small JSON file per key under ``state_root()/build-cache`` (two-level fan-out),
written atomically (temp file + rename): concurrent builds never corrupt the index and
never lose each other's entries. A hit whose layer is gone from the store is a miss.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackr.paths import state_root
from stackr.statefile import write_atomic

CACHE_VERSION = 1


def cache_dir() -> Path:
    return state_root() / "build-cache"


def step_key(parent_layers: Sequence[str], step: Mapping[str, Any]) -> str:
    """The cache key of a step run on ``parent_layers`` (bottom first)."""
    document = {"v": CACHE_VERSION, "parent": list(parent_layers), "step": step}
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    layer: str | None  # None: the step changed nothing, so it added no layer


class BuildCache:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or cache_dir()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> CacheEntry | None:
        try:
            document = json.loads(self._path(key).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        if not isinstance(document, dict) or document.get("v") != CACHE_VERSION:
            return None
        layer = document.get("layer")
        return CacheEntry(layer if isinstance(layer, str) else None)

    def put(self, key: str, entry: CacheEntry) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        document = json.dumps({"v": CACHE_VERSION, "layer": entry.layer})
        write_atomic(path, document.encode())

    def clear(self) -> int:
        """Remove every entry (``stackr builder prune``); returns how many."""
        removed = 0
        if not self.directory.is_dir():
            return 0
        for fan in self.directory.iterdir():
            for entry in fan.glob("*.json"):
                entry.unlink()
                removed += 1
        return removed
