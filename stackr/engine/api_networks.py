"""``/networks``: create, list, inspect, remove bridge networks."""

from __future__ import annotations

from stackr.engine.routing import Request, Response, Router
from stackr.engine.state import Engine

router = Router()


@router.route("POST", "/networks/create")
def create(engine: Engine, request: Request) -> Response:
    return Response(201, engine.networks.create(request.json()))


@router.route("GET", "/networks")
def list_networks(engine: Engine, request: Request) -> Response:
    return Response(body=engine.networks.list(request.query_filters()))


@router.route("GET", "/networks/{id}")
def inspect(engine: Engine, request: Request) -> Response:
    return Response(body=engine.networks.inspect(request.params["id"]))


@router.route("DELETE", "/networks/{id}")
def remove(engine: Engine, request: Request) -> Response:
    engine.networks.remove(request.params["id"])
    return Response(204)
