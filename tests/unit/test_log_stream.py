"""Each container's log stream ends with an ``Ended`` event, after all its lines, so a
reader (``stackr logs``) stops as soon as the last stream is over, without polling."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from stackr.commands.log_stream import Ended, Exited, LogLine, LogStreams


class FakeClient:
    def __init__(self, lines: dict[str, list[str]], fail: frozenset[str] = frozenset()
                 ) -> None:
        self.lines = lines
        self.fail = fail

    def container_logs(self, container: str, **_options: Any) -> Iterator[dict[str, str]]:
        for text in self.lines[container]:
            yield {"log": text}
        if container in self.fail:
            raise ConnectionError("gone")

    def container_wait(self, container: str) -> dict[str, int]:
        return {"StatusCode": 3}

    def close(self) -> None:
        pass


def _events_until_ended(streams: LogStreams, count: int) -> list[object]:
    events: list[object] = []
    while sum(isinstance(event, Ended) for event in events) < count:
        events.append(streams.events.get(timeout=5))
    return events


def test_a_stream_ends_after_its_lines() -> None:
    client = FakeClient({"a": ["one\n", "two\n"], "b": []})
    streams = LogStreams(lambda: client)
    streams.follow("web-1", "a", follow=False, tail=None)
    streams.follow("db-1", "b", follow=False, tail=None)
    events = _events_until_ended(streams, 2)
    web = [event for event in events if getattr(event, "name", None) == "web-1"]
    assert web == [LogLine("web-1", "one\n"), LogLine("web-1", "two\n"), Ended("web-1")]
    assert [event for event in events if getattr(event, "name", None) == "db-1"] == [
        Ended("db-1")]
    assert streams.events.empty()


def test_a_failed_stream_and_a_watched_exit_still_end() -> None:
    client = FakeClient({"a": ["one\n"], "b": ["x\n"]}, fail=frozenset({"a"}))
    streams = LogStreams(lambda: client)
    streams.follow("web-1", "a", follow=True, tail=None, watch_exit=True)
    streams.follow("job-1", "b", follow=True, tail=None, watch_exit=True)
    events = _events_until_ended(streams, 2)
    web = [event for event in events if getattr(event, "name", None) == "web-1"]
    assert web == [LogLine("web-1", "one\n"), LogLine("web-1", "(logs ended: gone)\n"),
                   Exited("web-1", -1), Ended("web-1")]
    job = [event for event in events if getattr(event, "name", None) == "job-1"]
    assert job == [LogLine("job-1", "x\n"), Exited("job-1", 3), Ended("job-1")]
