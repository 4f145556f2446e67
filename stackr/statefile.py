"""Stackr's state files: written atomically, read back with corruption reported.

Every record, index and cache stackr keeps is replaced by writing a temporary file in
the same directory and renaming it over the old one, so that a reader (or stackr after
a crash) sees the old or the new content, never half of one. ``durable`` adds the
fsyncs that make the new content survive a power loss too; records of volatile host
objects (bridges, netns, processes: all gone after a reboot) skip them, since an fsync
costs about 12 ms on these machines.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from stackr.errors import StateError

TYPE_CHECKING = False  # mypy reads True: typing is not loaded at run time
if TYPE_CHECKING:
    from typing import Any


def write_atomic(
    path: Path, data: bytes, *, durable: bool = False, temp_dir: Path | None = None
) -> None:
    """Replace ``path`` by ``data``; ``temp_dir`` must be on the same filesystem."""
    directory = temp_dir or path.parent
    directory.mkdir(parents=True, exist_ok=True)
    # O_EXCL with a random name, as tempfile.mkstemp does, without importing tempfile
    # (and random, shutil, bz2, lzma): the runtime's and the fork server's start-up
    # and memory pay for every module.
    temp_name = str(directory / f".{path.name}.{os.urandom(6).hex()}")
    descriptor = os.open(temp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as temp_file:
            temp_file.write(data)
            if durable:
                temp_file.flush()
                os.fsync(temp_file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    if durable:
        directory_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory_fd)
        finally:
            os.close(directory_fd)


def write_json_atomic(path: Path, value: Any, *, durable: bool = False) -> None:
    """``value`` as JSON (sorted keys, so files diff well), written atomically.

    On one line: with ``indent``, ``json`` encodes in Python instead of C (an engine
    record took 0.13 ms instead of 0.04), and the engine writes a record at every
    create, start, stop and exit."""
    write_atomic(path, encode_json(value), durable=durable)


def encode_json(value: Any) -> bytes:
    """A record's bytes: sorted keys, one line (see ``write_json_atomic``)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def read_json(path: Path) -> Any | None:
    """The JSON document at ``path``; ``None`` when there is no file. A file that is not
    JSON is a ``StateError`` naming it (exit 4), never a traceback."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return json.loads(text)
    except ValueError as error:
        raise StateError(f"{path}: corrupt record ({error})") from None


def read_json_object(path: Path) -> dict[str, Any] | None:
    """Like ``read_json``, for records that must be a JSON object."""
    value = read_json(path)
    if value is not None and not isinstance(value, dict):
        raise StateError(f"{path}: corrupt record (not an object)")
    return value
