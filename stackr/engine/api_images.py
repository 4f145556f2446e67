"""``/images``: list, inspect, remove, pull (progress stream), load (a tar body).

A thin layer over ``stackr.images.ImageStore``; image references may contain ``/``
and ``:``, so their path parameter takes the rest of the path (Docker's ``{name:.*}``).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from stackr.engine.routing import (
    JsonObject,
    Request,
    Response,
    Router,
    bad_request,
    json_lines,
    not_found,
)
from stackr.engine.state import Engine
from stackr.errors import StackrError

router = Router()


def _summary(record: Any) -> JsonObject:
    from stackr.engine.containers import _parse_time

    return {
        "Id": record.id,
        "RepoTags": list(record.repo_tags),
        "RepoDigests": list(record.repo_digests),
        "Created": int(_parse_time(record.created)) if record.created else 0,
        "Size": record.size,
        "Labels": dict(record.labels),
    }


@router.route("GET", "/images/json")
def list_images(engine: Engine, request: Request) -> Response:
    return Response(body=[_summary(record) for record in engine.images().list()])


@router.route("POST", "/images/prune")
def prune(engine: Engine, request: Request) -> Response:
    """Untagged images no container uses, unused layers, leftovers."""
    lines = engine.images().prune()
    deleted = [{"Deleted": line.partition(": ")[2]} for line in lines]
    return Response(body={"ImagesDeleted": deleted, "SpaceReclaimed": 0})


@router.route("GET", "/images/{name*}/json")
def inspect(engine: Engine, request: Request) -> Response:
    store = engine.images()
    record = store.resolve(request.params["name"])
    if record is None:
        raise not_found(f"no such image: {request.params['name']}")
    document = store.config_document(record)
    return Response(body={
        **_summary(record),
        "Created": record.created,
        "Architecture": record.architecture,
        "Os": record.os,
        "Config": document.get("config") or {},
        "RootFS": {"Type": "layers", "Layers": list(record.diff_ids)},
    })


@router.route("DELETE", "/images/{name*}")
def remove(engine: Engine, request: Request) -> Response:
    lines = engine.images().remove(request.params["name"], force=request.query_bool("force"))
    answer = []
    for line in lines:
        kind, _, value = line.partition(": ")
        answer.append({kind: value})
    return Response(body=answer)


def _progress_stream(work: Any) -> Iterator[JsonObject | None]:
    """Run ``work(progress)`` in a thread; yield its progress events, then the outcome."""
    events: queue.Queue[JsonObject | BaseException | None] = queue.Queue()

    def progress(event: Any) -> None:
        item: JsonObject = {"status": event.phase.value}
        if event.layer:
            item["id"] = event.layer.removeprefix("sha256:")[:12]
        if event.total:
            item["progressDetail"] = {"current": event.current, "total": event.total}
        if event.detail:
            item["detail"] = event.detail
        events.put(item)

    def run() -> None:
        try:
            for line in work(progress):
                events.put({"status": line})
            events.put(None)
        except BaseException as error:
            events.put(error)

    threading.Thread(target=run, name="image-work", daemon=True).start()
    while True:
        try:
            item = events.get(timeout=0.5)
        except queue.Empty:
            yield None
            continue
        if item is None:
            return
        if isinstance(item, BaseException):
            message = str(item) if isinstance(item, StackrError) else f"internal error: {item!r}"
            yield {"error": message, "errorDetail": {"message": message}}
            return
        yield item


@router.route("POST", "/images/create")
def pull(engine: Engine, request: Request) -> Response:
    name = request.query_str("fromImage")
    if not name:
        raise bad_request("images/create: fromImage is required (import is not supported)")
    tag = request.query_str("tag")
    reference = f"{name}:{tag}" if tag and "@" not in name and ":" not in name.rsplit("/")[-1] \
        else name
    store = engine.images()

    def work(progress: Any) -> list[str]:
        record = store.pull(reference, progress)
        engine.events.publish("image", "pull", record.id, {"name": reference})
        return [f"Digest: {record.repo_digests[0].split('@')[1]}" if record.repo_digests
                else f"Image: {record.id}", f"Status: Downloaded {reference}"]

    return Response(stream=json_lines(_progress_stream(work)))


@router.route("POST", "/images/load", raw_body=True)
def load(engine: Engine, request: Request) -> Response:
    store = engine.images()
    # The body is read now, in this thread: the stream below must not outlive it.
    try:
        records = store.load_archive(request.body_stream)
    except StackrError as error:
        raise bad_request(f"images/load: {error}") from None
    lines = []
    for record in records:
        names = record.repo_tags or (record.id,)
        for name in names:
            engine.events.publish("image", "load", record.id, {"name": name})
            lines.append({"stream": f"Loaded image: {name}\n"})
    return Response(stream=json_lines(iter(lines)))
