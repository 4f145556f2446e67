"""A layer from a build container's OverlayFS upper directory.

The upper dir already holds exactly what a step changed; this turns it into an OCI
layer tar (the form image stores, ``docker save`` and registries use):

* files, directories, symlinks, fifos and devices → tar entries with mode, owner,
  modification time and extended attributes (``security.capability`` matters for
  binaries; overlay's own ``trusted.overlay.*`` attributes are dropped);
* a deletion, which overlay records as a 0/0 character device → an empty
  ``.wh.<name>`` entry;
* an opaque directory (``trusted.overlay.opaque=y``: its lower contents are hidden,
  e.g. after ``rm -rf d && mkdir d``) → the directory plus ``d/.wh..wh..opq``;
* files hard-linked together in the upper dir → one file and hard-link entries.

Entries are sorted and owner names left empty, so the same upper dir always gives the
same bytes and so the same digest (the layer's diff_id).
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
_OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
_DROPPED_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")


def is_overlay_whiteout(path: Path, info: os.stat_result) -> bool:
    return stat.S_ISCHR(info.st_mode) and info.st_rdev == 0


def is_overlay_opaque(path: Path) -> bool:
    for name in _OPAQUE_XATTRS:
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


@dataclass(frozen=True)
class UpperFormat:
    """How deletions and opaque directories are marked in an upper dir. The default is
    the kernel's; a test may mark them differently without root."""

    is_whiteout: Callable[[Path, os.stat_result], bool] = is_overlay_whiteout
    is_opaque: Callable[[Path], bool] = is_overlay_opaque


OVERLAY = UpperFormat()


def _xattrs(path: Path) -> dict[str, str]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    values: dict[str, str] = {}
    for name in sorted(names):
        if name.startswith(_DROPPED_XATTR_PREFIXES):
            continue
        try:
            raw = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        # PAX headers are text; tarfile encodes with surrogateescape, so binary values
        # such as security.capability survive the round trip.
        values["SCHILY.xattr." + name] = raw.decode("utf-8", "surrogateescape")
    return values


class _HashingWriter(io.RawIOBase):
    def __init__(self, target: BinaryIO) -> None:
        self.target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.target.write(data)
        self.digest.update(data)
        self.size += len(data)
        return len(data)


@dataclass(frozen=True)
class LayerTar:
    diff_id: str  # "sha256:..." of the uncompressed tar
    size: int
    entries: int


def write_layer_tar(upper: Path, stream: BinaryIO, *,
                    upper_format: UpperFormat = OVERLAY) -> LayerTar:
    """Write the layer tar of ``upper`` to ``stream``; returns its digest and size."""
    writer = _HashingWriter(stream)
    links: dict[tuple[int, int], str] = {}
    count = 0
    with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:

        def add(info: tarfile.TarInfo, data: BinaryIO | None = None) -> None:
            nonlocal count
            tar.addfile(info, data)
            count += 1

        def marker(name: str, like: os.stat_result) -> None:
            info = tarfile.TarInfo(name)
            info.type = tarfile.REGTYPE
            info.mode = 0o644
            info.mtime = int(like.st_mtime)
            add(info)

        def visit(directory: Path, prefix: str) -> None:
            for name in sorted(os.listdir(directory)):
                path = directory / name
                relative = f"{prefix}{name}"
                info = path.lstat()
                if upper_format.is_whiteout(path, info):
                    parent, _, base = relative.rpartition("/")
                    marker(f"{parent}/{WHITEOUT_PREFIX}{base}" if parent
                           else f"{WHITEOUT_PREFIX}{base}", info)
                    continue
                entry = tarfile.TarInfo(relative)
                entry.mode = stat.S_IMODE(info.st_mode)
                entry.uid, entry.gid = info.st_uid, info.st_gid
                entry.uname = entry.gname = ""
                entry.mtime = int(info.st_mtime)
                entry.pax_headers = _xattrs(path)
                key = (info.st_dev, info.st_ino)
                if stat.S_ISDIR(info.st_mode):
                    entry.type = tarfile.DIRTYPE
                    add(entry)
                    if upper_format.is_opaque(path):
                        marker(f"{relative}/{OPAQUE_MARKER}", info)
                    visit(path, relative + "/")
                elif stat.S_ISREG(info.st_mode):
                    if info.st_nlink > 1 and key in links:
                        entry.type = tarfile.LNKTYPE
                        entry.linkname = links[key]
                        add(entry)
                        continue
                    links[key] = relative
                    entry.type = tarfile.REGTYPE
                    entry.size = info.st_size
                    with path.open("rb") as data:
                        add(entry, data)
                elif stat.S_ISLNK(info.st_mode):
                    entry.type = tarfile.SYMTYPE
                    entry.linkname = os.readlink(path)
                    add(entry)
                elif stat.S_ISFIFO(info.st_mode):
                    entry.type = tarfile.FIFOTYPE
                    add(entry)
                elif stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
                    entry.type = tarfile.CHRTYPE if stat.S_ISCHR(info.st_mode) else tarfile.BLKTYPE
                    entry.devmajor = os.major(info.st_rdev)
                    entry.devminor = os.minor(info.st_rdev)
                    add(entry)
                # Sockets are not carried in layers (as Docker).

        visit(upper, "")
    return LayerTar("sha256:" + writer.digest.hexdigest(), writer.size, count)


def upper_is_empty(upper: Path) -> bool:
    """Whether a step changed nothing (its upper dir has no entry)."""
    return not any(upper.iterdir())
