"""``/containers``: create, start, stop, restart, kill, remove, inspect, list, logs, wait."""

from __future__ import annotations

from stackr.engine.routing import Request, Response, Router
from stackr.engine.state import Engine

router = Router()


@router.route("GET", "/containers/json")
def list_containers(engine: Engine, request: Request) -> Response:
    return Response(body=[])
