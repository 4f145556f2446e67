"""``EngineClient``: the typed Python client of the engine API, used by the CLI.

One persistent HTTP/1.1 connection per thread (the CLI's apply step calls the engine
from several threads); streamed endpoints (logs, events, wait) use their own
connection. The local default engine is started on demand (``autostart``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping  # (isinstance)
from urllib.parse import quote, urlencode

from stackr.client.errors import EngineUnavailableError, error_for
from stackr.client.hosts import EngineHost, SshHost, UnixHost, parse_host
from stackr.client.transport import (
    Connection,
    Hijacked,
    ProtocolError,
    Response,
    open_connection,
)

TYPE_CHECKING = False  # mypy reads True: typing is not loaded by the CLI's verbs
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import IO, Any

    JsonObject = dict[str, Any]
    Filters = Mapping[str, list[str]]

DEFAULT_TIMEOUT_SECONDS = 120.0


def _path(template: str, *names: str) -> str:
    return template.format(*(quote(name, safe="") for name in names))


def _query(params: Mapping[str, Any]) -> str:
    pairs = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "1" if value else "0"
        elif isinstance(value, Mapping):
            value = json.dumps(value, sort_keys=True)
        pairs.append((key, str(value)))
    return "?" + urlencode(pairs) if pairs else ""


class EngineClient:
    def __init__(
        self,
        host: str | EngineHost | None = None,
        *,
        autostart: bool = True,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.host: EngineHost = host if isinstance(host, UnixHost | SshHost) else parse_host(host)
        self.autostart = autostart
        self.timeout = timeout
        self._local = threading.local()
        self._start_lock = threading.Lock()

    # -- plumbing -------------------------------------------------------------------

    def _connection(self) -> Connection:
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = open_connection(self.host, self.timeout)
            self._local.connection = connection
        return connection

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def _ensure_engine(self) -> None:
        from stackr.client.autostart import ping_socket, start_engine

        assert isinstance(self.host, UnixHost)
        with self._start_lock:
            if not ping_socket(self.host.socket_path):
                start_engine(self.host.socket_path)

    def _may_autostart(self) -> bool:
        return self.autostart and isinstance(self.host, UnixHost) and self.host.is_default

    def _send(
        self, method: str, path: str, body: Any, stream: bool
    ) -> tuple[Connection, Response]:
        payload = None if body is None else json.dumps(body).encode()
        headers: dict[str, str] = {}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(3):
            connection = (
                open_connection(self.host, None) if stream else self._connection()
            )
            try:
                return connection, connection.request(method, path, payload, headers)
            except (FileNotFoundError, ConnectionRefusedError) as error:
                connection.close()
                self._local.connection = None
                if self._autostarted(attempt):
                    continue
                raise self._no_engine(error) from None
            except (BrokenPipeError, ConnectionResetError):
                # A kept-alive connection the engine closed (restart, idle): retry once.
                detail = connection.failure_detail()
                connection.close()
                self._local.connection = None
                if attempt == 0:
                    continue
                raise EngineUnavailableError(f"the engine at {self.host} closed the "
                                             "connection" + (f": {detail}" if detail else "")
                                             ) from None
        raise EngineUnavailableError(f"no engine answers at {self.host}")

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One request; the decoded JSON answer (``None`` for an empty one)."""
        connection, response = self._send(method, path, body, stream=False)
        try:
            data = response.read()
        except (OSError, ProtocolError):
            connection.close()
            self._local.connection = None
            raise EngineUnavailableError(f"the engine at {self.host} broke the answer to "
                                         f"{method} {path}") from None
        if response.will_close:
            connection.close()
            self._local.connection = None
        if response.status >= 400:
            raise error_for(response.status, _message(data, response.status))
        if not data:
            return None
        if response.content_type() == "application/json":
            return json.loads(data)
        return data.decode(errors="replace")

    def stream(self, method: str, path: str, body: Any = None) -> Iterator[bytes]:
        """A streamed answer, line by line (JSON lines, or log text)."""
        connection, response = self._send(method, path, body, stream=True)
        try:
            if response.status >= 400:
                raise error_for(response.status, _message(response.read(), response.status))
            while line := response.readline():
                yield line
        finally:
            connection.close()

    def stream_json(self, method: str, path: str, body: Any = None) -> Iterator[JsonObject]:
        for line in self.stream(method, path, body):
            if line.strip():
                yield json.loads(line)

    # -- system ---------------------------------------------------------------------

    def ping(self) -> bool:
        return bool(self.request("GET", "/_ping") == "OK")

    def version(self) -> JsonObject:
        result: JsonObject = self.request("GET", "/version")
        return result

    def info(self) -> JsonObject:
        result: JsonObject = self.request("GET", "/info")
        return result

    def events(
        self, filters: Filters | None = None, since: float | None = None,
        until: float | None = None,
    ) -> Iterator[JsonObject]:
        query = _query({"filters": filters or None, "since": since, "until": until})
        return self.stream_json("GET", "/events" + query)

    # -- volumes --------------------------------------------------------------------

    def volume_create(self, name: str | None = None, labels: Mapping[str, str] | None = None
                      ) -> JsonObject:
        body: JsonObject = {"Labels": dict(labels or {})}
        if name:
            body["Name"] = name
        result: JsonObject = self.request("POST", "/volumes/create", body)
        return result

    def volumes(self, filters: Filters | None = None) -> list[JsonObject]:
        result = self.request("GET", "/volumes" + _query({"filters": filters or None}))
        volumes: list[JsonObject] = result["Volumes"]
        return volumes

    def volume_inspect(self, name: str) -> JsonObject:
        result: JsonObject = self.request("GET", _path("/volumes/{}", name))
        return result

    def volume_remove(self, name: str, force: bool = False) -> None:
        self.request("DELETE", _path("/volumes/{}", name) + _query({"force": force or None}))

    def volumes_prune(self, filters: Filters | None = None) -> list[str]:
        result = self.request("POST", "/volumes/prune" + _query({"filters": filters or None}))
        removed: list[str] = result["VolumesDeleted"]
        return removed

    # -- networks -------------------------------------------------------------------

    def network_create(self, name: str, labels: Mapping[str, str] | None = None, *,
                       internal: bool = False, subnet: str | None = None,
                       gateway: str | None = None) -> str:
        body: JsonObject = {"Name": name, "Labels": dict(labels or {}), "Internal": internal}
        if subnet or gateway:
            body["IPAM"] = {"Config": [{k: v for k, v in (("Subnet", subnet),
                                                         ("Gateway", gateway)) if v}]}
        result = self.request("POST", "/networks/create", body)
        network_id: str = result["Id"]
        return network_id

    def networks(self, filters: Filters | None = None) -> list[JsonObject]:
        result: list[JsonObject] = self.request(
            "GET", "/networks" + _query({"filters": filters or None}))
        return result

    def network_inspect(self, name: str) -> JsonObject:
        result: JsonObject = self.request("GET", _path("/networks/{}", name))
        return result

    def network_remove(self, name: str) -> None:
        self.request("DELETE", _path("/networks/{}", name))

    # -- images ---------------------------------------------------------------------

    def images(self) -> list[JsonObject]:
        result: list[JsonObject] = self.request("GET", "/images/json")
        return result

    def image_inspect(self, reference: str) -> JsonObject:
        result: JsonObject = self.request("GET", f"/images/{quote(reference, safe='/:@')}/json")
        return result

    def image_remove(self, reference: str, force: bool = False) -> list[JsonObject]:
        path = f"/images/{quote(reference, safe='/:@')}" + _query({"force": force or None})
        result: list[JsonObject] = self.request("DELETE", path)
        return result

    def images_prune(self) -> list[JsonObject]:
        result = self.request("POST", "/images/prune")
        removed: list[JsonObject] = result["ImagesDeleted"]
        return removed

    def image_pull(self, reference: str) -> Iterator[JsonObject]:
        """Progress lines; a line with ``error`` ends a failed pull."""
        return self.stream_json("POST", "/images/create" + _query({"fromImage": reference}))

    def image_tag(self, reference: str, repository: str, tag: str = "latest") -> None:
        path = f"/images/{quote(reference, safe='/:@')}/tag"
        self.request("POST", path + _query({"repo": repository, "tag": tag}))

    def image_import(self, rootfs: IO[bytes], repository: str, tag: str, *,
                     changes: list[str] | None = None, message: str = "") -> str:
        """``docker import``: a one-layer image from a root file system tar (read from its
        current position to the end); ``changes``: CMD/ENTRYPOINT/ENV/WORKDIR lines. The
        new image's id."""
        import os

        length = os.fstat(rootfs.fileno()).st_size - rootfs.tell()
        query = _query({"fromSrc": "-", "repo": repository, "tag": tag,
                        "message": message or None})
        for change in changes or []:
            query += "&" + urlencode({"changes": change})
        image_id = ""
        for line in self._send_body("/images/create" + query, rootfs, length):
            if "error" in line:
                raise error_for(500, str(line["error"]))
            image_id = str(line.get("status", image_id))
        return image_id

    def image_load(self, archive: str | IO[bytes], length: int | None = None
                   ) -> Iterator[JsonObject]:
        """Send a ``docker save`` / OCI archive (a file name, or a binary file of ``length``
        bytes read from its current position); one ``{"stream": ...}`` line per loaded name.
        An ``EngineError`` carries the engine's reason for refusing the archive. A regular
        file goes to a local engine as its open descriptor (the engine reads it itself)."""
        import os

        body = open(archive, "rb") if isinstance(archive, str) else archive  # noqa: SIM115
        try:
            if length is None:
                length = os.fstat(body.fileno()).st_size - body.tell()
            yield from self._send_body("/images/load", body, length, pass_fd=True)
        finally:
            if isinstance(archive, str):
                body.close()

    def _autostarted(self, attempt: int) -> bool:
        """After the first refused connection to the local default engine: start it."""
        if attempt == 0 and self._may_autostart():
            self._ensure_engine()
            return True
        return False

    def _no_engine(self, error: OSError) -> EngineUnavailableError:
        return EngineUnavailableError(f"no engine answers at {self.host}: "
                                      f"{error.strerror or error} (start one with "
                                      "`stackr engine`)")

    def _open_body_connection(self) -> Connection:
        """A new connection, made before any of a body is sent (a body cannot be sent
        twice): the local default engine is started if nothing answers."""
        for attempt in range(2):
            connection = open_connection(self.host, None)
            try:
                connection.open()
                return connection
            except (FileNotFoundError, ConnectionRefusedError) as error:
                connection.close()
                if self._autostarted(attempt):
                    continue
                raise self._no_engine(error) from None
        raise EngineUnavailableError(f"no engine answers at {self.host}")  # pragma: no cover

    def _send_body(self, path: str, body: IO[bytes], length: int, *, pass_fd: bool = False
                   ) -> Iterator[JsonObject]:
        """POST a tar body of ``length`` bytes; the answer's JSON lines. With ``pass_fd``,
        a regular file is passed to a local engine as a descriptor if it takes one."""
        headers = {"Content-Type": "application/x-tar"}
        connection = self._open_body_connection()
        try:
            try:
                response = None
                fd = _passable_fd(body) if pass_fd and isinstance(self.host, UnixHost) else None
                if fd is not None:
                    response = connection.request_passing_fd("POST", path, fd, headers)
                    if response is None:  # not taken: the body, on a new connection
                        connection.close()
                        connection = self._open_body_connection()
                if response is None:
                    response = connection.request(
                        "POST", path, body, headers, length=length
                    )
            except (FileNotFoundError, ConnectionRefusedError) as error:
                raise EngineUnavailableError(
                    f"no engine answers at {self.host}: {error.strerror or error} "
                    "(start one with `stackr engine`)"
                ) from None
            except (BrokenPipeError, ConnectionResetError):
                raise EngineUnavailableError(
                    f"the engine at {self.host} closed the connection while the tar was "
                    "sent (see its log)"
                ) from None
            if response.status >= 400:
                raise error_for(response.status, _message(response.read(), response.status))
            while line := response.readline():
                if line.strip():
                    yield json.loads(line)
        finally:
            connection.close()

    # -- containers -----------------------------------------------------------------

    def container_create(self, config: JsonObject, name: str | None = None) -> str:
        result = self.request("POST", "/containers/create" + _query({"name": name}), config)
        container_id: str = result["Id"]
        return container_id

    def containers(self, all: bool = False, filters: Filters | None = None
                   ) -> list[JsonObject]:
        query = _query({"all": all or None, "filters": filters or None})
        result: list[JsonObject] = self.request("GET", "/containers/json" + query)
        return result

    def containers_prune(self, filters: Filters | None = None) -> list[str]:
        path = "/containers/prune" + _query({"filters": filters or None})
        removed: list[str] = self.request("POST", path)["ContainersDeleted"]
        return removed

    def container_inspect(self, container: str) -> JsonObject:
        result: JsonObject = self.request("GET", _path("/containers/{}/json", container))
        return result

    def container_start(self, container: str) -> None:
        self.request("POST", _path("/containers/{}/start", container))

    def container_stop(self, container: str, timeout: float | None = None) -> None:
        self.request("POST", _path("/containers/{}/stop", container) + _query({"t": timeout}))

    def container_restart(self, container: str, timeout: float | None = None) -> None:
        self.request("POST", _path("/containers/{}/restart", container) + _query({"t": timeout}))

    def container_pause(self, container: str) -> None:
        self.request("POST", _path("/containers/{}/pause", container))

    def container_unpause(self, container: str) -> None:
        self.request("POST", _path("/containers/{}/unpause", container))

    def container_kill(self, container: str, signal: str | int = "SIGKILL") -> None:
        self.request("POST", _path("/containers/{}/kill", container) + _query({"signal": signal}))

    def container_remove(self, container: str, force: bool = False, volumes: bool = False
                         ) -> None:
        query = _query({"force": force or None, "v": volumes or None})
        self.request("DELETE", _path("/containers/{}", container) + query)

    def container_wait(self, container: str, condition: str = "not-running") -> JsonObject:
        path = _path("/containers/{}/wait", container) + _query({"condition": condition})
        for answer in self.stream_json("POST", path):
            return answer
        raise EngineUnavailableError(f"the engine closed the wait on {container}")

    def container_logs(
        self, container: str, *, follow: bool = False, tail: int | None = None,
        timestamps: bool = False, stdout: bool = True, stderr: bool = True,
        since: float | None = None,
    ) -> Iterator[JsonObject]:
        """Log entries ``{"stream", "time", "log"}``, oldest first."""
        query = _query({
            "follow": follow, "tail": tail, "timestamps": timestamps,
            "stdout": stdout, "stderr": stderr, "since": since, "format": "json",
        })
        return self.stream_json("GET", _path("/containers/{}/logs", container) + query)

    def container_top(self, container: str) -> JsonObject:
        result: JsonObject = self.request("GET", _path("/containers/{}/top", container))
        return result

    def container_stats(self, container: str) -> JsonObject:
        path = _path("/containers/{}/stats", container) + _query({"stream": False})
        result: JsonObject = self.request("GET", path)
        return result

    def exec_create(self, container: str, config: JsonObject) -> str:
        result = self.request("POST", _path("/containers/{}/exec", container), config)
        exec_id: str = result["Id"]
        return exec_id

    def exec_start(self, exec_id: str) -> Iterator[JsonObject]:
        return self.stream_json("POST", _path("/exec/{}/start", exec_id), {"Detach": False})

    def exec_attach(self, exec_id: str) -> Hijacked:
        """Start the exec with its stdin attached: send input with ``send``, end it
        with ``close_input``, read output with ``recv`` (raw bytes with a TTY, else
        Docker's 8-byte-header frames) until b""."""
        return self._hijack(_path("/exec/{}/start", exec_id),
                            json.dumps({"Detach": False}).encode())

    def container_attach(self, container: str, stdin: bool = True) -> Hijacked:
        """Attach to a container's stdio (before or after its start), as ``exec_attach``;
        the output ends when the container's run does."""
        query = f"?stream=1&stdout=1&stderr=1&stdin={int(stdin)}"
        return self._hijack(_path("/containers/{}/attach", container) + query, b"")

    def container_resize(self, container: str, rows: int, columns: int) -> None:
        self.request("POST", _path("/containers/{}/resize", container) + f"?h={rows}&w={columns}")

    def _hijack(self, path: str, body: bytes) -> Hijacked:
        connection = open_connection(self.host, None)
        response, session = connection.hijack("POST", path, body)
        if response.status != 101:
            message = _message(response.read(), response.status)
            connection.close()
            raise error_for(response.status, message)
        return session

    def exec_start_detached(self, exec_id: str) -> None:
        self.request("POST", _path("/exec/{}/start", exec_id), {"Detach": True})

    def exec_resize(self, exec_id: str, rows: int, columns: int) -> None:
        self.request("POST", _path("/exec/{}/resize", exec_id) + f"?h={rows}&w={columns}")

    def exec_inspect(self, exec_id: str) -> JsonObject:
        result: JsonObject = self.request("GET", _path("/exec/{}/json", exec_id))
        return result


def _passable_fd(body: IO[bytes]) -> int | None:
    """``body``'s descriptor if the engine can read the body from it: a regular file
    whose offset is where ``body`` reads next (no read-ahead in a buffer)."""
    import os
    import stat

    try:
        fd = body.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return fd if os.lseek(fd, 0, os.SEEK_CUR) == body.tell() else None
    except (OSError, ValueError):  # no descriptor (io.UnsupportedOperation), closed
        return None


def _message(data: bytes, status: int) -> str:
    try:
        value = json.loads(data)
        if isinstance(value, dict) and isinstance(value.get("message"), str):
            return str(value["message"])
    except (json.JSONDecodeError, UnicodeDecodeError):
        pass
    return data.decode(errors="replace").strip() or f"HTTP {status}"
