"""The engine's HTTP/1.1 server on a unix socket: one thread per connection.

``socketserver.ThreadingUnixStreamServer`` + ``http1.HttpRequestHandler`` (the part
of ``http.server`` the engine needs, without the ``ssl`` and ``email`` it imports): the
standard library is enough for a local control API and keeps the engine's memory
small. A slow or half-closed client only ever holds its own thread (reads time out); an
oversized or malformed request gets a 4xx JSON error; a bug in a handler gets a
500 and the traceback in the engine's log, and the engine keeps serving.

Streamed responses (logs, events, follow) use chunked transfer encoding. A stream
yields ``b""`` as a tick when it has nothing to send, which lets the server notice a
client that went away (and an engine that is stopping) without waiting for data.
"""

from __future__ import annotations

import io
import select
import socket
import socketserver
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from stackr.engine.heap import QuietTrim
from stackr.engine.http1 import HttpRequestHandler
from stackr.engine.routing import ApiError, Response, Router
from stackr.errors import StackrError

if TYPE_CHECKING:
    from stackr.engine.state import Engine

MAX_BODY_BYTES = 8 * 1024 * 1024
READ_TIMEOUT_SECONDS = 30.0


def client_gone(connection: socket.socket) -> bool:
    """Whether the peer closed its end (readable with nothing to read, or an error)."""
    poller = select.poll()
    poller.register(connection, select.POLLIN | select.POLLRDHUP | select.POLLHUP)
    events = poller.poll(0)
    if not events:
        return False
    _, mask = events[0]
    if mask & (select.POLLRDHUP | select.POLLHUP | select.POLLERR):
        return True
    try:
        return connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def status_for(error: StackrError) -> int:
    """The HTTP status of a library error that reached the API unconverted."""
    from stackr.errors import UsageError

    name = type(error).__name__
    if name.endswith("NotFoundError"):
        return 404
    if name.endswith(("InUseError", "ExistsError", "StateError", "LockedError")):
        return 409
    if isinstance(error, UsageError):
        return 400
    return 500


class BodyStream(io.RawIOBase):
    """A request body read straight from the socket, never past its Content-Length."""

    def __init__(self, source: io.BufferedIOBase, length: int) -> None:
        self.source = source
        self.remaining = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.remaining <= 0:
            return 0
        data = self.source.read(min(len(buffer), self.remaining, 1 << 20))
        if not data:
            raise ApiError(400, "request body ended early")
        buffer[: len(data)] = data
        self.remaining -= len(data)
        return len(data)


class EngineServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, socket_path: str, engine: Engine, router: Router) -> None:
        self.engine = engine
        self.router = router
        # What requests freed goes back to the kernel once they have stopped for a
        # moment (an idle engine should not keep the peak of the last burst).
        self.quiet_trim = QuietTrim()
        super().__init__(socket_path, RequestHandler)

    def service_actions(self) -> None:
        """Called by ``serve_forever`` after each request and each poll interval."""
        self.quiet_trim.poll()


class RequestHandler(HttpRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "stackr-engine"
    timeout = READ_TIMEOUT_SECONDS
    server: EngineServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.engine.verbose:
            sys.stderr.write(f"engine: {format % args}\n")

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        finally:
            self.server.quiet_trim.activity()

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked_body()
        length_text = self.headers.get("Content-Length")
        if not length_text:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            raise ApiError(400, "Content-Length is not a number") from None
        if length < 0:
            raise ApiError(400, "Content-Length is negative")
        if length > MAX_BODY_BYTES:
            raise ApiError(413, f"request body larger than {MAX_BODY_BYTES} bytes")
        body = self.rfile.read(length)
        if len(body) != length:
            raise ApiError(400, "request body ended early")
        return body

    def _body_stream(self) -> BodyStream:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raise ApiError(411, "send this body with a Content-Length")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise ApiError(400, "Content-Length is not a number") from None
        # The connection is closed after a streamed body: what the handler left unread
        # cannot be told apart from the next request.
        self.close_connection = True
        return BodyStream(self.rfile, length)

    def _read_chunked_body(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(64)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise ApiError(400, "malformed chunked body") from None
            if size == 0:
                self.rfile.readline(64)
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise ApiError(413, f"request body larger than {MAX_BODY_BYTES} bytes")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(64)

    def _dispatch(self) -> None:
        engine = self.server.engine
        try:
            route, request = self.server.router.resolve(
                "GET" if self.command == "HEAD" else self.command, self.path
            )
        except ApiError as error:
            route, request = None, None
            routing_error: ApiError | None = error
        else:
            routing_error = None
        try:
            if route is not None and request is not None and route.raw_body:
                request = replace(request, body_stream=self._body_stream())
            else:
                body = self._read_body()
                if request is not None:
                    request = replace(request, body=body)
        except (ApiError, TimeoutError, OSError) as error:
            # The rest of the stream cannot be trusted: answer (if possible) and close.
            self.close_connection = True
            if isinstance(error, ApiError):
                self._send(Response(error.status, {"message": error.message}))
            return
        try:
            if routing_error is not None:
                raise routing_error
            assert route is not None and request is not None
            request = replace(request, headers={k.lower(): v for k, v in self.headers.items()})
            response = route.handler(engine, request)
        except ApiError as error:
            response = Response(error.status, {"message": error.message})
        except StackrError as error:
            response = Response(status_for(error), {"message": str(error)})
        except Exception as error:  # a bug: answer, log, keep serving everyone else
            import traceback  # on a bug only: not part of the engine's resident memory

            traceback.print_exc(file=sys.stderr)
            response = Response(500, {"message": f"internal error: {type(error).__name__}: "
                                                 f"{error}"})
        try:
            self._send(response)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    def _send(self, response: Response) -> None:
        if response.upgrade is not None:
            self.send_response(101, "UPGRADED")
            self.send_header("Content-Type", "application/vnd.docker.raw-stream")
            self.send_header("Connection", "Upgrade")
            self.send_header("Upgrade", "tcp")
            self.end_headers()
            self.wfile.flush()
            self.close_connection = True
            self.connection.settimeout(None)  # an interactive session may idle for long
            response.upgrade(self.connection, self.rfile)
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Api-Version", "1.43")
        if response.stream is None:
            payload = response.payload()
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        stream = iter(response.stream)
        try:
            for chunk in stream:
                if not chunk:
                    if client_gone(self.connection) or self.server.engine.stopping.is_set():
                        break
                    continue
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            else:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                return
            self.close_connection = True
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
