"""Where each key and value of the loaded data came from, for file:line:col diagnostics.

Paths are tuples of mapping keys (str) and sequence indexes (int), e.g.
``("services", "web", "ports", 0)``. The loader records the position of every value and
of every mapping key; after merging, each path keeps the position of the file that
supplied its final value. Later phases ask for the nearest known position: a value that
canonicalisation created (``ports[0].target``) is reported at its origin (``ports[0]``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from stackr.errors import KeyPath, Location


class SourceMap:
    def __init__(
        self,
        values: Mapping[KeyPath, Location] | None = None,
        keys: Mapping[KeyPath, Location] | None = None,
    ) -> None:
        self._values: dict[KeyPath, Location] = dict(values or {})
        self._keys: dict[KeyPath, Location] = dict(keys or {})

    def set_value(self, path: KeyPath, location: Location) -> None:
        self._values[path] = location

    def set_key(self, path: KeyPath, location: Location) -> None:
        self._keys[path] = location

    def value(self, path: Sequence[str | int]) -> Location | None:
        """Position of the value at ``path``, or of its nearest ancestor."""
        key = tuple(path)
        while key:
            if key in self._values:
                return self._values[key]
            key = key[:-1]
        return self._values.get(())

    def key(self, path: Sequence[str | int]) -> Location | None:
        """Position of the mapping key that names ``path`` (for "unknown key" errors);
        falls back to the value's position."""
        found = self._keys.get(tuple(path))
        return found if found is not None else self.value(path)

    def items(self) -> list[tuple[KeyPath, Location]]:
        return sorted(self._values.items(), key=lambda item: item[1])

    def key_items(self) -> list[tuple[KeyPath, Location]]:
        return sorted(self._keys.items(), key=lambda item: item[1])
