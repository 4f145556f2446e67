"""Requests, responses and the path router of the engine's HTTP API (pure: no sockets).

Paths follow the Docker Engine API's nouns (``/containers/{id}/start``); an optional
version prefix (``/v1.43/...``) is accepted and ignored so that a Docker-style client
can talk to the same paths. A path parameter never contains ``/``; handlers validate
ids further before they touch the disk.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

if TYPE_CHECKING:
    from stackr.engine.state import Engine

JsonObject = dict[str, Any]

_VERSION_PREFIX = re.compile(r"^/v\d+(\.\d+)?(?=/)")
_PARAM = re.compile(r"\{([a-z_]+)(\*?)\}")


class ApiError(Exception):
    """An error answered to the client as ``{"message": ...}`` with an HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def conflict(message: str) -> ApiError:
    return ApiError(409, message)


_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no", ""}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)
    body_stream: Any = None  # for raw_body routes: a binary file limited to the body
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case

    def json(self) -> JsonObject:
        """The body as a JSON object; an empty body is ``{}``."""
        if not self.body.strip():
            return {}
        try:
            value = json.loads(self.body)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise bad_request(f"request body is not valid JSON: {error}") from None
        if not isinstance(value, dict):
            raise bad_request("request body must be a JSON object")
        return value

    def query_str(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def query_bool(self, name: str, default: bool = False) -> bool:
        value = self.query_str(name)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise bad_request(f"query parameter {name}={value!r} is not a boolean")

    def query_int(self, name: str, default: int | None = None) -> int | None:
        value = self.query_str(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise bad_request(f"query parameter {name}={value!r} is not an integer") from None

    def query_filters(self) -> dict[str, list[str]]:
        """Docker's ``filters`` parameter: JSON ``{"label": ["a=b"], ...}`` (or map form)."""
        text = self.query_str("filters")
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise bad_request("filters is not valid JSON") from None
        if not isinstance(value, dict):
            raise bad_request("filters must be a JSON object")
        filters: dict[str, list[str]] = {}
        for key, item in value.items():
            if isinstance(item, list) and all(isinstance(v, str) for v in item):
                filters[str(key)] = list(item)
            elif isinstance(item, dict):  # {"label": {"a=b": true}}
                filters[str(key)] = [str(k) for k, on in item.items() if on]
            else:
                raise bad_request(f"filters.{key} must be a list of strings")
        return filters


@dataclass
class Response:
    """A JSON body, raw bytes, or a stream of chunks (sent with chunked encoding)."""

    status: int = 200
    body: Any = None
    raw: bytes | None = None
    stream: Iterable[bytes] | None = None
    content_type: str = "application/json"
    # Docker's hijacked connection: after "101 UPGRADED" the handler owns the socket
    # (called with the connected socket and the buffered reader of its input).
    upgrade: Callable[[Any, Any], None] | None = None

    def payload(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        return json.dumps(self.body, sort_keys=True).encode() + b"\n"


def json_lines(items: Iterator[JsonObject | None]) -> Iterator[bytes]:
    """Encode a stream of objects as JSON lines; ``None`` is a keep-alive tick (b"")."""
    for item in items:
        yield b"" if item is None else json.dumps(item, sort_keys=True).encode() + b"\n"


Handler = Callable[["Engine", Request], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    regex: re.Pattern[str]
    handler: Handler
    raw_body: bool = False  # the handler reads the body itself (Request.body_stream)


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: Handler, raw_body: bool = False) -> None:
        """``{name}`` matches one path segment; ``{name*}`` matches the rest, slashes
        included (image references: ``/images/library/busybox:1.36/json``)."""
        regex_text, position = "^", 0
        for match in _PARAM.finditer(pattern):
            regex_text += re.escape(pattern[position : match.start()])
            regex_text += f"(?P<{match.group(1)}>{'.+' if match.group(2) else '[^/]+'})"
            position = match.end()
        regex_text += re.escape(pattern[position:]) + "$"
        self.routes.append(Route(method, pattern, re.compile(regex_text), handler, raw_body))

    def route(self, method: str, pattern: str, raw_body: bool = False
              ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(method, pattern, handler, raw_body)
            return handler

        return register

    def patterns(self) -> set[tuple[str, str]]:
        return {(route.method, route.pattern) for route in self.routes}

    def resolve(self, method: str, target: str) -> tuple[Route, Request]:
        """Find the handler for ``method target``; 404 for an unknown path, 405 for a
        known path with another method."""
        parts = urlsplit(target)
        path = _VERSION_PREFIX.sub("", parts.path) or "/"
        query = parse_qs(parts.query, keep_blank_values=True)
        path_matched = False
        for route in self.routes:
            match = route.regex.match(path)
            if match is None:
                continue
            path_matched = True
            if route.method != method:
                continue
            params = {key: unquote(value) for key, value in match.groupdict().items()}
            return route, Request(method, path, query, params=params)
        if path_matched:
            raise ApiError(405, f"method {method} not allowed on {path}")
        raise not_found(f"page not found: {path}")
