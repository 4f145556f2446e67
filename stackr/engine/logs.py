"""Container logs: FIFOs the container writes, JSON-lines files the engine writes.

**Why FIFOs the container also reads.** A container's stdout/stderr are named pipes
under ``run_root()/engine/logs/<id>/``, handed to the runtime opened ``O_RDWR``: the
container then holds a read end of its own pipes, so if the engine dies it never
gets SIGPIPE or EPIPE — its writes just block once the pipe buffer (raised to 1 MiB)
is full, and resume when the next engine opens the FIFO and drains it (what Docker
with live-restore does with containerd's FIFOs). No per-container log process: the
engine's reader is one thread per running container.

**Files.** Each line becomes ``{"log": text, "stream": "stdout", "time": RFC 3339}``
in ``state_root()/engine/logs/<id>/container.log`` (Docker's json-file format), cut
at ``max_bytes`` into ``container.log.1`` ... ``.{max_files - 1}``. Files are kept
across restarts of the same container and readable during and after the run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import selectors
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from stackr.engine.timetext import parse_rfc3339_ns as parse_rfc3339_ns
from stackr.engine.timetext import rfc3339 as rfc3339
from stackr.paths import run_root, state_root

if TYPE_CHECKING:
    from stackr.engine.attach import Attachments

F_SETPIPE_SZ = 1031
PIPE_SIZE = 1024 * 1024
MAX_LINE_BYTES = 16 * 1024  # a longer line is cut, as Docker does (partial messages)
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_FILES = 3
STREAMS = ("stdout", "stderr")

JsonObject = dict[str, Any]


def fifo_dir(container_id: str) -> Path:
    return run_root() / "engine" / "logs" / container_id


def log_dir(container_id: str) -> Path:
    return state_root() / "engine" / "logs" / container_id


def log_file(container_id: str) -> Path:
    return log_dir(container_id) / "container.log"


def make_fifos(container_id: str) -> dict[str, Path]:
    directory = fifo_dir(container_id)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    fifos = {}
    for stream in STREAMS:
        path = directory / f"{stream}.fifo"
        try:
            if not stat.S_ISFIFO(os.lstat(path).st_mode):
                path.unlink()
                os.mkfifo(path, 0o600)
        except FileNotFoundError:
            os.mkfifo(path, 0o600)
        fifos[stream] = path
    return fifos


def open_stdin_end(container_id: str) -> int:
    """``stdin_open``: a FIFO the container holds open for reading *and* writing, so
    its stdin never reaches EOF (nothing is written to it: attach is not supported)."""
    path = fifo_dir(container_id) / "stdin.fifo"
    with contextlib.suppress(FileExistsError):
        os.mkfifo(path, 0o600)
    return os.open(path, os.O_RDWR | os.O_CLOEXEC)


def open_stdin_writer(container_id: str) -> int:
    """The engine's write end of the ``stdin_open`` FIFO, for attached clients' input
    (it does not block: the container holds the FIFO open for reading)."""
    path = fifo_dir(container_id) / "stdin.fifo"
    descriptor = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    os.set_blocking(descriptor, True)
    return descriptor


def open_container_ends(fifos: dict[str, Path]) -> dict[str, int]:
    """The fds given to the container: O_RDWR, so it is a reader of its own pipe too."""
    ends = {}
    for stream, path in fifos.items():
        descriptor = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        # Over /proc/sys/fs/pipe-max-size (non-root): keep the default size.
        with contextlib.suppress(OSError):
            fcntl.fcntl(descriptor, F_SETPIPE_SZ, PIPE_SIZE)
        ends[stream] = descriptor
    return ends


class LogWriter:
    """Appends JSON lines to a container's log file, rotating by size."""

    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_files: int = DEFAULT_MAX_FILES, clock: Any = time.time_ns) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.max_files = max(1, max_files)
        self.clock = clock
        self.changed = threading.Condition()
        self.generation = 0  # bumped on every write: followers wait for a change
        self._partial: dict[str, bytes] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "ab")  # noqa: SIM115 (owned for the writer's life)

    def write(self, stream: str, data: bytes) -> None:
        buffered = self._partial.get(stream, b"") + data
        *complete, rest = buffered.split(b"\n")
        pieces: list[bytes] = []
        for line in complete:
            while len(line) > MAX_LINE_BYTES:  # cut, as Docker does; the newline goes last
                pieces.append(line[:MAX_LINE_BYTES])
                line = line[MAX_LINE_BYTES:]
            pieces.append(line + b"\n")
        while len(rest) >= MAX_LINE_BYTES:
            pieces.append(rest[:MAX_LINE_BYTES])
            rest = rest[MAX_LINE_BYTES:]
        self._partial[stream] = rest
        self._append(stream, pieces)

    def flush_partial(self) -> None:
        """At EOF: a last line without a newline is still a line."""
        for stream, rest in list(self._partial.items()):
            if rest:
                self._append(stream, [rest])
        self._partial.clear()

    def _append(self, stream: str, lines: list[bytes]) -> None:
        if not lines:
            return
        now = rfc3339(self.clock())
        encoded = [
            json.dumps({"log": line.decode(errors="replace"), "stream": stream, "time": now},
                       ensure_ascii=False).encode() + b"\n"
            for line in lines
        ]
        with self.changed:
            batch: list[bytes] = []
            size = self._file.tell()
            for entry in encoded:  # cut between entries, so each file stays under the cap
                if size + len(entry) > self.max_bytes and size > 0:
                    self._file.write(b"".join(batch))
                    batch = []
                    self._rotate()
                    size = 0
                batch.append(entry)
                size += len(entry)
            self._file.write(b"".join(batch))
            self._file.flush()
            self.generation += 1
            self.changed.notify_all()

    def _rotate(self) -> None:
        self._file.close()
        if self.max_files == 1:
            self._file = open(self.path, "wb")  # noqa: SIM115
            return
        for index in range(self.max_files - 1, 0, -1):
            source = self.path if index == 1 else Path(f"{self.path}.{index - 1}")
            if source.exists():
                os.replace(source, f"{self.path}.{index}")
        self._file = open(self.path, "ab")  # noqa: SIM115

    def close(self) -> None:
        with self.changed:
            self._file.close()
            self.changed.notify_all()


class LogPump:
    """One thread that drains a container's FIFOs into its ``LogWriter`` until EOF."""

    def __init__(self, container_id: str, writer: LogWriter, terminal: int | None = None,
                 attachments: Attachments | None = None) -> None:
        """Reads the FIFOs, or with ``terminal`` (``tty: true``) that pty master, which
        it owns: a terminal has one stream, logged as stdout (as Docker does). What it
        logs also goes to the ``attachments`` (attached clients)."""
        self.container_id = container_id
        self.writer = writer
        self.attachments = attachments
        self.finished = threading.Event()
        self._fds: list[int] = []
        self._streams: tuple[str, ...] = STREAMS
        if terminal is not None:
            os.set_blocking(terminal, False)
            self._fds, self._streams = [terminal], ("stdout",)
        for stream in () if terminal is not None else STREAMS:
            path = fifo_dir(container_id) / f"{stream}.fifo"
            self._fds.append(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))
        self._thread = threading.Thread(
            target=self._run, name=f"logs-{container_id[:12]}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        try:
            for stream, descriptor in zip(self._streams, self._fds, strict=True):
                selector.register(descriptor, selectors.EVENT_READ, stream)
            open_count = len(self._fds)
            while open_count:
                for key, _ in selector.select():
                    try:
                        data = os.read(key.fd, 65536)
                    except BlockingIOError:
                        continue
                    except OSError as error:  # a pty master: EIO once no process holds it
                        if error.errno != errno.EIO:
                            raise
                        data = b""
                    if data:
                        self.writer.write(key.data, data)
                        if self.attachments is not None:
                            self.attachments.tee(key.data, data)
                    else:  # every writer (the container's processes) is gone
                        selector.unregister(key.fd)
                        open_count -= 1
            self.writer.flush_partial()
        finally:
            selector.close()
            if self.attachments is not None:
                self.attachments.run_ended()  # before the terminal's descriptor closes
            for descriptor in self._fds:
                os.close(descriptor)
            self.finished.set()
            with self.writer.changed:
                self.writer.changed.notify_all()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)


@dataclass(frozen=True)
class LogQuery:
    stdout: bool = True
    stderr: bool = True
    tail: int | None = None  # None: all
    since_ns: int | None = None
    until_ns: int | None = None

    def wants(self, entry: JsonObject) -> bool:
        stream = entry.get("stream")
        if (stream == "stdout" and not self.stdout) or (stream == "stderr" and not self.stderr):
            return False
        if self.since_ns is None and self.until_ns is None:
            return True
        moment = parse_rfc3339_ns(entry["time"])
        if self.since_ns is not None and moment < self.since_ns:
            return False
        return self.until_ns is None or moment <= self.until_ns


def _files_oldest_first(path: Path) -> list[Path]:
    rotated = sorted(
        (p for p in path.parent.glob(path.name + ".*") if p.suffix[1:].isdigit()),
        key=lambda p: -int(p.suffix[1:]),
    )
    return [*rotated, path] if path.exists() else rotated


def _parse(line: bytes) -> JsonObject | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None  # a line cut by a crash mid-write
    return value if isinstance(value, dict) else None


def read_entries(path: Path, query: LogQuery) -> tuple[list[JsonObject], int, int | None]:
    """Entries already written, oldest first; plus the current file's end offset and
    inode (where a follower continues)."""
    entries: list[JsonObject] = []
    offset, inode = 0, None
    for file_path in _files_oldest_first(path):
        try:
            with open(file_path, "rb") as log:
                data = log.read()
                if file_path == path:
                    offset, inode = log.tell(), os.fstat(log.fileno()).st_ino
        except FileNotFoundError:
            continue
        for line in data.splitlines():
            entry = _parse(line)
            if entry is not None and query.wants(entry):
                entries.append(entry)
    if query.tail is not None and query.tail >= 0:
        entries = entries[len(entries) - query.tail :] if query.tail else []
    return entries, offset, inode


def _file_after(path: Path, current: BinaryIO | None) -> BinaryIO | None:
    """The log file that follows ``current`` (oldest first), or None when ``current``
    is the newest. If ``current`` rotated away entirely, the oldest file left."""
    files = _files_oldest_first(path)
    inodes = []
    for file_path in files:
        try:
            inodes.append(os.stat(file_path).st_ino)
        except FileNotFoundError:
            inodes.append(-1)
    position = -1
    if current is not None:
        inode = os.fstat(current.fileno()).st_ino
        if inode in inodes:
            position = inodes.index(inode)
    for file_path in files[position + 1 :]:
        try:
            return open(file_path, "rb")
        except FileNotFoundError:
            continue
    return None


def follow_entries(
    path: Path, query: LogQuery, writer: LogWriter | None, still_running: Any,
    stopping: threading.Event, tick: float = 0.5,
) -> Iterator[JsonObject | None]:
    """The stored entries, then new ones as they are written, until the container
    stops (``still_running()`` false and nothing left to read). ``None`` is a tick.

    The current file stays open: after a rotation the rest of it is still read (it is
    ``container.log.1`` by then) before the follower moves on to the new file."""
    entries, offset, inode = read_entries(path, query)
    current: BinaryIO | None = None
    try:  # opened before the stored entries are handed out: no rotation slips between
        current = open(path, "rb")  # noqa: SIM115 - closed in finally
        if os.fstat(current.fileno()).st_ino != inode:
            offset = 0  # rotated between the read above and this open
        current.seek(offset)
    except FileNotFoundError:
        current = None
    generation = -1
    pending = b""
    try:
        yield from entries
        while not stopping.is_set():
            if writer is not None:
                with writer.changed:
                    if writer.generation == generation:
                        writer.changed.wait(tick)
                    generation = writer.generation
            running = still_running()
            while True:
                if current is not None:
                    pending += current.read()
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        entry = _parse(line)
                        if entry is not None and query.wants(entry):
                            yield entry
                following = _file_after(path, current)
                if following is None:
                    break
                if current is not None:  # rotated: the old file was read to its end
                    current.close()
                current, pending = following, b""
            if not running:
                return
            yield None
            if writer is None:
                stopping.wait(tick)
    finally:
        if current is not None:
            current.close()
