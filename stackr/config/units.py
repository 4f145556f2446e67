"""Durations and byte sizes, parsed as Compose parses them.

Compose reads durations with Go's ``time.ParseDuration`` (``1m30s``, ``1.5h``, ``300ms``)
and byte sizes with docker's ``units.RAMInBytes`` (``512m``, ``1g``, ``1.5GiB``: binary
multipliers, the ``b``/``i`` suffixes optional, case-insensitive). Plain numbers are
accepted too: seconds for a duration, bytes for a size (what interpolated or YAML
integers mean in practice).
"""

from __future__ import annotations

import re

_DURATION_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # Go accepts both micro signs
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_BYTE_SIZE = re.compile(r"^(\d+(?:\.\d+)?) ?([kmgtp])?(i)?(b)?$", re.IGNORECASE)
_BYTE_MULTIPLIER = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_duration(value: object) -> float:
    """``"1m30s"`` → ``90.0`` seconds. Raises ``ValueError`` for anything else."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(value)
        return float(value)
    if not isinstance(value, str):
        raise ValueError(value)
    text = value.strip()
    if text in ("0", "+0"):
        return 0.0
    if text.startswith("+"):
        text = text[1:]
    if not text:
        raise ValueError(value)
    seconds = 0.0
    position = 0
    while position < len(text):
        match = _DURATION_PART.match(text, position)
        if match is None:
            raise ValueError(value)
        seconds += float(match.group(1)) * _DURATION_UNIT_SECONDS[match.group(2)]
        position = match.end()
    return seconds


def parse_byte_size(value: object) -> int:
    """``"512m"`` → ``536870912``. Raises ``ValueError`` for anything else."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        if value < 0:
            raise ValueError(value)
        return value
    if isinstance(value, float):
        if value < 0:
            raise ValueError(value)
        return int(value)
    if not isinstance(value, str):
        raise ValueError(value)
    match = _BYTE_SIZE.match(value.strip())
    if match is None:
        raise ValueError(value)
    number, unit, binary, _ = match.groups()
    if binary and not unit:
        raise ValueError(value)  # "10ib" is no size
    return int(float(number) * _BYTE_MULTIPLIER[(unit or "").lower()])


def format_duration(seconds: float) -> str:
    """The shortest Compose-style text for a duration in seconds (``90`` → ``1m30s``)."""
    nanoseconds = round(seconds * 1e9)
    if nanoseconds == 0:
        return "0s"
    whole, fraction = divmod(nanoseconds, 1_000_000_000)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours}h" if hours else ""
    text += f"{minutes}m" if minutes else ""
    text += f"{secs}s" if secs else ""
    for unit, size in (("ms", 1_000_000), ("us", 1_000), ("ns", 1)):
        if fraction and fraction % size == 0:
            text += f"{fraction // size}{unit}"
            break
    return text
