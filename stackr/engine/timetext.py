"""RFC 3339 times and durations as text, without the ``datetime`` module.

The engine writes a time on every log line and every record; ``datetime`` (its C
extension and module) costs the long-lived engine ~0.25 MiB of resident memory for
what ``time.gmtime`` and a day count do. Results are the same as ``datetime``'s
(``tests/unit/engine/test_timetext.py`` compares them).
"""

from __future__ import annotations

import re
import time

_RFC3339 = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d\d)-(?P<day>\d\d)T(?P<hour>\d\d):(?P<minute>\d\d):"
    r"(?P<second>\d\d)(?:\.(?P<fraction>\d+))?(?P<offset>Z|[+-]\d\d:\d\d)?"
)
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def rfc3339(timestamp_ns: int) -> str:
    """``2026-11-28T21:37:58.123456789Z``: UTC, nanoseconds always written."""
    seconds, nanos = divmod(timestamp_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(seconds)) + f"{nanos:09d}Z"


def rfc3339_seconds(seconds: float) -> str:
    """``2026-11-28T21:37:58Z``: UTC, whole seconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(seconds)))


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_since_epoch(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a proleptic Gregorian date (Hinnant's days_from_civil)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def parse_rfc3339_ns(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time, with ``Z``, an offset (image
    configs say ``+00:00``) or none (UTC), and up to nanosecond precision."""
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an RFC 3339 time")
    year, month, day = int(match["year"]), int(match["month"]), int(match["day"])
    hour, minute, second = int(match["hour"]), int(match["minute"]), int(match["second"])
    if not 1 <= month <= 12 or not year >= 1:
        raise ValueError(f"{text!r} is not an RFC 3339 time: no such month")
    month_days = 29 if month == 2 and _is_leap(year) else _DAYS_IN_MONTH[month - 1]
    if not 1 <= day <= month_days or hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"{text!r} is not an RFC 3339 time: no such day or time")
    offset_seconds = 0
    offset = match["offset"] or "Z"
    if offset != "Z":
        offset_hours, offset_minutes = int(offset[1:3]), int(offset[4:6])
        if offset_hours > 23 or offset_minutes > 59:
            raise ValueError(f"{text!r} is not an RFC 3339 time: bad offset")
        offset_seconds = (offset_hours * 3600 + offset_minutes * 60) * (
            -1 if offset[0] == "-" else 1)
    seconds = (_days_since_epoch(year, month, day) * 86400 + hour * 3600 + minute * 60
               + second - offset_seconds)
    fraction = (match["fraction"] or "0").ljust(9, "0")[:9]
    return seconds * 1_000_000_000 + int(fraction)


def duration_text(seconds: int) -> str:
    """``str(datetime.timedelta(seconds=...))`` for whole non-negative seconds:
    ``0:05:07``, ``1 day, 2:03:04``, ``3 days, 0:00:00``."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours}:{minutes:02d}:{secs:02d}"
    if not days:
        return clock
    return f"{days} day{'s' if abs(days) != 1 else ''}, {clock}"
