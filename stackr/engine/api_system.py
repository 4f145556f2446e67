"""``/_ping``, ``/version``, ``/info``: what the engine is and what the host offers."""

from __future__ import annotations

import os
import sys

from stackr import __version__
from stackr.engine import hostinfo
from stackr.engine.routing import Request, Response, Router
from stackr.engine.state import Engine
from stackr.paths import run_root, state_root

API_VERSION = "1.43"  # the Docker Engine API version our paths are modelled on

router = Router()


@router.route("GET", "/_ping")
def ping(engine: Engine, request: Request) -> Response:
    return Response(raw=b"OK", content_type="text/plain; charset=utf-8")


@router.route("GET", "/version")
def version(engine: Engine, request: Request) -> Response:
    uname = os.uname()
    return Response(body={
        "Version": __version__,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": API_VERSION,
        "Os": "linux",
        "Arch": uname.machine,
        "KernelVersion": uname.release,
        "PythonVersion": sys.version.split()[0],
        "Pid": os.getpid(),
    })


@router.route("GET", "/info")
def info(engine: Engine, request: Request) -> Response:
    counts = engine.containers.counts()
    body = hostinfo.host_facts()
    body.update({
        "ID": engine.engine_id,
        "ServerVersion": __version__,
        "Containers": counts["total"],
        "ContainersRunning": counts["running"],
        "ContainersPaused": counts["paused"],
        "ContainersStopped": counts["stopped"],
        "Images": engine.image_count(),
        "Volumes": len(engine.volumes.records.ids()),
        "Networks": len(engine.networks.records.ids()),
        "DockerRootDir": str(state_root()),
        "StackrRoot": str(state_root()),
        "StackrRun": str(run_root()),
        "EngineSocket": str(run_root() / "engine.sock"),
        "EnginePid": os.getpid(),
        "EngineUptimeSeconds": round(engine.uptime(), 3),
        "Driver": "overlay",
        "LoggingDriver": "json-file",
        "Runtime": "stackr",
    })
    return Response(body=body)
