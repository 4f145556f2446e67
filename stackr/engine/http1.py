"""HTTP/1.1 on a stream: read a request's line and headers, write a response's head.

The engine's server used ``http.server.BaseHTTPRequestHandler``; importing it pulls in
``http.client`` (and through it ``ssl`` with libssl and libcrypto), the ``email``
package (its header parser) and ``mimetypes``: about 6 MiB of the engine's resident
memory, for a parser of a few dozen lines. ``HttpRequestHandler`` is that part of
``BaseHTTPRequestHandler`` the engine used, with the same names (``command``,
``path``, ``headers``, ``close_connection``, ``send_response``/``send_header``/
``end_headers``, ``do_<METHOD>``), answering protocol errors with a JSON body like
every other error of the API.
"""

from __future__ import annotations

import json
import socketserver
import sys
import time
from typing import Any

MAX_REQUEST_LINE = 65536
MAX_HEADER_LINE = 65536
MAX_HEADERS = 100

REASONS = {
    100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created",
    202: "Accepted", 204: "No Content", 206: "Partial Content", 301: "Moved Permanently",
    302: "Found", 304: "Not Modified", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    408: "Request Timeout", 409: "Conflict", 410: "Gone", 411: "Length Required",
    412: "Precondition Failed", 413: "Request Entity Too Large", 414: "Request-URI Too Long",
    415: "Unsupported Media Type", 416: "Requested Range Not Satisfiable",
    417: "Expectation Failed", 422: "Unprocessable Entity", 429: "Too Many Requests",
    431: "Request Header Fields Too Large", 500: "Internal Server Error",
    501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Gateway Timeout", 505: "HTTP Version Not Supported",
}

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
           "Dec")


def http_date(seconds: float) -> str:
    """RFC 9110's IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``), locale-independent."""
    moment = time.gmtime(seconds)
    return (f"{_WEEKDAYS[moment.tm_wday]}, {moment.tm_mday:02d} {_MONTHS[moment.tm_mon - 1]} "
            f"{moment.tm_year} {moment.tm_hour:02d}:{moment.tm_min:02d}:{moment.tm_sec:02d} GMT")


class HeaderError(ValueError):
    """A request head that cannot be parsed: its HTTP status and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Headers:
    """A request's header fields in the order received; names match case-insensitively,
    and ``get`` gives the first field of a name (as ``email.message.Message`` does)."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self._fields = fields
        self._first: dict[str, str] = {}
        for name, value in fields:
            self._first.setdefault(name.lower(), value)

    def get(self, name: str, default: Any = None) -> Any:
        return self._first.get(name.lower(), default)

    def __getitem__(self, name: str) -> str | None:
        return self._first.get(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._first

    def items(self) -> list[tuple[str, str]]:
        return list(self._fields)

    def __len__(self) -> int:
        return len(self._fields)


def parse_header_lines(lines: list[bytes]) -> Headers:
    """``Name: value`` lines (CRLF or LF, no final blank line) into ``Headers``.

    A line that starts with a space or tab continues the previous field (obsolete line
    folding, which RFC 9112 still asks servers to accept or reject: we accept).
    """
    fields: list[tuple[str, str]] = []
    for raw in lines:
        line = raw.decode("iso-8859-1").rstrip("\r\n")
        if line[:1] in (" ", "\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or " " in name:
            raise HeaderError(400, f"malformed header line {line[:80]!r}")
        fields.append((name, value.strip()))
    return Headers(fields)


class HttpRequestHandler(socketserver.StreamRequestHandler):
    """One connection: requests in turn (keep-alive) until either side closes.

    Subclasses define ``do_GET``, ``do_POST``... A method without ``do_`` is answered
    501; a malformed request line or head 400 (414/431 when too long, 505 for HTTP/2+
    on this socket), and the connection is closed after any of those.
    """

    protocol_version = "HTTP/1.1"
    server_version = "stackr-engine"

    command = ""
    path = ""
    request_version = ""
    requestline = ""
    headers: Headers
    close_connection = True

    def handle(self) -> None:
        self.close_connection = True
        self.handle_one_request()
        while not self.close_connection:
            self.handle_one_request()

    def handle_one_request(self) -> None:
        self.command = self.path = self.request_version = self.requestline = ""
        self._head: list[bytes] = []
        try:
            raw_line = self.rfile.readline(MAX_REQUEST_LINE + 1)
            if len(raw_line) > MAX_REQUEST_LINE:
                self.send_error(414, "request line too long")
                return
            if not raw_line:
                self.close_connection = True
                return
            if not self._parse_request(raw_line):
                return
            handler = getattr(self, f"do_{self.command}", None)
            if handler is None:
                self.send_error(501, f"unsupported method {self.command!r}")
                return
            handler()
            self.wfile.flush()
        except TimeoutError as error:  # a client that went quiet mid-request
            self.log_message("request timed out: %r", error)
            self.close_connection = True

    def _parse_request(self, raw_line: bytes) -> bool:
        """Parse the request line and head; on a bad one answer and return False."""
        self.requestline = raw_line.decode("iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if not words:  # an empty line where a request should be: just close
            self.close_connection = True
            return False
        if len(words) != 3:
            self.send_error(400, f"bad request line {self.requestline[:80]!r}")
            return False
        self.command, self.path, self.request_version = words
        version = self._version_number(self.request_version)
        if version is None:
            self.send_error(400, f"bad request version {self.request_version[:20]!r}")
            return False
        if version >= (2, 0):
            self.send_error(505, f"HTTP version {self.request_version[5:]} is not served here")
            return False
        self.close_connection = version < (1, 1)
        if self.path.startswith("//"):  # not a scheme-relative URL: one path (as http.server)
            self.path = "/" + self.path.lstrip("/")
        try:
            self.headers = parse_header_lines(self._read_head())
        except HeaderError as error:
            self.send_error(error.status, error.message)
            return False
        connection = (self.headers.get("Connection") or "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive" and version >= (1, 1):
            self.close_connection = False
        expect = (self.headers.get("Expect") or "").lower()
        if expect == "100-continue" and version >= (1, 1):
            self.wfile.write(f"{self.protocol_version} 100 Continue\r\n\r\n".encode())
        return True

    @staticmethod
    def _version_number(text: str) -> tuple[int, int] | None:
        if not text.startswith("HTTP/"):
            return None
        major, dot, minor = text[5:].partition(".")
        if not dot or not (major.isdigit() and minor.isdigit()) or len(major) > 10 \
                or len(minor) > 10:
            return None
        return int(major), int(minor)

    def _read_head(self) -> list[bytes]:
        lines: list[bytes] = []
        while True:
            line = self.rfile.readline(MAX_HEADER_LINE + 1)
            if len(line) > MAX_HEADER_LINE:
                raise HeaderError(431, "header line too long")
            if line in (b"\r\n", b"\n", b""):
                return lines
            lines.append(line)
            if len(lines) > MAX_HEADERS:
                raise HeaderError(431, f"more than {MAX_HEADERS} header lines")

    def send_response(self, code: int, message: str | None = None) -> None:
        """Start the response head: status line, ``Server`` and ``Date``."""
        self.log_request(code)
        reason = message if message is not None else REASONS.get(code, "")
        self._head = [f"{self.protocol_version} {code} {reason}\r\n".encode("iso-8859-1",
                                                                             "replace")]
        self.send_header("Server", self.server_version)
        self.send_header("Date", http_date(time.time()))

    def send_header(self, keyword: str, value: str) -> None:
        self._head.append(f"{keyword}: {value}\r\n".encode("iso-8859-1", "replace"))
        if keyword.lower() == "connection":
            if value.lower() == "close":
                self.close_connection = True
            elif value.lower() == "keep-alive":
                self.close_connection = False

    def end_headers(self) -> None:
        self._head.append(b"\r\n")
        self.wfile.write(b"".join(self._head))
        self._head = []

    def send_error(self, code: int, message: str) -> None:
        """Answer a request that cannot be served (JSON, as the API's errors) and close."""
        self.log_error("code %d, %s", code, message)
        body = json.dumps({"message": message}).encode()
        self.send_response(code)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and code >= 200:
            self.wfile.write(body)
        self.close_connection = True

    def log_request(self, code: int) -> None:
        self.log_message('"%s" %s', self.requestline, str(code))

    def log_error(self, format: str, *args: Any) -> None:
        self.log_message(format, *args)

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{format % args}\n")
