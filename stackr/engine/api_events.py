"""``/events``: the engine's events as a stream of JSON lines (Docker's shape)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from stackr.engine.events import Subscription
from stackr.engine.routing import JsonObject, Request, Response, Router, bad_request, json_lines
from stackr.engine.state import Engine

router = Router()

TICK_SECONDS = 0.5


def _time_nano(request: Request, name: str) -> int | None:
    text = request.query_str(name)
    if not text:
        return None
    try:
        return int(float(text) * 1_000_000_000)
    except ValueError:
        raise bad_request(f"{name}={text!r} is not a unix timestamp") from None


def _follow(subscription: Subscription, until_nano: int | None) -> Iterator[JsonObject | None]:
    try:
        while True:
            if until_nano is not None and time.time_ns() >= until_nano:
                return
            event = subscription.next(TICK_SECONDS)
            if event is None:
                yield None  # a tick: lets the server see a client that left
                continue
            if until_nano is not None and event.time_nano > until_nano:
                return
            yield event.to_json()
    finally:
        subscription.close()


@router.route("GET", "/events")
def events(engine: Engine, request: Request) -> Response:
    since = _time_nano(request, "since")
    until = _time_nano(request, "until")
    subscription = engine.events.subscribe(request.query_filters(), since)
    return Response(stream=json_lines(_follow(subscription, until)))
