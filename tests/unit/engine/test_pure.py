"""Pure parts of the engine: router, records, restart policy, events, health, logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stackr.engine import logs
from stackr.engine.events import EventBus
from stackr.engine.health import HealthConfig, HealthState
from stackr.engine.records import RecordStore, is_valid_name, write_json_atomic
from stackr.engine.restart import Backoff, PolicyError, RestartPolicy
from stackr.engine.routing import ApiError, Request, Response, Router
from stackr.errors import StateError

# -- routing --------------------------------------------------------------------------


def _router() -> Router:
    router = Router()
    router.add("GET", "/containers/{id}/json", lambda e, r: Response(body=r.params))
    router.add("POST", "/containers/create", lambda e, r: Response(201))
    router.add("GET", "/_ping", lambda e, r: Response(raw=b"OK"))
    return router


def test_router_extracts_parameters_and_strips_version_prefix() -> None:
    route, request = _router().resolve("GET", "/v1.43/containers/abc%2Fdef/json?all=1")
    assert request.params == {"id": "abc/def"}
    assert request.query == {"all": ["1"]}
    assert route.handler(None, request).body == {"id": "abc/def"}  # type: ignore[arg-type]


def test_greedy_parameters_take_the_rest_of_the_path() -> None:
    router = Router()
    router.add("GET", "/images/json", lambda e, r: Response())
    router.add("GET", "/images/{name*}/json", lambda e, r: Response())
    router.add("DELETE", "/images/{name*}", lambda e, r: Response())
    route, request = router.resolve("GET", "/images/library/busybox:1.36/json")
    assert route.pattern == "/images/{name*}/json"
    assert request.params == {"name": "library/busybox:1.36"}
    assert router.resolve("GET", "/images/json")[0].pattern == "/images/json"
    assert router.resolve("DELETE", "/images/a/b")[1].params == {"name": "a/b"}


def test_router_404_and_405() -> None:
    with pytest.raises(ApiError) as caught:
        _router().resolve("GET", "/containers/a/b/json")
    assert caught.value.status == 404
    with pytest.raises(ApiError) as caught:
        _router().resolve("DELETE", "/_ping")
    assert caught.value.status == 405


def test_request_query_helpers() -> None:
    request = Request("GET", "/", {"a": ["1"], "b": ["no"], "n": ["x"],
                                   "filters": ['{"label": {"k=v": true}}']})
    assert request.query_bool("a") is True and request.query_bool("b") is False
    assert request.query_bool("missing", True) is True
    with pytest.raises(ApiError):
        request.query_int("n")
    assert request.query_filters() == {"label": ["k=v"]}
    with pytest.raises(ApiError):
        Request("GET", "/", {"filters": ["[1]"]}).query_filters()
    with pytest.raises(ApiError):
        Request("POST", "/", {}, b"[1]").json()
    assert Request("POST", "/", {}, b"  ").json() == {}


# -- records --------------------------------------------------------------------------


@pytest.mark.parametrize("name,ok", [
    ("web", True), ("a.b-c_d", True), ("..", False), ("a..b", False), ("/etc", False),
    ("a/b", False), ("", False), ("-x", False), ("x" * 128, True), ("x" * 129, False),
])
def test_record_names(name: str, ok: bool) -> None:
    assert is_valid_name(name) is ok


def test_record_store_round_trip_and_corruption(tmp_path: Path) -> None:
    store = RecordStore("things", root=tmp_path)
    store.put("one", {"A": 1})
    assert store.get("one") == {"A": 1}
    assert store.ids() == ["one"]
    assert list(tmp_path.joinpath("things").iterdir()) == [tmp_path / "things" / "one.json"]
    (tmp_path / "things" / "bad.json").write_text("{")
    with pytest.raises(StateError):
        store.get("bad")
    with pytest.raises(ValueError):
        store.put("../x", {})
    store.delete("one")
    store.delete("one")
    assert store.get("one") is None


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "records" / "r.json"
    write_json_atomic(path, {"v": 1})
    write_json_atomic(path, {"v": 2})
    assert json.loads(path.read_text()) == {"v": 2}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


# -- restart policies -----------------------------------------------------------------


def test_restart_policy_parsing() -> None:
    assert RestartPolicy.parse("on-failure:3") == RestartPolicy("on-failure", 3)
    assert RestartPolicy.from_docker({"Name": "", "MaximumRetryCount": 0}).name == "no"
    for bad in ("sometimes", "always:3", "on-failure:x", "on-failure:-1"):
        with pytest.raises(PolicyError):
            RestartPolicy.parse(bad)
    with pytest.raises(PolicyError):
        RestartPolicy.from_docker({"Name": "always", "MaximumRetryCount": 2})


@pytest.mark.parametrize("policy,exit_code,count,by_user,expected", [
    ("no", 1, 0, False, False),
    ("always", 0, 0, False, True),
    ("always", 1, 0, True, False),
    ("unless-stopped", 0, 5, False, True),
    ("on-failure", 0, 0, False, False),
    ("on-failure", 2, 100, False, True),
    ("on-failure:2", 1, 1, False, True),
    ("on-failure:2", 1, 2, False, False),
])
def test_should_restart(policy: str, exit_code: int, count: int, by_user: bool,
                        expected: bool) -> None:
    assert RestartPolicy.parse(policy).should_restart(exit_code, count, by_user) is expected


def test_backoff_doubles_caps_and_resets_after_ten_seconds() -> None:
    backoff = Backoff()
    delays = [backoff.next_delay(0.5) for _ in range(12)]
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8]
    assert delays[-1] == 60.0
    assert backoff.next_delay(10.0) == 0.1
    assert backoff.next_delay(1.0) == 0.2


# -- events ---------------------------------------------------------------------------


def test_event_filters_and_replay() -> None:
    clock = iter(range(1, 100))
    bus = EventBus(clock=lambda: next(clock))
    bus.publish("container", "start", "c1", {"name": "web", "io.stackr.project": "p"})
    bus.publish("volume", "create", "v1", {})
    bus.publish("container", "health_status: healthy", "c1", {"name": "web"})
    sub = bus.subscribe({"type": ["container"], "label": ["io.stackr.project=p"]}, since_nano=0)
    first = sub.next(0.1)
    assert first is not None and first.action == "start"
    assert sub.next(0.01) is None
    sub.close()
    health = bus.subscribe({"event": ["health_status"], "container": ["web"]}, since_nano=0)
    got = health.next(0.1)
    assert got is not None and got.action == "health_status: healthy"


def test_slow_subscriber_drops_oldest(monkeypatch: pytest.MonkeyPatch) -> None:
    import stackr.engine.events as events

    monkeypatch.setattr(events, "QUEUE_SIZE", 3)
    bus = EventBus()
    sub = bus.subscribe({})
    for index in range(5):
        bus.publish("volume", "create", f"v{index}")
    seen = []
    while (event := sub.next(0.01)) is not None:
        seen.append(event.actor_id)
    assert seen == ["v2", "v3", "v4"]


# -- health ---------------------------------------------------------------------------


def test_health_config_from_docker() -> None:
    config = HealthConfig.from_docker({"Test": ["CMD-SHELL", "exit 0"], "Interval": 2 * 10**9,
                                       "Retries": 2})
    assert config is not None
    assert config.args == ["/bin/sh", "-c", "exit 0"]
    assert config.interval == 2.0 and config.retries == 2 and config.timeout == 30.0
    assert HealthConfig.from_docker({"Test": ["NONE"]}) is None
    assert HealthConfig.from_docker(None) is None


def test_health_transitions() -> None:
    state = HealthState()
    entry: dict[str, object] = {}
    assert state.record(False, True, 2, entry) is False  # start period: not counted
    assert state.failing_streak == 0 and state.status == "starting"
    assert state.record(True, True, 2, entry) is True and state.status == "healthy"
    assert state.record(False, False, 2, entry) is False and state.failing_streak == 1
    assert state.record(False, False, 2, entry) is True and state.status == "unhealthy"
    assert state.record(True, False, 2, entry) is True and state.status == "healthy"
    for _ in range(10):
        state.record(True, False, 2, entry)
    assert len(state.log) == 5


# -- logs -----------------------------------------------------------------------------


def test_log_writer_lines_partials_and_rotation(tmp_path: Path) -> None:
    ticks = iter(range(10**9, 10**12, 10**9))
    tmp_path = tmp_path / "logs"
    path = tmp_path / "c.log"
    writer = logs.LogWriter(path, max_bytes=300, max_files=3, clock=lambda: next(ticks))
    writer.write("stdout", b"one\ntw")
    writer.write("stdout", b"o\n")
    writer.write("stderr", b"oops\n")
    writer.write("stdout", b"tail-without-newline")
    writer.flush_partial()
    entries, _, _ = logs.read_entries(path, logs.LogQuery())
    assert [(e["stream"], e["log"]) for e in entries] == [
        ("stdout", "one\n"), ("stdout", "two\n"), ("stderr", "oops\n"),
        ("stdout", "tail-without-newline"),
    ]
    only_err, _, _ = logs.read_entries(path, logs.LogQuery(stdout=False))
    assert [e["log"] for e in only_err] == ["oops\n"]
    last, _, _ = logs.read_entries(path, logs.LogQuery(tail=1))
    assert [e["log"] for e in last] == ["tail-without-newline"]
    since, _, _ = logs.read_entries(path, logs.LogQuery(since_ns=3 * 10**9))
    assert [e["log"] for e in since] == ["oops\n", "tail-without-newline"]
    for index in range(20):
        writer.write("stdout", f"line {index}\n".encode())
    writer.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["c.log", "c.log.1", "c.log.2"]
    assert all(p.stat().st_size <= 300 for p in tmp_path.iterdir())
    entries, _, _ = logs.read_entries(path, logs.LogQuery())
    assert entries[-1]["log"] == "line 19\n"
    numbers = [int(e["log"].split()[1]) for e in entries if e["log"].startswith("line")]
    assert numbers == sorted(numbers)


def test_long_lines_are_cut(tmp_path: Path) -> None:
    writer = logs.LogWriter(tmp_path / "c.log")
    writer.write("stdout", b"x" * (logs.MAX_LINE_BYTES * 2 + 10) + b"\n")
    writer.close()
    entries, _, _ = logs.read_entries(tmp_path / "c.log", logs.LogQuery())
    assert [len(e["log"]) for e in entries] == [logs.MAX_LINE_BYTES, logs.MAX_LINE_BYTES, 11]


def test_rfc3339_round_trip() -> None:
    moment = 1_700_000_000_123_456_789
    assert logs.parse_rfc3339_ns(logs.rfc3339(moment)) == moment


def test_a_follower_reads_across_rotations(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "logs" / "c.log"
    writer = logs.LogWriter(path, max_bytes=400, max_files=2)
    writer.write("stdout", b"first\n")
    running = threading.Event()
    running.set()
    stopping = threading.Event()
    follower = logs.follow_entries(path, logs.LogQuery(), writer, running.is_set, stopping,
                                   tick=0.05)
    seen = [next(follower)["log"]]  # type: ignore[index]
    for index in range(30):  # several rotations while the follower is behind
        writer.write("stdout", f"line {index}\n".encode())
    running.clear()
    seen += [entry["log"] for entry in follower if entry is not None]
    assert seen[0] == "first\n"
    numbers = [int(line.split()[1]) for line in seen[1:]]
    # the file being read is read to its end even once rotated away, then whatever is
    # still on disk; what rotated away unread is gone (max_files=2). In order, no
    # duplicates.
    assert numbers == sorted(set(numbers))
    assert numbers[0] == 0 and numbers[-1] == 29
