"""``stackr load``: load images from a ``docker save`` or OCI archive (file or stdin).

The archive goes to the engine (``POST /images/load``, the archive as the body), so
``-H`` loads it into another host's store. The body needs a length: a file is sent as it
is; a pipe on stdin, or an OCI layout directory (packed as a tar), is first written to
a temporary file.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stackr.client import EngineClient


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-i",
        "--input",
        metavar="FILE",
        help="archive (tar, tar.gz, …) or OCI layout directory; '-' or none: standard input",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")


def run(args: argparse.Namespace) -> int:
    from stackr.client import EngineClient
    from stackr.errors import UsageError
    from stackr.images.errors import ArchiveError

    client = EngineClient(getattr(args, "host", None))
    if args.input and args.input != "-":
        source = Path(args.input)
        if not source.exists():
            raise ArchiveError(f"{source}: no such file")
        label = str(source)
        if source.is_dir():
            with packed_directory(source) as packed:
                lines = list(_load(client, packed, label))
        else:
            with open(source, "rb") as archive:
                lines = list(_load(client, archive, label))
    else:
        if sys.stdin.isatty():
            raise UsageError("requested load from stdin, but stdin is a terminal (use -i FILE)")
        stdin = sys.stdin.buffer
        if stat.S_ISREG(os.fstat(stdin.fileno()).st_mode):  # `< file`: send it as it is
            lines = list(_load(client, stdin, "archive from stdin"))
        else:
            with _spooled(stdin) as spooled:
                lines = list(_load(client, spooled, "archive from stdin"))
    if not args.quiet:
        for line in lines:
            print(line)
    return 0


def _load(client: EngineClient, archive: IO[bytes], label: str) -> Iterator[str]:
    """The engine's ``Loaded image…`` lines, names in their familiar form; a refused
    archive raises ArchiveError naming it as the user did (the engine only saw bytes)."""
    from stackr.client import EngineError
    from stackr.images.errors import SENT_ARCHIVE_LABEL, ArchiveError
    from stackr.images.reference import familiar

    try:
        answers: list[dict[str, Any]] = list(client.image_load(archive))
    except EngineError as error:
        if error.status != 400:
            raise
        message = error.message.replace(SENT_ARCHIVE_LABEL, label, 1)
        raise ArchiveError(message) from None
    for answer in answers:
        if "error" in answer:
            raise ArchiveError(f"{label}: {answer['error']}")
        text = str(answer.get("stream", "")).strip()
        name = text.removeprefix("Loaded image: ")
        yield f"Loaded image: {familiar(name)}" if name != text else text


@contextlib.contextmanager
def _spooled(stream: IO[bytes]) -> Iterator[IO[bytes]]:
    """``stream`` copied into a temporary file (in $TMPDIR), removed afterwards."""
    import shutil
    import tempfile

    with tempfile.TemporaryFile(prefix="stackr-load.") as spool:
        shutil.copyfileobj(stream, spool, 1 << 20)
        spool.seek(0)
        yield spool


@contextlib.contextmanager
def packed_directory(root: Path) -> Iterator[IO[bytes]]:
    """An OCI layout directory as an uncompressed tar in a temporary file (symlinks stay
    symlinks: the engine resolves them inside the archive only)."""
    import tarfile
    import tempfile

    from stackr.errors import HostError

    with tempfile.TemporaryFile(prefix="stackr-load.") as spool:
        try:
            with tarfile.open(fileobj=spool, mode="w", format=tarfile.PAX_FORMAT) as archive:
                for entry in sorted(root.iterdir()):
                    archive.add(entry, arcname=entry.name)
        except OSError as error:
            raise HostError.from_os_error("read the OCI layout", str(root), error) from error
        spool.seek(0)
        yield spool
