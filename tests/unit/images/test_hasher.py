"""The background sha256: the same digest as hashlib whatever the pieces, and no worker
thread left behind (finished or abandoned)."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest

from stackr.images.hasher import BATCH_BYTES, MAX_PENDING, BackgroundSha256


def _workers() -> int:
    return sum(thread.name == "sha256" for thread in threading.enumerate())


@pytest.mark.parametrize("sizes", [
    [],  # nothing: the empty digest
    [0, 512, 7],  # below one batch: hashed in the caller's thread
    [65536] * 40,  # several batches
    [512, BATCH_BYTES - 512, 3, BATCH_BYTES * 2 + 1, 512],  # batch edges, a huge piece
    [65536] * ((MAX_PENDING + 3) * BATCH_BYTES // 65536),  # more than may wait at once
])
def test_digest_is_hashlibs(sizes: list[int]) -> None:
    pieces = [os.urandom(size) for size in sizes]
    background = BackgroundSha256()
    for piece in pieces:
        background.update(piece)
    assert background.hexdigest() == hashlib.sha256(b"".join(pieces)).hexdigest()
    assert _workers() == 0


def test_views_are_copied_before_their_buffer_changes() -> None:
    buffer = bytearray(os.urandom(BATCH_BYTES))
    expected = hashlib.sha256(bytes(buffer)).hexdigest()
    background = BackgroundSha256()
    background.update(memoryview(buffer))  # type: ignore[arg-type]
    buffer[:] = bytes(len(buffer))  # reused by its owner
    assert background.hexdigest() == expected


def test_close_stops_an_abandoned_worker() -> None:
    background = BackgroundSha256()
    background.update(os.urandom(3 * BATCH_BYTES))
    assert _workers() == 1
    background.close()
    assert _workers() == 0
    background.close()  # twice: nothing to stop
