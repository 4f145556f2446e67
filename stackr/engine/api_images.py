"""``/images``: list, inspect, tag, remove, prune, pull (progress stream), load (a tar body).

A thin layer over ``stackr.images.ImageStore``; image references may contain ``/``
and ``:``, so their path parameter takes the rest of the path (Docker's ``{name:.*}``).
The CLI's image verbs all come through here, so ``-H`` reaches another engine's store.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from stackr.engine.archive_fd import ARCHIVE_FD_UPGRADE
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
    deleted = []
    for line in lines:  # "Untagged: name" / "Deleted: sha256:…", as Docker's answer has them
        kind, _, value = line.partition(": ")
        deleted.append({kind: value})
    return Response(body={"ImagesDeleted": deleted, "SpaceReclaimed": 0})


@router.route("GET", "/images/{name*}/json")
def inspect(engine: Engine, request: Request) -> Response:
    """Docker's inspect shape (familiar names), the layers' lowerdirs under GraphDriver."""
    from stackr.images.inspect import inspect_document

    store = engine.images()
    record = store.resolve(request.params["name"])
    if record is None:
        raise not_found(f"no such image: {request.params['name']}")
    document = inspect_document(record, store.config_document(record), store.layer_dirs(record))
    return Response(body={**document, "Labels": dict(record.labels)})


@router.route("POST", "/images/{name*}/tag")
def tag(engine: Engine, request: Request) -> Response:
    """``docker tag``: ``repo`` (and ``tag``, default ``latest``) names the image too."""
    repository = request.query_str("repo")
    if not repository:
        raise bad_request("images/tag: repo is required")
    name = f"{repository}:{request.query_str('tag') or 'latest'}"
    store = engine.images()
    record = store.require(request.params["name"])
    store.tag(record.id, name)
    engine.events.publish("image", "tag", record.id, {"name": name})
    return Response(status=201)


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


@router.route("POST", "/images/create", raw_body=True)
def create(engine: Engine, request: Request) -> Response:
    """Docker's one path for two things: a pull (``fromImage``) or an import of a root
    file system sent as the body (``fromSrc=-``)."""
    if request.query_str("fromSrc") is not None:
        return _import(engine, request)
    name = request.query_str("fromImage")
    if not name:
        raise bad_request("images/create: fromImage (a pull) or fromSrc=- (an import) is required")
    tag = request.query_str("tag")
    reference = f"{name}:{tag}" if tag and "@" not in name and ":" not in name.rsplit("/")[-1] \
        else name
    store = engine.images()

    def work(progress: Any) -> list[str]:
        from stackr.images.reference import parse_reference

        record = store.pull(reference, progress)
        engine.events.publish("image", "pull", record.id, {"name": reference})
        # the digest under the repository pulled (an image may carry several)
        repository = parse_reference(reference).repository
        digests = [d for d in record.repo_digests if d.startswith(repository + "@")]
        return [f"Digest: {digests[0].rpartition('@')[2]}" if digests
                else f"Image: {record.id}", f"Status: Downloaded {reference}"]

    return Response(stream=json_lines(_progress_stream(work)))


def _import(engine: Engine, request: Request) -> Response:
    if request.query_str("fromSrc") != "-":
        raise bad_request("images/create: fromSrc must be '-' (the root file system as the body)")
    repository = request.query_str("repo")
    if not repository:
        raise bad_request("images/create: an import needs repo (and tag)")
    reference = f"{repository}:{request.query_str('tag') or 'latest'}"
    settings = parse_changes(request.query.get("changes", []))
    try:
        record = engine.images().import_rootfs(
            request.body_stream, reference, source_name=request.query_str("message") or "-",
            **settings,
        )
    except StackrError as error:  # the tar sent is at fault: a bad request, as for load
        raise bad_request(str(error)) from None
    engine.events.publish("image", "import", record.id, {"name": reference})
    return Response(stream=json_lines(iter([{"status": record.id}])))


def parse_changes(changes: list[str]) -> dict[str, Any]:
    """Docker's ``changes`` (Dockerfile instructions) that an import can apply: CMD and
    ENTRYPOINT (JSON or shell form), ENV, WORKDIR. Anything else is refused, not ignored."""
    import json

    settings: dict[str, Any] = {}
    env: list[str] = []
    for change in changes:
        keyword, _, argument = change.strip().partition(" ")
        keyword, argument = keyword.upper(), argument.strip()
        if keyword in ("CMD", "ENTRYPOINT"):
            try:
                words = json.loads(argument) if argument.startswith("[") else None
            except ValueError:
                raise bad_request(f"images/create: {keyword} {argument!r} is not a JSON "
                                  "list of strings") from None
            if words is None:
                words = ["/bin/sh", "-c", argument]
            if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
                raise bad_request(f"images/create: {keyword} must be a list of strings")
            settings["cmd" if keyword == "CMD" else "entrypoint"] = words
        elif keyword == "ENV":
            name, separator, value = argument.partition("=")
            if not separator:  # the old "ENV NAME value" form
                name, _, value = argument.partition(" ")
            if not name:
                raise bad_request(f"images/create: ENV {argument!r} names no variable")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            env.append(f"{name}={value}")
        elif keyword == "WORKDIR":
            settings["working_dir"] = argument
        else:
            raise bad_request(f"images/create: the change {keyword or change!r} is not "
                              "supported on import (CMD, ENTRYPOINT, ENV, WORKDIR are)")
    if env:
        settings["env"] = env
    return settings


@router.route("POST", "/images/load", raw_body=True)
def load(engine: Engine, request: Request) -> Response:
    """Docker's load: the archive as the body. A local client may instead ask to pass
    the open archive itself ("Upgrade: stackr-archive-fd"): see ``archive_fd``."""
    if request.headers.get("upgrade", "").lower() == ARCHIVE_FD_UPGRADE:
        return Response(upgrade=lambda connection, _reader: _load_passed(engine, connection))
    # The body is read now, in this thread: the stream below must not outlive it.
    try:
        lines = _load_lines(engine, request.body_stream)
    except StackrError as error:
        raise bad_request(str(error)) from None
    return Response(stream=json_lines(iter(lines)))


def _load_lines(engine: Engine, archive: Any) -> list[JsonObject]:
    """Load the archive read from the stream ``archive``; the answer's lines."""
    from stackr.images.errors import SENT_ARCHIVE_LABEL

    records = engine.images().load_archive(archive, label=SENT_ARCHIVE_LABEL)
    lines: list[JsonObject] = []
    for record in records:
        for name in record.repo_tags:
            engine.events.publish("image", "load", record.id, {"name": name})
            lines.append({"stream": f"Loaded image: {name}\n"})
        if not record.repo_tags:  # Docker's line for an image that carries no name
            engine.events.publish("image", "load", record.id, {"name": record.id})
            lines.append({"stream": f"Loaded image ID: {record.id}\n"})
    return lines


def _load_passed(engine: Engine, connection: Any) -> None:
    """After the 101: receive the archive's file descriptor, load from it, answer as
    the body-streamed request would have been (412: no usable descriptor, nothing read;
    the client then sends the body instead)."""
    import json

    from stackr.engine.archive_fd import PassedFdError, receive_archive_fd, send_answer

    try:
        fd = receive_archive_fd(connection)
    except PassedFdError as error:
        send_answer(connection, 412, json.dumps({"message": str(error)}).encode() + b"\n")
        return
    try:
        # unbuffered: the store reads in large pieces; each read goes straight to the file
        with open(fd, "rb", buffering=0) as archive:
            lines = _load_lines(engine, archive)
    except StackrError as error:
        send_answer(connection, 400, json.dumps({"message": str(error)}).encode() + b"\n")
        return
    except Exception as error:  # a bug: answer, log, as the server does for any handler
        import sys
        import traceback

        traceback.print_exc(file=sys.stderr)
        message = f"internal error: {type(error).__name__}: {error}"
        send_answer(connection, 500, json.dumps({"message": message}).encode() + b"\n")
        return
    send_answer(connection, 200, b"".join(json_lines(iter(lines))))
