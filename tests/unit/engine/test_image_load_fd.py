"""``POST /images/load`` with the archive passed as a file descriptor: the engine reads
the client's open file itself; anything but one readable regular file is refused before
a byte is read (412), and the client then sends the body as Docker's API has it."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stackr.client import EngineError
from stackr.client.transport import ARCHIVE_FD_UPGRADE, Connection, UnixConnection
from stackr.engine import archive_fd
from stackr.engine.archive_fd import PassedFdError, receive_archive_fd
from tests.fixtures import images as fx
from tests.unit.engine.conftest import RunningServer
from tests.unit.engine.openapi_subset import response_schema, validate

UPGRADE_REQUEST = (
    "POST /images/load HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n"
    f"Connection: Upgrade\r\nUpgrade: {ARCHIVE_FD_UPGRADE}\r\n\r\n"
).encode()


def _archive(tmp_path: Path, tag: str = "fdtest:1") -> tuple[Path, fx.BuiltImage]:
    layer = fx.layer_tar([fx.TarEntry("etc/", "dir", mode=0o755),
                          fx.TarEntry("etc/hello", data=b"hello\n" * 5000)])
    image = fx.build_image([layer], compression="none")
    return fx.write_docker_save_oci(tmp_path / "image.tar", [(image, [tag])]), image


@pytest.fixture
def streamed_bodies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests whose body the client streamed itself."""
    sent: list[str] = []
    original = Connection.request

    def request(self: Connection, method: str, path: str, body: Any = None,
                *args: Any, **kwargs: Any) -> Any:
        if body is not None and not isinstance(body, bytes):
            sent.append(path)
        return original(self, method, path, body, *args, **kwargs)

    monkeypatch.setattr(Connection, "request", request)
    return sent


def _open_fds() -> set[str]:
    return {os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
            if os.path.exists(f"/proc/self/fd/{fd}")}


def test_a_file_is_passed_not_streamed(
    server: RunningServer, tmp_path: Path, streamed_bodies: list[str]
) -> None:
    archive, image = _archive(tmp_path)
    lines = list(server.client.image_load(str(archive)))
    assert lines == [{"stream": "Loaded image: docker.io/library/fdtest:1\n"}]
    assert streamed_bodies == []
    assert [record.id for record in server.engine.images().list()] == [image.image_id]
    # the engine closed its copy of the descriptor (same process here: none left open)
    assert str(archive) not in _open_fds()


def test_the_archive_is_read_from_the_descriptors_offset(
    server: RunningServer, tmp_path: Path, streamed_bodies: list[str]
) -> None:
    archive, _image = _archive(tmp_path)
    padded = tmp_path / "padded.bin"
    padded.write_bytes(b"x" * 1000 + archive.read_bytes())
    with open(padded, "rb") as file:
        file.seek(1000)
        lines = list(server.client.image_load(file))
    assert lines and streamed_bodies == []
    assert server.engine.images().resolve("fdtest:1") is not None


def test_a_refused_archive_answers_400_with_the_reason(
    server: RunningServer, tmp_path: Path, streamed_bodies: list[str]
) -> None:
    junk = fx.write_raw_archive(tmp_path / "junk.tar", {"hello.txt": b"hi"})
    with pytest.raises(EngineError) as caught:
        list(server.client.image_load(str(junk)))
    assert caught.value.status == 400
    assert "not an image archive" in caught.value.message
    assert streamed_bodies == [] and server.engine.images().list() == []


def _send_upgrade(server: RunningServer) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(10)
    sock.connect(str(server.socket_path))
    sock.sendall(UPGRADE_REQUEST)
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101 ")
    return sock


def _answer(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


@pytest.mark.parametrize("make_fd", [
    pytest.param(lambda path: os.open(path, os.O_WRONLY), id="write-only"),
    pytest.param(lambda path: os.open(path, os.O_PATH), id="O_PATH"),
    pytest.param(lambda path: os.pipe()[0], id="pipe"),
    pytest.param(lambda path: os.open(path.parent, os.O_RDONLY), id="directory"),
])
def test_unusable_descriptors_are_refused_with_412(
    server: RunningServer, tmp_path: Path, make_fd: Callable[[Path], int]
) -> None:
    archive, _ = _archive(tmp_path)
    fd = make_fd(archive)
    try:
        with _send_upgrade(server) as sock:
            socket.send_fds(sock, [b"\0"], [fd])
            status, body = _answer(sock)
    finally:
        os.close(fd)
    assert status == 412, body
    assert "descriptor" in body["message"]
    schema = response_schema("/images/load", "POST", 412)
    assert schema is not None and validate(body, schema) == []
    assert server.engine.images().list() == []


def test_no_descriptor_or_two_are_refused_with_412(server: RunningServer, tmp_path: Path) -> None:
    archive, _ = _archive(tmp_path)
    with _send_upgrade(server) as sock:
        sock.sendall(b"\0")  # the byte without its descriptor (a forwarded socket)
        assert _answer(sock)[0] == 412
    with open(archive, "rb") as one, open(archive, "rb") as two, _send_upgrade(server) as sock:
        socket.send_fds(sock, [b"\0"], [one.fileno(), two.fileno()])
        status, body = _answer(sock)
    assert status == 412 and "got 2" in body["message"]
    assert str(archive) not in _open_fds()  # the engine closed both copies


def test_receive_gives_a_close_on_exec_copy() -> None:
    left, right = socket.socketpair()
    with left, right, open(__file__, "rb") as file:
        socket.send_fds(left, [b"\0"], [file.fileno()])
        fd = receive_archive_fd(right)
        try:
            assert not os.get_inheritable(fd)
            assert os.fstat(fd).st_ino == os.fstat(file.fileno()).st_ino
        finally:
            os.close(fd)
        left.sendall(b"\0")
        with pytest.raises(PassedFdError, match="got 0"):
            receive_archive_fd(right)


# -- the client's side against engines that do not take a descriptor ---------------------


@contextlib.contextmanager
def _fake_engine(path: Path, answer: Callable[[socket.socket], None]) -> Iterator[None]:
    """A server answering each connection with ``answer`` (after reading its head)."""
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    head += connection.recv(1)
                answer(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(5)


def _old_engine(connection: socket.socket) -> None:  # loads the empty body: refuses it
    body = b'{"message": "the archive sent: empty"}'
    connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n%s"
                       % (len(body), body))


def _refusing_engine(connection: socket.socket) -> None:
    connection.sendall(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\n\r\n")
    connection.recv(1)
    archive_fd.send_answer(connection, 412, b'{"message": "no file descriptor came"}')


@pytest.mark.parametrize("answer", [_old_engine, _refusing_engine])
def test_the_client_learns_a_descriptor_was_not_taken(
    tmp_path: Path, answer: Callable[[socket.socket], None]
) -> None:
    socket_path = tmp_path / "fake.sock"
    with _fake_engine(socket_path, answer):
        connection = UnixConnection(str(socket_path), 10)
        with open(__file__, "rb") as file:
            assert connection.request_passing_fd("POST", "/images/load", file.fileno()) is None
        connection.close()


def test_the_body_is_streamed_when_not_taken(
    server: RunningServer, tmp_path: Path, streamed_bodies: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    archive, _image = _archive(tmp_path)
    monkeypatch.setattr(Connection, "request_passing_fd", lambda *args, **kwargs: None)
    assert list(server.client.image_load(str(archive)))
    assert streamed_bodies == ["/images/load"]
    assert server.engine.images().resolve("fdtest:1") is not None


def test_only_a_regular_file_read_where_its_descriptor_is_is_passed(
    server: RunningServer, tmp_path: Path, streamed_bodies: list[str]
) -> None:
    archive, _ = _archive(tmp_path)
    with open(archive, "rb") as buffered:  # read ahead: its descriptor is further on
        buffered.peek(1)
        assert buffered.tell() == 0 and os.lseek(buffered.fileno(), 0, os.SEEK_CUR) > 0
        assert list(server.client.image_load(buffered))
    assert streamed_bodies == ["/images/load"]
