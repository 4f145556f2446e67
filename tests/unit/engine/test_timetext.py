"""``timetext`` gives what ``datetime`` gave the engine before (it no longer imports it)."""

from __future__ import annotations

import datetime
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackr.engine.timetext import duration_text, parse_rfc3339_ns, rfc3339, rfc3339_seconds


def _datetime_rfc3339(timestamp_ns: int) -> str:
    seconds, nanos = divmod(timestamp_ns, 1_000_000_000)
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{nanos:09d}Z"


_RFC3339 = re.compile(
    r"(?P<seconds>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(?P<fraction>\d+))?"
    r"(?P<offset>Z|[+-]\d\d:\d\d)?"
)


def _datetime_parse(text: str) -> int:
    """The engine's parser before ``timetext`` (``logs.parse_rfc3339_ns``)."""
    match = _RFC3339.fullmatch(text.strip())
    assert match is not None
    offset = match["offset"] or "Z"
    moment = datetime.datetime.fromisoformat(
        match["seconds"] + ("+00:00" if offset == "Z" else offset)
    )
    fraction = (match["fraction"] or "0").ljust(9, "0")[:9]
    return int(moment.timestamp()) * 1_000_000_000 + int(fraction)


@given(st.integers(min_value=0, max_value=(2**33) * 10**9))
def test_rfc3339_matches_datetime(timestamp_ns: int) -> None:
    assert rfc3339(timestamp_ns) == _datetime_rfc3339(timestamp_ns)
    assert parse_rfc3339_ns(rfc3339(timestamp_ns)) == timestamp_ns


@given(moment=st.datetimes(min_value=datetime.datetime(1, 1, 2),
                           max_value=datetime.datetime(9999, 12, 30)),
       offset_minutes=st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59),
       fraction=st.sampled_from(["", "5", "123456", "123456789", "1234567891"]))
def test_parse_matches_datetime(moment: datetime.datetime, offset_minutes: int,
                                fraction: str) -> None:
    sign = "-" if offset_minutes < 0 else "+"
    offset = f"{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"
    text = moment.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0") + \
        (f".{fraction}" if fraction else "") + offset
    assert parse_rfc3339_ns(text) == _datetime_parse(text)


@pytest.mark.parametrize("text", [
    "2024-02-30T00:00:00Z", "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z",
    "0000-01-01T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:60:00Z",
    "2024-01-01T00:00:60Z", "2024-01-01T00:00:00+24:00", "2024-01-01", "yesterday",
])
def test_what_datetime_refused_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rfc3339_ns(text)


def test_leap_days_and_no_offset() -> None:
    assert parse_rfc3339_ns("2024-02-29T12:00:00") == \
        parse_rfc3339_ns("2024-02-29T12:00:00Z") == 1709208000 * 10**9
    assert parse_rfc3339_ns("2000-02-29T00:00:00.5Z") == 951782400 * 10**9 + 500_000_000


def test_rfc3339_seconds_as_volumes_wrote_it() -> None:
    moment = 1_764_365_878.9
    expected = datetime.datetime.fromtimestamp(int(moment), datetime.UTC).isoformat(
        timespec="seconds").replace("+00:00", "Z")
    assert rfc3339_seconds(moment) == expected


@given(st.integers(min_value=0, max_value=10**8))
def test_duration_text_matches_timedelta(seconds: int) -> None:
    assert duration_text(seconds) == str(datetime.timedelta(seconds=seconds))
