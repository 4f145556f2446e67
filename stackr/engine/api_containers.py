"""``/containers`` and ``/exec``: lifecycle, inspection, logs, wait, top, stats, exec."""

from __future__ import annotations

import time
from collections.abc import Iterator

from stackr.engine.attach import is_terminal_size
from stackr.engine.logs import LogQuery, parse_rfc3339_ns
from stackr.engine.routing import (
    ApiError,
    JsonObject,
    Request,
    Response,
    Router,
    bad_request,
    json_lines,
)
from stackr.engine.state import Engine

router = Router()


def _timeout(request: Request) -> int | None:
    return request.query_int("t", None)


@router.route("POST", "/containers/create")
def create(engine: Engine, request: Request) -> Response:
    return Response(201, engine.containers.create(request.json(), request.query_str("name")))


@router.route("GET", "/containers/json")
def list_containers(engine: Engine, request: Request) -> Response:
    return Response(body=engine.containers.list(request.query_bool("all"),
                                                request.query_filters()))


@router.route("POST", "/containers/prune")
def prune(engine: Engine, request: Request) -> Response:
    """Remove stopped containers (``label`` filters narrow the set)."""
    filters = request.query_filters()
    if set(filters) - {"label"}:
        raise bad_request("containers/prune: only label filters are supported")
    removed = []
    for summary in engine.containers.list(True, {**filters, "status": ["exited", "created"]}):
        try:
            engine.containers.remove(summary["Id"], force=False)
        except ApiError:
            continue  # started meanwhile
        removed.append(summary["Id"])
    return Response(body={"ContainersDeleted": removed, "SpaceReclaimed": 0})


@router.route("GET", "/containers/{id}/json")
def inspect(engine: Engine, request: Request) -> Response:
    return Response(body=engine.containers.inspect(request.params["id"]))


@router.route("POST", "/containers/{id}/start")
def start(engine: Engine, request: Request) -> Response:
    started = engine.containers.start(request.params["id"])
    return Response(204 if started else 304)


@router.route("POST", "/containers/{id}/stop")
def stop(engine: Engine, request: Request) -> Response:
    stopped = engine.containers.stop(request.params["id"], _timeout(request))
    return Response(204 if stopped else 304)


@router.route("POST", "/containers/{id}/restart")
def restart(engine: Engine, request: Request) -> Response:
    engine.containers.restart(request.params["id"], _timeout(request))
    return Response(204)


@router.route("POST", "/containers/{id}/kill")
def kill(engine: Engine, request: Request) -> Response:
    engine.containers.kill(request.params["id"], request.query_str("signal") or "SIGKILL")
    return Response(204)


@router.route("POST", "/containers/{id}/pause")
def pause(engine: Engine, request: Request) -> Response:
    engine.containers.pause(request.params["id"])
    return Response(204)


@router.route("POST", "/containers/{id}/unpause")
def unpause(engine: Engine, request: Request) -> Response:
    engine.containers.unpause(request.params["id"])
    return Response(204)


@router.route("DELETE", "/containers/{id}")
def remove(engine: Engine, request: Request) -> Response:
    engine.containers.remove(request.params["id"], request.query_bool("force"))
    return Response(204)


@router.route("POST", "/containers/{id}/wait")
def wait(engine: Engine, request: Request) -> Response:
    condition = request.query_str("condition") or "not-running"
    return Response(stream=json_lines(engine.containers.wait(request.params["id"], condition)))


def _since(request: Request, name: str) -> int | None:
    text = request.query_str(name)
    if not text or text == "0":
        return None
    try:
        return int(float(text) * 1_000_000_000)
    except ValueError:
        pass
    try:
        return parse_rfc3339_ns(text)
    except ValueError:
        raise bad_request(f"{name}={text!r} is neither a unix time nor RFC 3339") from None


def _text_lines(entries: Iterator[JsonObject | None], timestamps: bool) -> Iterator[bytes]:
    for entry in entries:
        if entry is None:
            yield b""
            continue
        prefix = f"{entry['time']} " if timestamps else ""
        yield (prefix + entry["log"]).encode()


@router.route("GET", "/containers/{id}/logs")
def container_logs(engine: Engine, request: Request) -> Response:
    tail_text = request.query_str("tail") or "all"
    if tail_text == "all":
        tail = None
    else:
        tail = request.query_int("tail")
        if tail is None or tail < 0:
            raise bad_request(f"tail={tail_text!r} must be a number or 'all'")
    query = LogQuery(
        stdout=request.query_bool("stdout", True), stderr=request.query_bool("stderr", True),
        tail=tail, since_ns=_since(request, "since"), until_ns=_since(request, "until"),
    )
    entries = engine.containers.logs(request.params["id"], query, request.query_bool("follow"))
    if request.query_str("format") == "json":
        return Response(stream=json_lines(entries))
    return Response(stream=_text_lines(entries, request.query_bool("timestamps")),
                    content_type="text/plain; charset=utf-8")


@router.route("GET", "/containers/{id}/top")
def top(engine: Engine, request: Request) -> Response:
    return Response(body=engine.containers.top(request.params["id"]))


def _stats_samples(engine: Engine, ref: str) -> Iterator[JsonObject | None]:
    """A sample per second while the container runs (Docker's stream=true)."""
    while not engine.stopping.is_set():
        try:
            yield engine.containers.stats(ref)
        except ApiError:  # it stopped or went away: the stream ends
            return
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            if engine.stopping.wait(0.25):
                return
            yield None


@router.route("GET", "/containers/{id}/stats")
def stats(engine: Engine, request: Request) -> Response:
    if request.query_bool("stream", True):
        engine.containers.running(request.params["id"])  # 404/409 before the stream starts
        return Response(stream=json_lines(_stats_samples(engine, request.params["id"])))
    return Response(body=engine.containers.stats(request.params["id"]))


@router.route("POST", "/containers/{id}/attach")
def container_attach(engine: Engine, request: Request) -> Response:
    """Docker's hijacked attach (stream=1): the container's output from now on, and
    with stdin=1 the client's input to its terminal or stdin."""
    if request.headers.get("upgrade", "").lower() != "tcp":
        raise bad_request("attach: upgrade the connection (Connection: Upgrade, Upgrade: tcp)")
    supervised = engine.containers.get(request.params["id"])
    config = supervised.record["Config"]
    with_stdin = request.query_bool("stdin")
    if with_stdin and not (config.get("OpenStdin") or config.get("Tty")):
        raise bad_request(f"container {supervised.name}: its stdin is not open (OpenStdin)")

    def is_alive() -> bool:
        return supervised.state.get("Status") in ("created", "running", "restarting",
                                                   "paused")

    return Response(upgrade=supervised.attachments.session(
        bool(config.get("Tty")), with_stdin, is_alive))


def _terminal_size(request: Request) -> tuple[int, int]:
    rows, columns = request.query_int("h"), request.query_int("w")
    if rows is None or columns is None or not is_terminal_size([rows, columns]):
        raise bad_request("resize: give h and w (rows and columns)")
    return rows, columns


@router.route("POST", "/containers/{id}/resize")
def container_resize(engine: Engine, request: Request) -> Response:
    engine.containers.get(request.params["id"]).attachments.resize(*_terminal_size(request))
    return Response(200, {})


@router.route("POST", "/containers/{id}/exec")
def exec_create(engine: Engine, request: Request) -> Response:
    return Response(201, {"Id": engine.execs.create(request.params["id"], request.json())})


@router.route("POST", "/exec/{id}/start")
def exec_start(engine: Engine, request: Request) -> Response:
    body = request.json()
    if body.get("Detach"):
        engine.execs.start_detached(request.params["id"])
        return Response(200, {})
    if request.headers.get("upgrade", "").lower() == "tcp":
        return Response(upgrade=engine.execs.attach(request.params["id"]))
    return Response(stream=json_lines(engine.execs.start(request.params["id"])))


@router.route("POST", "/exec/{id}/resize")
def exec_resize(engine: Engine, request: Request) -> Response:
    engine.execs.get(request.params["id"]).resize(*_terminal_size(request))
    return Response(200, {})


@router.route("GET", "/exec/{id}/json")
def exec_inspect(engine: Engine, request: Request) -> Response:
    return Response(body=engine.execs.get(request.params["id"]).to_json())
