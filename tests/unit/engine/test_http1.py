"""The engine's HTTP/1.1 request head parsing and response head writing (``http1``)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from stackr.engine.http1 import HeaderError, http_date, parse_header_lines
from tests.unit.engine.conftest import RunningServer


def exchange(server: RunningServer, data: bytes) -> bytes:
    """Send ``data``, half-close, and read until the server closes."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(server.socket_path))
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def responses(answer: bytes) -> list[tuple[str, dict[str, str], bytes]]:
    """Split a keep-alive stream of Content-Length responses."""
    found = []
    while answer:
        head, _, rest = answer.partition(b"\r\n\r\n")
        status, *lines = head.decode("iso-8859-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        length = int(headers.get("content-length", "0"))
        found.append((status, headers, rest[:length]))
        answer = rest[length:]
    return found


def test_headers_match_case_insensitively_and_keep_the_first() -> None:
    headers = parse_header_lines([b"Content-Length: 5\r\n", b"X-Twice: one\r\n",
                                  b"x-twice: two\r\n", b"Folded: a\r\n", b"  b\r\n"])
    assert headers.get("content-length") == "5"
    assert headers["CONTENT-LENGTH"] == "5"
    assert headers.get("X-TWICE") == "one"
    assert headers.get("Folded") == "a b"
    assert headers.get("missing", "default") == "default"
    assert "x-twice" in headers and "nope" not in headers
    assert len(headers.items()) == 4


@pytest.mark.parametrize("line", [b"no colon here\r\n", b": empty name\r\n",
                                  b"Space Name: x\r\n", b"Trailing : x\r\n"])
def test_malformed_header_lines_are_400(line: bytes) -> None:
    with pytest.raises(HeaderError) as caught:
        parse_header_lines([line])
    assert caught.value.status == 400


def test_http_date_is_imf_fixdate() -> None:
    assert http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"


def test_keep_alive_serves_requests_in_turn(server: RunningServer) -> None:
    request = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = exchange(server, request * 3)
    found = responses(answer)
    assert [status for status, _, _ in found] == ["HTTP/1.1 200 OK"] * 3
    assert all(body == b"OK" for _, _, body in found)
    _, headers, _ = found[0]
    assert headers["server"] == "stackr-engine"
    assert headers["date"].endswith(" GMT")


def test_http_1_0_and_connection_close_end_the_connection(server: RunningServer) -> None:
    for request in (b"GET /_ping HTTP/1.0\r\n\r\n",
                    b"GET /_ping HTTP/1.1\r\nConnection: close\r\n\r\n"):
        found = responses(exchange(server, request * 2))
        assert len(found) == 1 and found[0][2] == b"OK"


def test_head_has_no_body(server: RunningServer) -> None:
    answer = exchange(server, b"HEAD /_ping HTTP/1.1\r\nConnection: close\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == b""


def test_expect_100_continue_is_answered(server: RunningServer) -> None:
    body = json.dumps({"Name": "continued"}).encode()
    answer = exchange(server, b"POST /volumes/create HTTP/1.1\r\nExpect: 100-continue\r\n"
                              b"Content-Type: application/json\r\nConnection: close\r\n"
                              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201")


@pytest.mark.parametrize("request_bytes,status", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /_ping HTTP/x.y\r\n\r\n", 400),
    (b"GET /_ping HTTP/2.0\r\n\r\n", 505),
    (b"BREW /_ping HTTP/1.1\r\n\r\n", 501),
    (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET /_ping HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n", 431),
    (b"GET /_ping HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n", 431),
    (b"GET /_ping HTTP/1.1\r\nbroken header\r\n\r\n", 400),
])
def test_protocol_errors_are_json_and_close(server: RunningServer, request_bytes: bytes,
                                            status: int) -> None:
    answer = exchange(server, request_bytes + b"GET /_ping HTTP/1.1\r\n\r\n")
    found = responses(answer)
    assert len(found) == 1  # closed after the error: the second request is not served
    status_line, headers, body = found[0]
    assert status_line.startswith(f"HTTP/1.1 {status} ")
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["message"]
    assert server.client.ping()


def test_an_empty_connection_is_closed_quietly(server: RunningServer) -> None:
    assert exchange(server, b"") == b""
    assert exchange(server, b"\r\n") == b""


def test_double_slash_paths_are_one_path(server: RunningServer) -> None:
    found = responses(exchange(server, b"GET //_ping HTTP/1.1\r\nConnection: close\r\n\r\n"))
    assert found[0][0] == "HTTP/1.1 200 OK"


def test_the_engine_serves_without_http_server(tmp_path: Path) -> None:
    """``http.server`` would bring ``http.client``, ``ssl`` and ``email`` (~6 MiB)."""
    import subprocess
    import sys

    code = ("import sys\nfrom stackr.engine import server, app, state, daemon\n"
            "app.build_router()\nprint(' '.join(sorted(sys.modules)))")
    modules = set(subprocess.run([sys.executable, "-c", code], check=True, text=True,
                                 capture_output=True, cwd=Path(__file__).parents[3],
                                 ).stdout.split())
    heavy = {"http.server", "http.client", "ssl", "email", "hashlib", "secrets",
             "subprocess", "platform", "ctypes.util", "stackr.runtime.init",
             "stackr.network.ports", "pyroute2", "yaml", "pydantic", "datetime"}
    assert modules & heavy == set()
