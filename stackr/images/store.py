"""The image store: content-addressed, one unpacked directory per layer, atomic commits.

Layout under ``state_root()/images`` (the engine is the only writer in production; the
lock makes concurrent CLI use safe)::

    lock                        flock(2): held while the store's indexes change
    blobs/sha256/<hex>          image configs and manifests, named by their digest
    layers/sha256/<hex>/        one unpacked layer, named by its diff_id, shared by images
    records/<hex>.json          one image: its layers (diff_ids), sizes, manifest digest
    tags.json                   {"docker.io/library/busybox:latest": "sha256:<id>", ...}
    digests.json                {"docker.io/library/busybox@sha256:<manifest>": "sha256:<id>"}
    tmp/                        extractions and spooled archives in progress
    downloads/<hex>.partial     interrupted registry downloads, resumed by the next pull

Nothing under ``blobs``, ``layers``, ``records`` or the indexes is written in place: a
layer is unpacked into ``tmp/`` and renamed into ``layers/`` only once it is complete and
its diff_id verified; JSON files are written to a temp file and renamed. A bad archive or
an interrupted pull therefore leaves the store as it was (a resumable partial download
at most). Compressed layer blobs are not kept once unpacked (as Docker's overlay2 store).

An image's id is the digest of its config (``sha256:…``), as in Docker.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import json
import os
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, cast

from stackr.errors import HostError, PreconditionError, StateError
from stackr.images.archive import (
    ArchivedImage,
    ArchiveSource,
    DirectoryArchiveSource,
    StreamedArchiveSource,
    TarArchiveSource,
    UnpackedLayer,
    check_diff_ids,
    check_os,
    open_tar,
    read_archive,
    read_stream,
    sha256_digest,
)
from stackr.images.config import DEFAULT_PATH, ImageConfig
from stackr.images.errors import (
    AmbiguousReferenceError,
    ArchiveError,
    ImageError,
    ImageInUseError,
    ImageNotFoundError,
    InvalidReferenceError,
)
from stackr.images.layers import (
    LayerResult,
    PrefixedStream,
    check_lower_dirs,
    extract_layer,
    verify_layer,
)
from stackr.images.progress import Phase, ProgressCallback, ProgressEvent
from stackr.images.reference import Reference, is_id_prefix, parse_reference
from stackr.paths import state_root
from stackr.statefile import write_atomic

if TYPE_CHECKING:
    from concurrent.futures import Future

    from stackr.images.registry import RegistryClient

RECORD_VERSION = 1
LAYER_DOWNLOAD_THREADS = 3


@dataclass(frozen=True)
class ImageRecord:
    """One image of the store, with the names that currently point at it."""

    id: str  # sha256 of the config: "sha256:<64 hex>"
    diff_ids: tuple[str, ...]  # bottom layer first, as in the config's rootfs
    config: ImageConfig
    created: str  # the image's own creation time (RFC 3339), "" if unknown
    architecture: str
    os: str
    size: int  # bytes of file content in all layers
    repo_tags: tuple[str, ...] = ()  # full references: docker.io/library/busybox:latest
    repo_digests: tuple[str, ...] = ()  # docker.io/library/busybox@sha256:<manifest digest>
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def short_id(self) -> str:
        return self.id.removeprefix("sha256:")[:12]


def _hex(digest: str) -> str:
    return digest.removeprefix("sha256:")


@dataclass
class _Staged:
    """Layers unpacked into tmp/ and verified, waiting for the commit."""

    dirs: dict[str, Path] = field(default_factory=dict)  # diff_id → temp dir
    sizes: dict[str, int] = field(default_factory=dict)  # diff_id → bytes of file content


def _now() -> str:
    return datetime.now(UTC).isoformat()


class ImageStore:
    """The images of one host. Thread-safe and process-safe for its mutating methods."""

    def __init__(
        self,
        root: Path | None = None,
        *,
        in_use: Callable[[], set[str]] | None = None,
    ) -> None:
        """``root`` defaults to ``state_root()/"images"``. ``in_use`` returns the ids of
        images that containers use (the engine supplies it): such images are never removed
        by ``remove`` (even forced: they are only untagged) nor by ``prune``."""
        self.root = root or state_root() / "images"
        self._in_use = in_use or (lambda: set())
        self._thread_lock = threading.Lock()
        try:
            for sub in ("blobs/sha256", "layers/sha256", "records", "tmp", "downloads"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
            os.chmod(self.root / "layers", 0o700)
            _spread_children(self.root / "tmp")
        except PermissionError as error:
            raise PreconditionError(
                f"cannot use the image store {self.root}: permission denied (run as root, "
                "or set STACKR_ROOT to a directory you own)"
            ) from error
        except OSError as error:
            raise HostError.from_os_error(
                "create the image store", str(self.root), error
            ) from error

    # -- paths -------------------------------------------------------------------------
    def layer_dir(self, diff_id: str) -> Path:
        return self.root / "layers" / "sha256" / _hex(diff_id)

    def blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / _hex(digest)

    def download_dir(self) -> Path:
        return self.root / "downloads"

    def has_layer(self, diff_id: str) -> bool:
        return self.layer_dir(diff_id).is_dir()

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    # -- locking and atomic writes -----------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock, open(self.root / "lock", "a+") as lock_file:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)

    def _write_atomic(self, path: Path, data: bytes) -> None:
        write_atomic(path, data, durable=True, temp_dir=self.root / "tmp")

    def _read_index(self, name: str) -> dict[str, str]:
        path = self.root / name
        try:
            document = json.loads(path.read_bytes())
        except FileNotFoundError:
            return {}
        except ValueError as error:
            raise StateError(f"image store index {path} is corrupt: {error}") from error
        if not isinstance(document, dict):
            raise StateError(f"image store index {path} is not an object")
        return {str(k): str(v) for k, v in document.items()}

    def _write_index(self, name: str, index: Mapping[str, str]) -> None:
        self._write_atomic(
            self.root / name, json.dumps(dict(sorted(index.items())), indent=1).encode()
        )

    def _temp_dir(self, prefix: str) -> Path:
        return Path(tempfile.mkdtemp(dir=self.root / "tmp", prefix=f"{os.getpid()}.{prefix}"))

    def _layer_temp_dir(self) -> Path:
        target = self._temp_dir("layer.")
        os.chmod(target, 0o755)  # a layer's root is the container's / when no entry says otherwise
        return target

    def _discard(self, path: Path) -> None:
        """Remove a directory tree that may hold read-only directories (as root, fine)."""
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=False)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    # -- records -----------------------------------------------------------------------
    def resolution_files(self, image_ids: Iterable[str]) -> list[Path]:
        """The files whose content decides what references resolve to: the name and
        digest indexes, and the records of ``image_ids`` (for stackr's settled record)."""
        return [self.root / "tags.json", self.root / "digests.json",
                *(self._record_path(image_id) for image_id in image_ids)]

    def _record_path(self, image_id: str) -> Path:
        return self.root / "records" / f"{_hex(image_id)}.json"

    def _load_record(
        self, image_id: str, tags: Mapping[str, str], digests: Mapping[str, str]
    ) -> ImageRecord:
        path = self._record_path(image_id)
        try:
            document = json.loads(path.read_bytes())
            config_document = json.loads(self.blob_path(image_id).read_bytes())
        except (OSError, ValueError) as error:
            raise StateError(f"image record {path} is unreadable: {error}") from error
        config = ImageConfig.from_json(config_document)
        return ImageRecord(
            id=image_id,
            diff_ids=tuple(document["diff_ids"]),
            config=config,
            created=str(config_document.get("created") or ""),
            architecture=str(config_document.get("architecture") or ""),
            os=str(config_document.get("os") or ""),
            size=int(document.get("size", 0)),
            repo_tags=tuple(sorted(t for t, i in tags.items() if i == image_id)),
            repo_digests=tuple(sorted(d for d, i in digests.items() if i == image_id)),
            labels=config.labels,
        )

    def _image_ids(self) -> builtins.list[str]:
        return sorted(
            "sha256:" + p.name.removesuffix(".json")
            for p in (self.root / "records").iterdir()
            if p.name.endswith(".json")
        )

    # -- queries -----------------------------------------------------------------------
    def list(self) -> builtins.list[ImageRecord]:
        """Every image, newest first (by the image's created time), then by id."""
        tags, digests = self._read_index("tags.json"), self._read_index("digests.json")
        records = [self._load_record(i, tags, digests) for i in self._image_ids()]
        records.sort(key=lambda r: r.id)
        records.sort(key=lambda r: r.created, reverse=True)
        return records

    def get(self, image_id: str) -> ImageRecord:
        if not self._record_path(image_id).is_file():
            raise ImageNotFoundError(image_id)
        return self._load_record(
            image_id, self._read_index("tags.json"), self._read_index("digests.json")
        )

    def resolve(self, reference: str) -> ImageRecord | None:
        """The image named by ``reference``: name[:tag], name@digest, or an id (prefix).

        Returns None when nothing matches; raises for an ambiguous id prefix or a
        reference that is neither a valid name nor an id.
        """
        image_id = self._resolve_id(reference)
        return self.get(image_id) if image_id else None

    def _resolve_id(self, reference: str) -> str | None:
        tags, digests = self._read_index("tags.json"), self._read_index("digests.json")
        parsed: Reference | None = None
        try:
            parsed = parse_reference(reference)
        except InvalidReferenceError:
            if not is_id_prefix(reference):
                raise
        if parsed is not None:
            if parsed.digest:
                found = digests.get(f"{parsed.repository}@{parsed.digest}")
                if found:
                    return found
            elif str(parsed) in tags:
                return tags[str(parsed)]
        if is_id_prefix(reference):
            prefix = reference.removeprefix("sha256:")
            matches = [i for i in self._image_ids() if _hex(i).startswith(prefix)]
            if len(matches) > 1:
                raise AmbiguousReferenceError(
                    f"image id prefix {reference!r} matches {len(matches)} images"
                )
            if matches:
                return matches[0]
        return None

    def require(self, reference: str) -> ImageRecord:
        record = self.resolve(reference)
        if record is None:
            raise ImageNotFoundError(reference)
        return record

    def config_document(self, image: ImageRecord) -> dict[str, Any]:
        """The image's configuration JSON as stored (for ``image inspect``)."""
        try:
            document: dict[str, Any] = json.loads(self.blob_path(image.id).read_bytes())
        except (OSError, ValueError) as error:
            raise StateError(f"image {image.short_id}: config blob unreadable: {error}") from error
        return document

    def layer_dirs(self, image: ImageRecord) -> builtins.list[Path]:
        """The image's unpacked layers, top layer first: OverlayFS's ``lowerdir`` order."""
        # A layer repeated in one image (identical RUN steps) is listed once, at its top
        # position: overlayfs refuses a lowerdir twice, and the lower copy could not show
        # anything the upper one does not.
        dirs = list(dict.fromkeys(self.layer_dir(d) for d in reversed(image.diff_ids)))
        for path in dirs:
            if not path.is_dir():
                raise StateError(f"image {image.short_id}: layer directory {path} is missing")
        return dirs

    # -- adding images -----------------------------------------------------------------
    def load_archive(
        self,
        source: Path | BinaryIO | IO[bytes],
        progress: ProgressCallback | None = None,
        *,
        label: str | None = None,
    ) -> builtins.list[ImageRecord]:
        """Load every image of a ``docker save`` or OCI archive (file, directory or stream).

        All layers are unpacked into temporary directories and verified first; the store
        changes only once everything checked out, so a bad archive leaves it unchanged.
        ``label`` names the archive in errors (default: its path, or "archive from stdin").
        """
        spooled: list[Path] = []
        label = label or (str(source) if isinstance(source, Path) else "archive from stdin")
        try:
            if isinstance(source, Path):
                if source.is_dir():
                    return self._load_from(DirectoryArchiveSource(source), progress)
                if not source.exists():
                    raise ArchiveError(f"{source}: no such file")
                archive_path = source
            else:
                head = source.read(6)
                rejoined = cast(IO[bytes], PrefixedStream(head, source))
                if not head.startswith((b"BZh", b"\xfd7zXZ")):  # plain, gzip or zstd
                    return self._load_stream(rejoined, label, progress)
                archive_path = self._spool(rejoined)  # bzip2, xz: through a spooled copy
                spooled.append(archive_path)
            opener = _decompressor_for(archive_path)
            if opener is not None:
                # a compressed archive cannot be read in place, and tarfile's random access
                # on it would decompress again for each member: decompress it once
                try:
                    with opener(archive_path) as stream:
                        archive_path = self._spool(stream)  # removes itself if it fails
                except (OSError, EOFError, ValueError) as error:
                    raise ArchiveError(f"{label}: corrupt compressed archive ({error})") from error
                spooled.append(archive_path)
            with open_tar(archive_path, label) as tar:
                try:
                    tar_source = TarArchiveSource(tar, label, archive_path)
                except (OSError, EOFError, tarfile.TarError) as error:
                    raise ArchiveError(
                        f"{label}: truncated or corrupt archive ({error})"
                    ) from error
                return self._load_from(tar_source, progress)
        finally:
            for path in spooled:
                self._discard(path)

    def _spool(self, stream: BinaryIO | IO[bytes]) -> Path:
        fd, name = tempfile.mkstemp(dir=self.root / "tmp", prefix=f"{os.getpid()}.spool.")
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(stream, out, 1 << 20)
        except BaseException:
            self._discard(Path(name))
            raise
        return Path(name)

    def _load_stream(
        self, stream: IO[bytes], label: str, progress: ProgressCallback | None
    ) -> builtins.list[ImageRecord]:
        """Load an archive as it streams in: layers unpacked on the way (no spooled copy
        of the archive), checked against their images once the manifest is read."""
        spool_dir = self._temp_dir("stream.")
        unpacked_dirs: builtins.list[Path] = []

        def unpack(section: IO[bytes], name: str) -> UnpackedLayer:
            target = self._layer_temp_dir()
            unpacked_dirs.append(target)
            result = extract_layer(section, target, None, what=f"layer {name}")
            return UnpackedLayer(target, result)

        try:
            try:
                source = read_stream(stream, label, spool_dir, unpack)
            except ArchiveError:
                _drain(stream)
                raise
            return self._load_from(source, progress)
        finally:
            self._discard(spool_dir)
            for path in unpacked_dirs:  # committed ones were renamed away
                self._discard(path)

    def _load_from(
        self, source: ArchiveSource, progress: ProgressCallback | None
    ) -> builtins.list[ImageRecord]:
        images = read_archive(source)
        staged = _Staged()
        try:
            for image in images:
                self._stage_archived_layers(image, staged, progress, source)
            with self._locked():
                self._commit_layers(staged)
                ids = [self._commit_image(image, image.tags, None) for image in images]
        finally:
            for path in staged.dirs.values():
                self._discard(path)
        tags, digests = self._read_index("tags.json"), self._read_index("digests.json")
        return [self._load_record(i, tags, digests) for i in ids]

    def _stage_archived_layers(
        self,
        image: ArchivedImage,
        staged: _Staged,
        progress: ProgressCallback | None,
        source: ArchiveSource,
    ) -> None:
        lowers: builtins.list[Path] = []
        for layer, diff_id in zip(image.layers, image.diff_ids, strict=True):
            if self.has_layer(diff_id):
                lowers.insert(0, self.layer_dir(diff_id))
                if progress:
                    progress(ProgressEvent(Phase.EXISTS, diff_id))
                continue
            unpacked = (
                source.unpacked_layer(layer.name)
                if isinstance(source, StreamedArchiveSource) and diff_id not in staged.dirs
                else None
            )
            if unpacked is not None:
                what = f"layer {layer.name}"
                verify_layer(
                    unpacked.result,
                    what,
                    expected_diff_id=diff_id,
                    expected_digest=layer.digest,
                    expected_size=layer.size,
                )
                check_lower_dirs(unpacked.result, lowers, what)
                staged.dirs[diff_id] = unpacked.directory
                staged.sizes[diff_id] = unpacked.result.unpacked_size
                if progress:
                    progress(ProgressEvent(Phase.LOADED, diff_id))
            elif diff_id not in staged.dirs:
                if progress:
                    progress(ProgressEvent(Phase.EXTRACTING, diff_id))
                target = self._layer_temp_dir()
                staged.dirs[diff_id] = target
                with layer.opener() as stream:
                    result = extract_layer(
                        stream,
                        target,
                        lowers,
                        what=f"layer {layer.name}",
                        expected_diff_id=diff_id,
                        expected_digest=layer.digest,
                        expected_size=layer.size,
                    )
                staged.sizes[diff_id] = result.unpacked_size
                if progress:
                    progress(ProgressEvent(Phase.LOADED, diff_id))
            lowers.insert(0, staged.dirs[diff_id])

    def _commit_layers(self, staged: _Staged) -> None:
        """Rename verified temp layers into place (must hold the lock)."""
        sizes = self._read_layer_sizes()
        for diff_id, path in staged.dirs.items():
            if not self.has_layer(diff_id):
                os.rename(path, self.layer_dir(diff_id))
                sizes[diff_id] = str(staged.sizes.get(diff_id, 0))
        self._write_index("layers.json", sizes)

    def _read_layer_sizes(self) -> dict[str, str]:
        return self._read_index("layers.json")

    def _commit_image(
        self,
        image: ArchivedImage,
        names: Sequence[str],
        repo_digest: str | None,
    ) -> str:
        """Write the config blob, record and names of an image whose layers are in place."""
        image_id = image.config_digest
        if sha256_digest(image.config_bytes) != image_id:
            raise ArchiveError(f"image config does not hash to {image_id}")
        if not self.has_blob(image_id):
            self._write_atomic(self.blob_path(image_id), image.config_bytes)
        if (
            image.manifest_bytes is not None
            and image.manifest_digest
            and not self.has_blob(image.manifest_digest)
        ):
            self._write_atomic(self.blob_path(image.manifest_digest), image.manifest_bytes)
        sizes = self._read_layer_sizes()
        record = {
            "version": RECORD_VERSION,
            "id": image_id,
            "diff_ids": list(image.diff_ids),
            "size": sum(int(sizes.get(d, 0)) for d in image.diff_ids),
            "manifest_digest": image.manifest_digest,
            "added": _now(),
        }
        record_path = self._record_path(image_id)
        if not record_path.exists():
            self._write_atomic(record_path, json.dumps(record, indent=1).encode())
        tags = self._read_index("tags.json")
        for name in names:
            try:
                parsed = parse_reference(name)
            except InvalidReferenceError as error:
                raise ArchiveError(
                    f"image {image_id[:19]} carries an invalid name: {error}"
                ) from error
            if parsed.tag:
                tags[str(parsed.with_tag(parsed.tag))] = image_id
        self._write_index("tags.json", tags)
        if repo_digest:
            digests = self._read_index("digests.json")
            digests[repo_digest] = image_id
            self._write_index("digests.json", digests)
        return image_id

    def add_layer(
        self,
        stream: BinaryIO | IO[bytes],
        parent_diff_ids: Sequence[str] = (),
        *,
        expected_diff_id: str | None = None,
    ) -> str:
        """Unpack one layer tar (plain, gzip or zstd) on top of ``parent_diff_ids`` (bottom
        first, already in the store); return its diff_id. For builders: a layer no image
        uses yet is removed by ``prune``, so add the image soon after its layers."""
        if expected_diff_id is not None and self.has_layer(
            check_diff_ids([expected_diff_id], "layer")[0]
        ):
            return expected_diff_id
        lowers = [self.layer_dir(d) for d in reversed(check_diff_ids(parent_diff_ids, "parents"))]
        staged = _Staged()
        target = self._layer_temp_dir()
        try:
            result = extract_layer(
                stream, target, lowers, what="layer", expected_diff_id=expected_diff_id
            )
            staged.dirs[result.diff_id] = target
            staged.sizes[result.diff_id] = result.unpacked_size
            with self._locked():
                self._commit_layers(staged)
        finally:
            self._discard(target)
        return result.diff_id

    def add_image(self, config: Mapping[str, Any], names: Sequence[str] = ()) -> ImageRecord:
        """Record an image whose layers (``config["rootfs"]["diff_ids"]``) are all in the
        store, under ``names``; its id is the digest of the canonical JSON of ``config``."""
        config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        image = ArchivedImage(config_bytes, sha256_digest(config_bytes), dict(config), (), ())
        check_os(image.config, "image")
        for diff_id in check_diff_ids(image.diff_ids, "image"):
            if not self.has_layer(diff_id):
                raise ImageError(f"image config names layer {diff_id}, which is not in the store")
        with self._locked():
            image_id = self._commit_image(image, list(names), None)
        return self.get(image_id)

    def import_rootfs(
        self,
        source: Path | IO[bytes],
        reference: str,
        *,
        cmd: Sequence[str] | None = None,
        entrypoint: Sequence[str] | None = None,
        env: Sequence[str] = (),
        working_dir: str = "",
        source_name: str = "",
    ) -> ImageRecord:
        """``docker import``: a one-layer image from a root directory or a (compressed) tar
        (a path, or a stream: the engine's ``POST /images/create?fromSrc=-`` body, which
        ``source_name`` then names in the image's history).

        The offline way to a base image: ``mkdir -p root/bin && cp /bin/busybox root/bin/``
        then ``stackr image import root busybox:local --cmd /bin/busybox sh``.
        """
        from stackr.images.platform import host_platform

        name = parse_reference(reference)
        if not name.tag:
            raise InvalidReferenceError(
                f"{reference!r}: an imported image needs a tag, not a digest"
            )
        if isinstance(source, Path):
            if not source.exists():
                raise ArchiveError(f"{source}: no such file or directory")
            source_name = source_name or source.name
        label = f"root {source}" if isinstance(source, Path) else f"root {source_name or 'sent'}"
        staged = _Staged()
        tar_path: Path | None = None
        target: Path | None = None
        try:
            if isinstance(source, Path) and source.is_dir():
                tar_path = self._tar_directory(source)
            target = self._layer_temp_dir()
            if isinstance(source, Path):
                with open(tar_path or source, "rb") as stream:
                    result = extract_layer(stream, target, (), what=label)
            else:
                try:
                    result = extract_layer(source, target, (), what=label)
                except ArchiveError:
                    _drain(source)
                    raise
            staged.dirs[result.diff_id] = target
            staged.sizes[result.diff_id] = result.unpacked_size
            created = _now()
            process: dict[str, Any] = {"Env": list(env) or [f"PATH={DEFAULT_PATH}"]}
            if cmd:
                process["Cmd"] = list(cmd)
            if entrypoint:
                process["Entrypoint"] = list(entrypoint)
            if working_dir:
                process["WorkingDir"] = working_dir
            config = {
                "architecture": host_platform()[1],
                "os": "linux",
                "created": created,
                "config": process,
                "rootfs": {"type": "layers", "diff_ids": [result.diff_id]},
                "history": [
                    {"created": created, "created_by": f"stackr image import {source_name}"}
                ],
            }
            config_bytes = json.dumps(config, separators=(",", ":")).encode()
            image = ArchivedImage(config_bytes, sha256_digest(config_bytes), config, (), ())
            with self._locked():
                self._commit_layers(staged)
                image_id = self._commit_image(image, [str(name)], None)
        finally:
            for path in staged.dirs.values():
                self._discard(path)
            if target is not None:  # an extraction that failed is not staged
                self._discard(target)
            if tar_path is not None:
                self._discard(tar_path)
        return self.get(image_id)

    def _tar_directory(self, root: Path) -> Path:
        import tarfile

        fd, name = tempfile.mkstemp(dir=self.root / "tmp", prefix=f"{os.getpid()}.import.")
        os.close(fd)
        try:
            with tarfile.open(name, mode="w", format=tarfile.PAX_FORMAT) as archive:
                for entry in sorted(root.iterdir()):
                    archive.add(entry, arcname=entry.name)  # recursive, sorted, owners kept
        except OSError as error:
            self._discard(Path(name))
            raise HostError.from_os_error("read root directory", str(root), error) from error
        return Path(name)

    # -- pulling -----------------------------------------------------------------------
    def pull(self, reference: str, progress: ProgressCallback | None = None) -> ImageRecord:
        """Pull ``reference`` from its registry; layers already present are not fetched."""
        from stackr.images.registry import RegistryClient

        parsed = parse_reference(reference)
        client = RegistryClient.for_domain(parsed.domain)
        resolved = client.resolve_image(parsed, progress)
        config_bytes = (
            self.blob_path(resolved.config_digest).read_bytes()
            if self.has_blob(resolved.config_digest)
            else client.read_blob(parsed.path, resolved.config_descriptor, "image config")
        )
        try:
            config_document = json.loads(config_bytes)
        except ValueError as error:
            raise ImageError(f"{parsed}: the image config is not JSON: {error}") from error
        if not isinstance(config_document, dict):
            raise ImageError(f"{parsed}: the image config is not a JSON object")
        check_os(config_document, str(parsed))
        rootfs = config_document.get("rootfs")
        raw_diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
        diff_ids = check_diff_ids(
            raw_diff_ids if isinstance(raw_diff_ids, list) else [], str(parsed)
        )
        if len(diff_ids) != len(resolved.layers):
            raise ImageError(
                f"{parsed}: the manifest has {len(resolved.layers)} layers but the config lists "
                f"{len(diff_ids)}"
            )
        image = ArchivedImage(
            config_bytes=config_bytes,
            config_digest=resolved.config_digest,
            config=config_document,
            layers=(),
            tags=(),
            manifest_bytes=resolved.manifest_bytes,
            manifest_digest=resolved.manifest_digest,
        )
        staged = _Staged()
        downloads: builtins.list[Path] = []
        try:
            self._stage_pulled_layers(
                client, parsed, resolved.layers, diff_ids, staged, downloads, progress
            )
            names = [str(parsed)] if parsed.tag else []
            with self._locked():
                self._commit_layers(staged)
                image_id = self._commit_image(
                    image, names, f"{parsed.repository}@{resolved.manifest_digest}"
                )
            for path in downloads:  # the verified blobs are unpacked: no need to keep them
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        finally:
            for path in staged.dirs.values():
                self._discard(path)
        return self.get(image_id)

    def _stage_pulled_layers(
        self,
        client: RegistryClient,
        parsed: Reference,
        layers: Sequence[Mapping[str, Any]],
        diff_ids: Sequence[str],
        staged: _Staged,
        downloads: builtins.list[Path],
        progress: ProgressCallback | None,
    ) -> None:
        """Download the missing layers concurrently, each unpacked by its download thread
        as soon as it is complete and verified (so the layers decompress in parallel);
        the checks against the layers below, which need those, run here in order."""
        missing = [
            (descriptor, diff_id)
            for descriptor, diff_id in zip(layers, diff_ids, strict=True)
            if not self.has_layer(diff_id)
        ]
        if progress:
            for descriptor, diff_id in zip(layers, diff_ids, strict=True):
                if self.has_layer(diff_id):
                    progress(ProgressEvent(Phase.EXISTS, str(descriptor.get("digest"))))
        futures: dict[str, Future[tuple[Path, Path | None, LayerResult | None]]] = {}
        stop = threading.Event()
        unpacked_dirs: builtins.list[Path] = []  # every directory a thread unpacked into

        def fetch(descriptor: Mapping[str, Any], diff_id: str
                  ) -> tuple[Path, Path | None, LayerResult | None]:
            blob = client.download_blob(
                parsed.path, descriptor, self.download_dir(), progress, stop
            )
            if self.has_layer(diff_id) or stop.is_set():  # another pull committed it
                return blob, None, None
            digest = str(descriptor.get("digest"))
            if progress:
                progress(ProgressEvent(Phase.EXTRACTING, digest))
            target = self._layer_temp_dir()
            unpacked_dirs.append(target)
            with open(blob, "rb") as stream:
                result = extract_layer(stream, target, None, what=f"layer {digest}")
            return blob, target, result

        # imported here: it brings logging (~10 ms), which a load does not need
        from concurrent.futures import ThreadPoolExecutor

        try:
            with ThreadPoolExecutor(
                max_workers=LAYER_DOWNLOAD_THREADS, thread_name_prefix="layer"
            ) as pool:
                for descriptor, diff_id in missing:
                    digest = str(descriptor.get("digest"))
                    if digest not in futures:
                        futures[digest] = pool.submit(fetch, descriptor, diff_id)
                try:
                    lowers: builtins.list[Path] = []
                    for descriptor, diff_id in zip(layers, diff_ids, strict=True):
                        if self.has_layer(diff_id):
                            lowers.insert(0, self.layer_dir(diff_id))
                            continue
                        digest = str(descriptor.get("digest"))
                        if diff_id not in staged.dirs:
                            blob, target, result = futures[digest].result()
                            downloads.append(blob)
                            if target is None or result is None:
                                lowers.insert(0, self.layer_dir(diff_id))
                                continue
                            what = f"layer {digest}"
                            verify_layer(result, what, expected_diff_id=diff_id)
                            check_lower_dirs(result, lowers, what)
                            staged.dirs[diff_id] = target
                            staged.sizes[diff_id] = result.unpacked_size
                            if progress:
                                progress(ProgressEvent(Phase.DONE, digest))
                        lowers.insert(0, staged.dirs[diff_id])
                except BaseException:
                    stop.set()  # running downloads end at their next chunk, queued ones never start
                    for future in futures.values():
                        future.cancel()
                    raise
        finally:
            kept = set(staged.dirs.values())  # the caller commits or discards those
            for path in unpacked_dirs:  # the threads are done (the pool was shut down)
                if path not in kept:
                    self._discard(path)

    # -- removing ----------------------------------------------------------------------
    def tag(self, reference: str, new_name: str) -> None:
        record = self.require(reference)
        parsed = parse_reference(new_name)
        if not parsed.tag:
            raise InvalidReferenceError(f"{new_name!r}: a tag cannot carry a digest")
        with self._locked():
            tags = self._read_index("tags.json")
            tags[str(parsed)] = record.id
            self._write_index("tags.json", tags)

    def remove(self, reference: str, force: bool = False) -> builtins.list[str]:
        """``docker rmi``: untag, and delete the image once no name is left.

        Returns Docker's lines (``Untagged: …``, ``Deleted: sha256:…``). A name removes
        only that name (the image goes with its last name); an id removes the image and
        all its names, which needs ``force`` when it has several. An image a container
        uses is never deleted: without ``force`` removing its last name is refused, with
        ``force`` it is only untagged.
        """
        with self._locked():
            image_id = self._resolve_id(reference)
            if image_id is None:
                raise ImageNotFoundError(reference)
            tags, digests = self._read_index("tags.json"), self._read_index("digests.json")
            name = _name_in(reference, tags, digests)
            own_names = sorted(n for n, i in (tags | digests).items() if i == image_id)
            own_tags = [n for n in own_names if n in tags]
            doomed_names = [name] if name else own_names
            last_name = not (set(own_tags) - set(doomed_names))
            if name is None and len(own_tags) > 1 and not force:
                raise ImageInUseError(
                    f"image {_hex(image_id)[:12]} is referenced by several names "
                    f"({', '.join(_familiar(t) for t in own_tags)}); "
                    "remove them by name or use force"
                )
            in_use = image_id in self._in_use()
            if last_name and in_use and not force:
                raise ImageInUseError(f"image {_hex(image_id)[:12]} is used by a container")
            if last_name:  # the image goes: its digest names too
                doomed_names = sorted(set(doomed_names) | {n for n in own_names if n in digests})
            removed = []
            for doomed in doomed_names:
                tags.pop(doomed, None)
                digests.pop(doomed, None)
                removed.append(f"Untagged: {_familiar(doomed)}")
            self._write_index("tags.json", tags)
            self._write_index("digests.json", digests)
            if last_name and not in_use:
                removed.extend(self._delete_image(image_id))
            return removed

    def _delete_image(self, image_id: str) -> builtins.list[str]:
        """Delete the record, config blob and layers no other image uses (hold the lock)."""
        record = json.loads(self._record_path(image_id).read_bytes())
        self._record_path(image_id).unlink()
        removed = [f"Deleted: {image_id}"]
        used = self._used_layers()
        for diff_id in record["diff_ids"]:
            if diff_id not in used and self.has_layer(diff_id):
                self._remove_layer(diff_id)
                removed.append(f"Deleted: {diff_id}")
        for digest in (image_id, record.get("manifest_digest")):
            if digest:
                with contextlib.suppress(FileNotFoundError):
                    self.blob_path(digest).unlink()
        return removed

    def _used_layers(self) -> set[str]:
        used: set[str] = set()
        for image_id in self._image_ids():
            used.update(json.loads(self._record_path(image_id).read_bytes())["diff_ids"])
        return used

    def _remove_layer(self, diff_id: str) -> None:
        # rename first, so a crash mid-delete never leaves a half layer under its real name
        doomed = self.root / "tmp" / f"{os.getpid()}.deleting.{_hex(diff_id)}"
        try:
            os.rename(self.layer_dir(diff_id), doomed)
        except OSError as error:
            raise HostError.from_os_error(
                "remove layer", str(self.layer_dir(diff_id)), error
            ) from error
        self._discard(doomed)
        sizes = self._read_layer_sizes()
        sizes.pop(diff_id, None)
        self._write_index("layers.json", sizes)

    def prune(self) -> builtins.list[str]:
        """Remove untagged images no container uses, unused layers and leftovers in tmp/."""
        removed: builtins.list[str] = []
        with self._locked():
            tags, digests = self._read_index("tags.json"), self._read_index("digests.json")
            named = set(tags.values())
            in_use = self._in_use()
            for image_id in self._image_ids():
                if image_id in named or image_id in in_use:
                    continue
                for key in [k for k, i in digests.items() if i == image_id]:
                    del digests[key]
                self._write_index("digests.json", digests)
                removed.extend(self._delete_image(image_id))
            used = self._used_layers()
            for path in sorted((self.root / "layers" / "sha256").iterdir()):
                if "sha256:" + path.name not in used:
                    self._remove_layer("sha256:" + path.name)
                    removed.append(f"Deleted: sha256:{path.name}")
            for path in (self.root / "tmp").iterdir():
                if not _owner_alive(path.name):  # a live process may be loading into it
                    self._discard(path)
            for path in self.download_dir().iterdir():
                if not _download_in_progress(path):
                    self._discard(path)
        return removed


FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_TOPDIR_FL = 0x00020000


def _spread_children(directory: Path) -> None:
    """Mark ``directory`` as a "top" directory (``chattr +T``): ext4 then places each
    directory made in it (a layer being unpacked) in a block group of its own choosing
    rather than next to its parent. Layers then do not pile up in one group, and on an
    ext4 without a journal, unpacking right after an ``rmi`` does not pay for the inodes
    it just freed (each recently freed inode is skipped one by one, up to 2 ms per new
    file). Only a hint: file systems without the flag are left as they are."""
    import array

    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        flags = array.array("i", [0])  # the kernel reads and writes an int
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, flags, True)
        if not flags[0] & FS_TOPDIR_FL:
            flags[0] |= FS_TOPDIR_FL
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, flags, True)
    except OSError:
        pass
    finally:
        os.close(fd)


def _drain(stream: IO[bytes]) -> None:
    """Read a refused stream to its end: its sender (a client of the engine, still
    sending) then gets the refusal as the answer rather than a broken pipe."""
    with contextlib.suppress(Exception):
        while stream.read(1 << 16):
            pass


def _familiar(name: str) -> str:
    try:
        return parse_reference(name).familiar()
    except InvalidReferenceError:
        return name


def _name_in(reference: str, tags: Mapping[str, str], digests: Mapping[str, str]) -> str | None:
    """The index key ``reference`` names (a tag or a repo digest), None for an id."""
    try:
        key = str(parse_reference(reference))
    except InvalidReferenceError:
        return None
    return key if key in tags or key in digests else None


def _owner_alive(temp_name: str) -> bool:
    """Temp entries start with the pid of the process that made them."""
    pid_text = temp_name.partition(".")[0]
    if not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _download_in_progress(path: Path) -> bool:
    """A download holds an exclusive flock on its partial file while it writes."""
    try:
        with open(path, "rb") as partial:
            try:
                fcntl.flock(partial.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(partial.fileno(), fcntl.LOCK_UN)
    except FileNotFoundError:
        return False
    return False


def _decompressor_for(path: Path) -> Callable[[Path], IO[bytes]] | None:
    """How to decompress an archive file (gzip, bzip2, xz, zstd), None if it is a plain tar."""
    with open(path, "rb") as archive:
        head = archive.read(6)
    if head.startswith(b"\x1f\x8b"):
        import gzip

        return lambda p: cast(IO[bytes], gzip.open(p, "rb"))
    if head.startswith(b"BZh"):
        import bz2

        return lambda p: cast(IO[bytes], bz2.open(p, "rb"))
    if head.startswith(b"\xfd7zXZ"):
        import lzma

        return lambda p: cast(IO[bytes], lzma.open(p, "rb"))
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        try:
            import zstandard  # type: ignore[import-not-found,unused-ignore]
        except ImportError as error:
            raise ArchiveError(
                f"{path} is zstd-compressed; install the 'zstandard' Python package"
            ) from error
        return lambda p: cast(IO[bytes], zstandard.open(p, "rb"))
    return None
