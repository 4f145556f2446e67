"""Safe extraction of one image layer into its own directory, in OverlayFS form.

Every tar member is checked here rather than trusting ``tarfile.extractall``:

* names are relative and free of ``..`` after normalisation (absolute names refused);
* no member is written through a symlink: each parent component must be a real
  directory in this layer, and where this layer does not have it, the path must not be a
  symlink in the lower layers (the merged view a container would see); files are opened
  with ``O_NOFOLLOW | O_EXCL`` after any existing entry was removed;
* hard links must name a file already extracted in this same layer, reached without
  symlinks;
* device nodes only as root; ``trusted.overlay.*`` xattrs from the archive are dropped
  (they would let an image forge overlay metadata).

A layer is unpacked once (keyed by its diff_id) and checked against the lower layers of
the image that first brings it. It is never resolved through them on the host, so a
layer reused on other lowers cannot escape either; the check only refuses layers whose
paths would have gone through a lower symlink in a container's view. Since the lowers
are only read, the check can also come after the unpacking (``lowers=None``, then
``check_lower_dirs``): for layers unpacked before their image is known (an archive
streaming in) or in parallel (a pull).

Whiteouts become OverlayFS's forms: ``dir/.wh.NAME`` → a character device 0:0 at
``dir/NAME``; ``dir/.wh..wh..opq`` → the ``trusted.overlay.opaque=y`` xattr on ``dir``.
Owner, mode (with setuid bits), xattrs and mtimes are kept. The diff_id (sha256 of the
uncompressed tar) and, when asked, the digest and size of the compressed blob are
verified in the same pass: each byte is read once, hashed, and written (64 KiB at a
time; file metadata through the open descriptor).
"""

from __future__ import annotations

import enum
import errno
import io
import os
import shutil
import stat
import tarfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from stackr.errors import HostError
from stackr.images.errors import ArchiveError, DigestMismatchError, UnsafeLayerError
from stackr.images.hasher import BackgroundSha256

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
PAX_XATTR_PREFIX = "SCHILY.xattr."
FORBIDDEN_XATTR_PREFIX = "trusted.overlay."
CHUNK = 1 << 16  # below glibc's mmap threshold (128 KiB): no page faults per buffer

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class EntryKind(enum.Enum):
    ENTRY = "entry"  # an ordinary file, directory, link or device
    WHITEOUT = "whiteout"  # path names what a lower layer's entry to hide
    OPAQUE = "opaque"  # path names the directory whose lower contents are hidden
    IGNORED = "ignored"  # Docker's other .wh..wh. metadata (e.g. .wh..wh.plnk)


def normalise_name(name: str) -> str:
    """A tar member name as a clean relative path (``""`` is the layer root).

    Raises UnsafeLayerError for absolute names and for any ``..`` component.
    """
    if name.startswith("/"):
        raise UnsafeLayerError(f"layer entry {name!r} has an absolute name")
    parts = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise UnsafeLayerError(f"layer entry {name!r} leaves the layer (contains '..')")
        parts.append(part)
    return "/".join(parts)


def classify(path: str) -> tuple[EntryKind, str]:
    """Whiteout translation of a normalised member path: its kind and the path it acts on."""
    parent, _, base = path.rpartition("/")
    if base == OPAQUE_MARKER:
        return EntryKind.OPAQUE, parent
    if base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
        return EntryKind.IGNORED, path
    if base.startswith(WHITEOUT_PREFIX):
        hidden = base[len(WHITEOUT_PREFIX) :]
        if not hidden:
            raise UnsafeLayerError(f"layer entry {path!r} is a whiteout of nothing")
        return EntryKind.WHITEOUT, f"{parent}/{hidden}" if parent else hidden
    return EntryKind.ENTRY, path


def is_whiteout(mode: int, rdev: int) -> bool:
    return stat.S_ISCHR(mode) and rdev == 0


@dataclass(frozen=True)
class LayerResult:
    diff_id: str  # sha256 of the uncompressed tar
    digest: str  # sha256 of the bytes read (compressed blob); "" when not asked to verify it
    blob_size: int
    unpacked_size: int  # sum of regular file sizes
    # extracted before its lowers were known (``lowers=None``): the directories this layer
    # made where it had none, each with the entry that needed it, to check with
    # ``check_lower_dirs`` once the lowers are known
    lower_dirs: tuple[tuple[str, str], ...] = ()


class _HashingReader:
    """Reads through ``source``, hashing and counting every byte; read errors of a
    decompressor become ArchiveError (a truncated or corrupt layer)."""

    def __init__(self, source: IO[bytes], what: str) -> None:
        self._source = source
        self._what = what
        self.hash = BackgroundSha256()
        self.hashing = True  # off when nobody checks this digest (a blob verified before)
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes, fewer only at the end (tarfile expects full reads)."""
        data = self._read_once(size)
        while 0 < len(data) < size:
            more = self._read_once(size - len(data))
            if not more:
                break
            data += more
        if self.hashing:
            self.hash.update(data)
        self.size += len(data)
        return data

    def _read_once(self, size: int) -> bytes:
        try:
            data: bytes = self._source.read(size)
        except (EOFError, zlib.error) as error:
            raise ArchiveError(
                f"{self._what}: corrupt or truncated compressed data ({error})"
            ) from error
        except Exception as error:
            if type(error).__module__.startswith("zstandard"):
                raise ArchiveError(f"{self._what}: corrupt zstd data ({error})") from error
            raise
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    # tarfile's random-access mode needs tell/seek; reading members in order it only
    # ever seeks forward, which is done by reading (and hashing) the skipped bytes.
    def tell(self) -> int:
        return self.size

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_CUR:
            offset += self.size
        elif whence != os.SEEK_SET:
            raise io.UnsupportedOperation("a layer stream can only seek forward")
        if offset < self.size:
            raise ArchiveError(f"{self._what}: the tar stream would need to be read backwards")
        while self.size < offset and self.read(min(offset - self.size, CHUNK)):
            pass
        return self.size


class PrefixedStream:
    """A stream with bytes already read from its start put back in front."""

    def __init__(self, prefix: bytes, rest: IO[bytes]) -> None:
        self._prefix = prefix
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            if size < 0:
                data, self._prefix = self._prefix + self._rest.read(), b""
                return data
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        return self._rest.read(size)


class GzipStream:
    """The decompressed bytes of a gzip stream (one or more members, as gzip allows).

    zlib parses the header and checks the CRC and length itself, in C; ``gzip.GzipFile``
    does that in Python and copies every byte once more through a buffered reader
    (a third slower). Truncation raises EOFError, corruption zlib.error, as GzipFile.
    """

    def __init__(self, source: IO[bytes]) -> None:
        self._source = source
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._pending = b""
        self._between_members = False  # after a member's end: another member, or zeros

    def read(self, size: int = -1) -> bytes:
        limit = size if size >= 0 else 1 << 60
        while True:
            if not self._pending:
                self._pending = self._source.read(CHUNK)
                if not self._pending:
                    if not self._between_members:
                        raise EOFError("the gzip stream ends before its end marker")
                    return b""
            if self._between_members:
                rest = self._pending.lstrip(b"\0")  # zero padding after the last member
                if not rest:
                    self._pending = b""
                    continue
                if not rest.startswith(GZIP_MAGIC):
                    raise zlib.error("data after the end of the gzip stream is not gzip")
                self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._pending, self._between_members = rest, False
            data = self._inflate.decompress(self._pending, limit)
            self._pending = self._inflate.unconsumed_tail
            if self._inflate.eof:
                self._pending, self._between_members = self._inflate.unused_data, True
            if data or size == 0:
                return data


def _decompressor(head: bytes, stream: IO[bytes], what: str) -> IO[bytes] | None:
    """A decompressing reader of ``stream`` if ``head`` (its first bytes) is gzip or zstd."""
    if head.startswith(GZIP_MAGIC):
        return GzipStream(stream)  # type: ignore[return-value]
    if head.startswith(ZSTD_MAGIC):
        try:
            import zstandard  # type: ignore[import-not-found,unused-ignore]
        except ImportError as error:
            raise ArchiveError(
                f"{what} is zstd-compressed; install the 'zstandard' Python package to use it"
            ) from error
        reader: IO[bytes] = zstandard.ZstdDecompressor().stream_reader(stream)
        return reader
    return None


def _lower_entry(lowers: Sequence[Path], rel: str) -> os.stat_result | None:
    """What the merged view of ``lowers`` (top first) has at ``rel``, or None if nothing."""
    for lower in lowers:
        try:
            found = os.lstat(lower / rel)
        except (FileNotFoundError, NotADirectoryError):
            if _hidden_by_opaque(lower, rel):
                return None
            continue
        if is_whiteout(found.st_mode, found.st_rdev):
            return None
        return found
    return None


def _check_lower_dir(lowers: Sequence[Path], rel: str, member_name: str, what: str) -> None:
    """Refuse a directory ``rel`` made by a layer where its lowers have a symlink (the
    layer's entries would be written through it in a container's view) or a file."""
    lower = _lower_entry(lowers, rel)
    if lower is not None and stat.S_ISLNK(lower.st_mode):
        raise UnsafeLayerError(
            f"{what}: entry {member_name!r} would be written through the "
            f"symlink {rel!r} of a lower layer"
        )
    if lower is not None and not stat.S_ISDIR(lower.st_mode):
        raise ArchiveError(
            f"{what}: entry {member_name!r} needs {rel!r} to be a directory, "
            "but a lower layer has a file there"
        )


def check_lower_dirs(result: LayerResult, lowers: Sequence[Path], what: str) -> None:
    """The lower-layer checks of a layer extracted with ``lowers=None``, now that its
    ``lowers`` (top first) are known: the same refusals, in the same order, as extracting
    it on them would have made (lowers are only read, so the order of work is free)."""
    for rel, member_name in result.lower_dirs:
        _check_lower_dir(lowers, rel, member_name, what)


def _hidden_by_opaque(layer: Path, rel: str) -> bool:
    parent = rel.rpartition("/")[0]
    while parent:
        try:
            if os.getxattr(layer / parent, OPAQUE_XATTR, follow_symlinks=False) == b"y":
                return True
        except OSError:
            pass
        parent = parent.rpartition("/")[0]
    return False


class _Extractor:
    def __init__(self, dest: Path, lowers: Sequence[Path] | None, what: str) -> None:
        self.dest = dest
        self.dest_text = str(dest)  # paths are built as text: pathlib costs per member
        self.lowers = lowers  # None: not known yet, the checks are recorded in lower_dirs
        self.lower_dirs: list[tuple[str, str]] = []
        self.what = what
        self.as_root = os.geteuid() == 0
        self.known_dirs: set[str] = {""}
        # every name this extraction created: ``dest`` starts empty and only this
        # extractor writes to it, so a name not in here has nothing to remove (no lstat)
        self.created: set[str] = set()
        self.dir_metadata: dict[str, tarfile.TarInfo] = {}
        self.unpacked_size = 0

    def _path(self, rel: str) -> str:
        return f"{self.dest_text}/{rel}" if rel else self.dest_text

    # -- path checks -------------------------------------------------------------------
    def _ensure_dir(self, rel: str, member_name: str) -> None:
        """Make sure ``rel`` is a real directory of this layer, creating it if needed."""
        if rel in self.known_dirs:
            return
        parent = rel.rpartition("/")[0]
        self._ensure_dir(parent, member_name)
        path = self._path(rel)
        try:
            found = os.lstat(path)
        except FileNotFoundError:
            if self.lowers is None:
                self.lower_dirs.append((rel, member_name))
            else:
                _check_lower_dir(self.lowers, rel, member_name, self.what)
            os.mkdir(path, 0o755)
            self.known_dirs.add(rel)
            self.created.add(rel)
            return
        if stat.S_ISLNK(found.st_mode):
            raise UnsafeLayerError(
                f"{self.what}: entry {member_name!r} would be written through the symlink "
                f"{rel!r} made earlier in the same layer"
            )
        if not stat.S_ISDIR(found.st_mode):
            raise ArchiveError(
                f"{self.what}: entry {member_name!r} needs {rel!r} to be a directory, "
                "but it is a file"
            )
        self.known_dirs.add(rel)

    def _clear(self, rel: str, keep_dir: bool) -> bool:
        """Remove what is at ``rel`` in this layer; True if a directory was kept."""
        if rel not in self.created:
            return False
        path = self._path(rel)
        try:
            found = os.lstat(path)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(found.st_mode):
            if keep_dir:
                return True
            shutil.rmtree(path)
            self.known_dirs = {
                d for d in self.known_dirs if d != rel and not d.startswith(rel + "/")
            }
            self.dir_metadata = {
                d: m
                for d, m in self.dir_metadata.items()
                if d != rel and not d.startswith(rel + "/")
            }
        else:
            os.unlink(path)
        return False

    def _existing_file(self, rel: str, member_name: str) -> str:
        """The path of a non-directory already extracted in this layer (hard-link source)."""
        parent = rel.rpartition("/")[0]
        if parent not in self.known_dirs:
            # walk it without creating anything: every component must be a real directory
            current = ""
            for part in parent.split("/") if parent else []:
                current = f"{current}/{part}" if current else part
                try:
                    found = os.lstat(self._path(current))
                except FileNotFoundError:
                    found = None
                if found is None or not stat.S_ISDIR(found.st_mode):
                    raise UnsafeLayerError(
                        f"{self.what}: hard link {member_name!r} points to {rel!r}, which is not "
                        "a file of this layer"
                    )
        path = self._path(rel)
        try:
            found = os.lstat(path)
        except FileNotFoundError:
            raise UnsafeLayerError(
                f"{self.what}: hard link {member_name!r} points to {rel!r}, which is not a file "
                "of this layer"
            ) from None
        if stat.S_ISDIR(found.st_mode):
            raise UnsafeLayerError(f"{self.what}: hard link {member_name!r} points to a directory")
        return path

    # -- metadata ----------------------------------------------------------------------
    def _xattrs(self, member: tarfile.TarInfo) -> list[tuple[str, bytes]]:
        found = []
        for key, value in member.pax_headers.items():
            if not key.startswith(PAX_XATTR_PREFIX):
                continue
            name = key[len(PAX_XATTR_PREFIX) :]
            if name.startswith(FORBIDDEN_XATTR_PREFIX):
                continue
            found.append((name, value.encode("utf-8", "surrogateescape")))
        return found

    def _apply_metadata(self, path: str, member: tarfile.TarInfo, fd: int | None = None) -> None:
        """Owner, xattrs, mode and mtime of ``path``; through ``fd`` when it is open (one
        lookup less per call, and the very file written, whatever the name points at)."""
        is_link = member.issym()
        target: int | str = path if fd is None else fd
        if self.as_root:
            if fd is None:
                os.lchown(path, member.uid, member.gid)
            else:
                os.chown(fd, member.uid, member.gid)
        for name, value in self._xattrs(member):
            try:
                if fd is None:
                    os.setxattr(path, name, value, follow_symlinks=False)
                else:
                    os.setxattr(fd, name, value)
            except OSError as error:
                # as Docker: a file system without (this kind of) xattrs loses them, and
                # user.* xattrs cannot be set on symlinks at all
                if error.errno not in (errno.ENOTSUP, errno.EPERM):
                    raise HostError.from_os_error(
                        f"set xattr {name} on", str(path), error
                    ) from error
        if not is_link:
            os.chmod(target, stat.S_IMODE(member.mode))
        mtime_ns = int(member.mtime * 10**9)
        if fd is None:
            os.utime(path, ns=(mtime_ns, mtime_ns), follow_symlinks=False)
        else:
            os.utime(fd, ns=(mtime_ns, mtime_ns))

    # -- members -----------------------------------------------------------------------
    def member(
        self, archive: tarfile.TarFile, member: tarfile.TarInfo, stream: _HashingReader
    ) -> None:
        rel = normalise_name(member.name)
        kind, target = classify(rel)
        if kind is EntryKind.IGNORED:
            return
        if kind is EntryKind.OPAQUE:
            self._ensure_dir(target, member.name)
            self._need_root(member.name, "an opaque directory")
            os.setxattr(self._path(target), OPAQUE_XATTR, b"y")
            return
        if kind is EntryKind.WHITEOUT:
            self._ensure_dir(target.rpartition("/")[0], member.name)
            self._need_root(member.name, "a whiteout")
            self._clear(target, keep_dir=False)
            os.mknod(self._path(target), stat.S_IFCHR | 0o000, os.makedev(0, 0))
            self.created.add(target)
            return
        if not rel:
            if member.isdir():
                self.dir_metadata[""] = member
                return
            raise UnsafeLayerError(f"{self.what}: entry {member.name!r} replaces the layer root")
        self._ensure_dir(rel.rpartition("/")[0], member.name)
        path = self._path(rel)
        if member.isdir():
            if not self._clear(rel, keep_dir=True):
                os.mkdir(path, 0o700)
                self.created.add(rel)
            self.known_dirs.add(rel)
            self.dir_metadata[rel] = member
            return
        if member.islnk():
            source = self._existing_file(normalise_name(member.linkname), member.name)
            if source == path:
                return
            self._clear(rel, keep_dir=False)
            os.link(source, path, follow_symlinks=False)
            self.created.add(rel)
            return
        self._clear(rel, keep_dir=False)
        self.created.add(rel)
        if member.isreg():
            self._write_file(archive, member, path, stream)
            return
        if member.issym():
            os.symlink(member.linkname, path)
        elif member.isfifo():
            os.mkfifo(path, 0o600)
        elif member.ischr() or member.isblk():
            self._need_root(member.name, "a device node")
            kind_bits = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(path, kind_bits | 0o600, os.makedev(member.devmajor, member.devminor))
        else:
            raise ArchiveError(f"{self.what}: entry {member.name!r} has an unsupported type")
        self._apply_metadata(path, member)

    def _write_file(
        self, archive: tarfile.TarFile, member: tarfile.TarInfo, path: str, stream: _HashingReader
    ) -> None:
        source: IO[bytes] | _HashingReader | None
        remaining = member.size
        if member.sparse is None:  # the data follows the header: read it from the stream
            stream.seek(member.offset_data)
            source = stream
        else:
            source = archive.extractfile(member)
        if source is None:  # pragma: no cover - isreg() members always have data
            raise ArchiveError(f"{self.what}: entry {member.name!r} has no data")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)
        written = 0
        try:
            while remaining:
                try:
                    chunk = source.read(min(CHUNK, remaining))
                except tarfile.ReadError as error:
                    raise ArchiveError(
                        f"{self.what}: entry {member.name!r} is truncated"
                    ) from error
                if not chunk:
                    break
                remaining -= len(chunk)
                _write_all(fd, chunk)
                written += len(chunk)
            if written != member.size:
                raise ArchiveError(
                    f"{self.what}: entry {member.name!r} declares {member.size} bytes but has "
                    f"{written}"
                )
            self._apply_metadata(path, member, fd)
        finally:
            os.close(fd)
        self.unpacked_size += written

    def _need_root(self, name: str, what: str) -> None:
        if not self.as_root:
            raise UnsafeLayerError(f"{self.what}: entry {name!r} is {what}, which needs root")

    def finish(self) -> None:
        # deepest first, so setting a parent's mtime comes after its children were written
        for rel in sorted(self.dir_metadata, key=lambda d: d.count("/") + bool(d), reverse=True):
            self._apply_metadata(self._path(rel), self.dir_metadata[rel])


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written (a write may be short, e.g. on a signal)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def extract_layer(
    raw: BinaryIO | IO[bytes],
    dest: Path,
    lowers: Sequence[Path] | None = (),
    *,
    what: str = "layer",
    expected_diff_id: str | None = None,
    expected_digest: str | None = None,
    expected_size: int | None = None,
) -> LayerResult:
    """Unpack the (gzip, zstd or plain) tar ``raw`` into the empty directory ``dest``.

    ``lowers`` are the unpacked directories of the layers below, top first: they are only
    read, to refuse writes through their symlinks. ``lowers=None`` when they are not known
    yet (a layer unpacked as an archive streams in): the result then lists what
    ``check_lower_dirs`` must check before the layer is used. On any error ``dest`` is
    left partly filled: the caller extracts into a temporary directory and removes it.
    """
    head = raw.read(4)
    blob_reader = _HashingReader(PrefixedStream(head, raw), what)  # type: ignore[arg-type]
    decompressed = _decompressor(head, blob_reader, what)  # type: ignore[arg-type]
    # an uncompressed layer's digest is its diff_id: hash those bytes once
    tar_reader = blob_reader if decompressed is None else _HashingReader(decompressed, what)
    if decompressed is not None and expected_digest is None:
        blob_reader.hashing = False  # its digest was verified when it was downloaded
    extractor = _Extractor(dest, lowers, what)
    try:
        try:
            # "r:" over a forward-only reader, not the "r|" stream mode: file data is then
            # read straight from the (decompressed) stream without tarfile's buffer copies
            with tarfile.open(fileobj=tar_reader, mode="r:") as archive:  # type: ignore[call-overload]
                for member in archive:
                    extractor.member(archive, member, tar_reader)
        except tarfile.TarError as error:
            raise ArchiveError(f"{what}: not a valid tar stream ({error})") from error
        tar_reader.drain()
        blob_reader.drain()
        extractor.finish()
        diff_id = "sha256:" + tar_reader.hash.hexdigest()
        digest = "sha256:" + blob_reader.hash.hexdigest() if blob_reader.hashing else ""
    finally:  # a refused layer: its hashing threads stop too
        tar_reader.hash.close()
        blob_reader.hash.close()
    result = LayerResult(
        diff_id, digest, blob_reader.size, extractor.unpacked_size, tuple(extractor.lower_dirs)
    )
    verify_layer(
        result,
        what,
        expected_diff_id=expected_diff_id,
        expected_digest=expected_digest,
        expected_size=expected_size,
    )
    return result


def verify_layer(
    result: LayerResult,
    what: str,
    *,
    expected_diff_id: str | None = None,
    expected_digest: str | None = None,
    expected_size: int | None = None,
) -> None:
    """Refuse a layer whose size, blob digest or diff_id is not the one its image names."""
    if expected_size is not None and result.blob_size != expected_size:
        raise DigestMismatchError(
            f"{what}: size is {result.blob_size} bytes, the manifest says {expected_size}"
        )
    if expected_digest is not None and result.digest != expected_digest:
        raise DigestMismatchError(
            f"{what}: content hashes to {result.digest}, expected {expected_digest}"
        )
    if expected_diff_id is not None and result.diff_id != expected_diff_id:
        raise DigestMismatchError(
            f"{what}: uncompressed content hashes to {result.diff_id}, the image config says "
            f"{expected_diff_id}"
        )
