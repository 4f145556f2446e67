"""``/volumes``: create, list, inspect, remove named volumes."""

from __future__ import annotations

from stackr.engine.routing import Request, Response, Router
from stackr.engine.state import Engine

router = Router()


@router.route("POST", "/volumes/create")
def create(engine: Engine, request: Request) -> Response:
    return Response(201, engine.volumes.create(request.json()))


@router.route("GET", "/volumes")
def list_volumes(engine: Engine, request: Request) -> Response:
    volumes = engine.volumes.list(request.query_filters())
    return Response(body={"Volumes": volumes, "Warnings": []})


@router.route("GET", "/volumes/{name}")
def inspect(engine: Engine, request: Request) -> Response:
    return Response(body=engine.volumes.inspect(request.params["name"]))


@router.route("DELETE", "/volumes/{name}")
def remove(engine: Engine, request: Request) -> Response:
    engine.volumes.remove(request.params["name"], force=request.query_bool("force"))
    return Response(204)


@router.route("POST", "/volumes/prune")
def prune(engine: Engine, request: Request) -> Response:
    removed = engine.volumes.prune(request.query_filters())
    return Response(body={"VolumesDeleted": removed, "SpaceReclaimed": 0})
