"""Reading image archives: ``docker save`` (both layouts) and OCI image layouts.

Formats understood, by what the archive holds at its top:

* ``manifest.json`` — ``docker save``. Docker before 25 writes the legacy layout
  (``<config-hex>.json``, ``<layer-id>/layer.tar``); Docker 25+ writes an OCI layout
  (``blobs/sha256/…``, ``index.json``, ``oci-layout``) whose ``manifest.json`` names the
  blobs. Both are read through ``manifest.json``, which carries the tags.
* ``index.json`` + ``oci-layout`` without ``manifest.json`` — an OCI image layout
  (``skopeo copy oci-archive:``, ``buildah push``); tags come from the
  ``org.opencontainers.image.ref.name`` / ``io.containerd.image.name`` annotations and an
  index of several platforms is resolved to linux/<host arch>.

Either may be a tar archive (optionally gzip-compressed) or a directory. This module
only reads and checks the structure; ``stackr.images.store`` unpacks and commits.

An archive that arrives as a stream (``stackr load`` sends it to the engine as a request
body) is read once, front to back, by ``read_stream``: its uncompressed layers are
unpacked as they pass (``docker save`` writes the manifest after the layers, so which
image uses which layer is only known at the end; the checks that need the layers below
run then), everything else is kept in files. No copy of the whole archive is written.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from stackr.images.errors import ArchiveError, DigestMismatchError, ImageError
from stackr.images.layers import CHUNK, LayerResult
from stackr.images.platform import select_platform
from stackr.images.reference import is_sha256_digest

MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
INDEX_TYPES = (MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST)
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"
MAX_METADATA = 16 << 20  # manifests and configs are small; refuse a "manifest" of gigabytes
MAX_SYMLINK_HOPS = 8


class ArchiveSource(Protocol):
    def exists(self, name: str) -> bool: ...
    def open(self, name: str) -> IO[bytes]: ...
    def describe(self) -> str: ...


@dataclass(frozen=True)
class LayerEntry:
    """One layer as the archive names it; ``digest``/``size`` are known in OCI layouts."""

    name: str
    digest: str | None
    size: int | None
    opener: Callable[[], IO[bytes]]


@dataclass(frozen=True)
class ArchivedImage:
    config_bytes: bytes
    config_digest: str
    config: Mapping[str, Any]
    layers: tuple[LayerEntry, ...]
    tags: tuple[str, ...]
    manifest_bytes: bytes | None = None
    manifest_digest: str | None = None

    @property
    def diff_ids(self) -> tuple[str, ...]:
        rootfs = self.config.get("rootfs") or {}
        diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, Mapping) else None
        return tuple(diff_ids) if isinstance(diff_ids, list) else ()


def _clean(name: str) -> str:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") or ".." in parts:
        raise ArchiveError(f"archive names {name!r}, which is outside the archive")
    return "/".join(parts)


class _FileSection(io.RawIOBase):
    """``size`` bytes of a file from ``offset``: an archive member read without tarfile's
    buffering (an uncompressed archive's layers are read at disk speed)."""

    def __init__(self, path: Path, offset: int, size: int) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._file.seek(offset)
        self._remaining = size

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self._remaining:
            size = self._remaining
        data = self._file.read(size)
        self._remaining -= len(data)
        return data

    def close(self) -> None:
        self._file.close()
        super().close()


class TarArchiveSource:
    """Members of a (random-access) tar file, following in-archive symlinks safely."""

    def __init__(self, archive: tarfile.TarFile, label: str, path: Path | None = None) -> None:
        """``path``: the archive's file when it is an uncompressed tar (direct reads)."""
        self._archive = archive
        self._label = label
        self._path = path
        self._members: dict[str, tarfile.TarInfo] = {}
        for member in archive.getmembers():
            self._members[_clean(member.name)] = member

    def describe(self) -> str:
        return self._label

    def _resolve(self, name: str) -> tarfile.TarInfo | None:
        return _resolve_member(self._members, name, self._label)

    def exists(self, name: str) -> bool:
        member = self._resolve(name)
        return member is not None and member.isreg()

    def open(self, name: str) -> IO[bytes]:
        member = self._resolve(name)
        if member is None or not member.isreg():
            raise ArchiveError(f"{self._label}: {name!r} is missing from the archive")
        if self._path is not None and member.sparse is None:
            return _FileSection(self._path, member.offset_data, member.size)  # type: ignore[return-value]
        stream = self._archive.extractfile(member)
        if stream is None:  # pragma: no cover - regular members always have data
            raise ArchiveError(f"{self._label}: {name!r} has no data")
        return stream


def _resolve_member(
    members: Mapping[str, tarfile.TarInfo], name: str, label: str
) -> tarfile.TarInfo | None:
    """The member ``name`` names, following links inside the archive (never out of it)."""
    current = _clean(name)
    for _ in range(MAX_SYMLINK_HOPS):
        member = members.get(current)
        if member is None or not (member.issym() or member.islnk()):
            return member
        if member.islnk():
            current = _clean(member.linkname)
        else:
            base = current.rpartition("/")[0]
            target = member.linkname
            current = _clean(target if target.startswith("/") else f"{base}/{target}")
    raise ArchiveError(f"{label}: too many symlinks resolving {name!r}")


@dataclass(frozen=True)
class UnpackedLayer:
    """A member unpacked as a layer while the archive streamed in (not yet checked
    against its image: ``verify_layer`` and ``check_lower_dirs`` come when it is used)."""

    directory: Path
    result: LayerResult


Unpacker = Callable[[IO[bytes], str], UnpackedLayer]


class StreamedArchiveSource:
    """An archive read once from a stream: small members kept in files, uncompressed
    layers already unpacked (or the error unpacking them gave, raised if one is used)."""

    def __init__(
        self,
        label: str,
        members: Mapping[str, tarfile.TarInfo],
        files: Mapping[str, Path],
        unpacked: Mapping[str, UnpackedLayer | ArchiveError],
    ) -> None:
        self._label = label
        self._members = members
        self._files = files
        self._unpacked = unpacked

    def describe(self) -> str:
        return self._label

    def exists(self, name: str) -> bool:
        member = _resolve_member(self._members, name, self._label)
        return member is not None and member.isreg()

    def open(self, name: str) -> IO[bytes]:
        member = _resolve_member(self._members, name, self._label)
        if member is None or not member.isreg():
            raise ArchiveError(f"{self._label}: {name!r} is missing from the archive")
        path = self._files.get(_clean(member.name))
        if path is None:
            raise ArchiveError(f"{self._label}: {name!r} is a layer, not a metadata file")
        return open(path, "rb")

    def unpacked_layer(self, name: str) -> UnpackedLayer | None:
        """The layer ``name`` was unpacked into as it streamed in; None if it was kept as
        a file (compressed, or not a tar) and must be unpacked from there."""
        member = _resolve_member(self._members, name, self._label)
        if member is None:
            return None
        found = self._unpacked.get(_clean(member.name))
        if isinstance(found, ArchiveError):
            raise found
        return found


class _Section:
    """The next ``size`` bytes of a forward-only stream (the member ``name``)."""

    def __init__(self, source: Any, size: int, label: str, name: str) -> None:
        self._source = source
        self.remaining = size
        self._what = f"{label}: {name!r}"

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self.remaining:
            size = self.remaining
        if size == 0:
            return b""
        data: bytes = self._source.read(size)
        if len(data) < size:
            raise ArchiveError(f"{self._what} is cut short: the archive is truncated")
        self.remaining -= len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


def _looks_like_tar(block: bytes) -> bool:
    """A tar header (ustar, POSIX or GNU: Docker's layers are written by Go's archive/tar)."""
    return len(block) == tarfile.BLOCKSIZE and block[257:262] == b"ustar"


def read_stream(
    stream: IO[bytes], label: str, spool_dir: Path, unpack: Unpacker
) -> StreamedArchiveSource:
    """Read a (plain or gzip) tar archive from ``stream`` once: each member that is an
    uncompressed tar goes to ``unpack(section, name)``, other members to files in
    ``spool_dir``, links are noted. A member that fails to unpack is kept as its error
    (a junk member no image uses must not fail the load)."""
    from stackr.images.layers import PrefixedStream, _decompressor, _HashingReader

    head = stream.read(4)
    prefixed = PrefixedStream(head, stream)
    decompressed = _decompressor(head, prefixed, label)  # type: ignore[arg-type]
    reader = _HashingReader(decompressed or prefixed, label)  # type: ignore[arg-type]
    reader.hashing = False  # only for its forward-only tell/seek and its error mapping
    members: dict[str, tarfile.TarInfo] = {}
    files: dict[str, Path] = {}
    unpacked: dict[str, UnpackedLayer | ArchiveError] = {}
    try:
        with tarfile.open(fileobj=reader, mode="r:") as archive:  # type: ignore[call-overload]
            for index, member in enumerate(archive):
                name = _clean(member.name)
                if not name:
                    continue
                members[name] = member
                files.pop(name, None)  # a later member of the same name replaces it
                unpacked.pop(name, None)
                if not member.isreg():
                    continue
                if member.sparse is not None:
                    raise ArchiveError(f"{label}: {name!r} is a sparse file")
                reader.seek(member.offset_data)
                section = _Section(reader, member.size, label, name)
                first = section.read(tarfile.BLOCKSIZE)
                if _looks_like_tar(first):
                    try:
                        unpacked[name] = unpack(PrefixedStream(first, section), name)  # type: ignore[arg-type]
                    except ArchiveError as error:
                        unpacked[name] = error
                    section.drain()
                    continue
                path = spool_dir / str(index)
                with open(path, "wb") as out:
                    out.write(first)
                    while data := section.read(CHUNK):
                        out.write(data)
                files[name] = path
            reader.drain()
    except tarfile.TarError as error:
        raise ArchiveError(f"{label}: not a readable tar archive ({error})") from error
    except OSError as error:
        if isinstance(error, io.UnsupportedOperation):
            raise
        raise ArchiveError(f"{label}: cannot read the archive ({error})") from error
    return StreamedArchiveSource(label, members, files, unpacked)


class DirectoryArchiveSource:
    """Files of an OCI layout directory; a name resolving outside it is refused."""

    def __init__(self, root: Path) -> None:
        self._root = root.resolve()

    def describe(self) -> str:
        return str(self._root)

    def _path(self, name: str) -> Path:
        path = (self._root / _clean(name)).resolve()
        if not path.is_relative_to(self._root):
            raise ArchiveError(f"{self._root}: {name!r} resolves outside the directory")
        return path

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def open(self, name: str) -> IO[bytes]:
        try:
            return open(self._path(name), "rb")
        except OSError as error:
            raise ArchiveError(f"{self._root}: cannot read {name!r}: {error.strerror}") from error


def _read_small(source: ArchiveSource, name: str) -> bytes:
    with source.open(name) as stream:
        data = stream.read(MAX_METADATA + 1)
    if len(data) > MAX_METADATA:
        raise ArchiveError(f"{source.describe()}: {name!r} is too large for metadata")
    return data


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as error:
        raise ArchiveError(f"{what} is not valid JSON: {error}") from error


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_name(digest: str) -> str:
    if not is_sha256_digest(digest):
        raise ArchiveError(f"unsupported or malformed digest {digest!r}")
    return f"blobs/sha256/{digest.removeprefix('sha256:')}"


def check_os(config: Mapping[str, Any], what: str) -> None:
    """Only Linux images run here (Docker refuses a Windows image on Linux the same way)."""
    image_os = config.get("os") or "linux"
    if image_os != "linux":
        raise ImageError(f"{what}: the image is for {image_os}, not linux")


def check_diff_ids(diff_ids: Sequence[object], what: str) -> tuple[str, ...]:
    """The config's ``rootfs.diff_ids``, each a sha256 digest (they name layer dirs)."""
    for diff_id in diff_ids:
        if not is_sha256_digest(diff_id):
            raise ArchiveError(f"{what}: the image config has a malformed diff_id {diff_id!r}")
    return tuple(str(d) for d in diff_ids)


def _read_blob(source: ArchiveSource, descriptor: Mapping[str, Any], what: str) -> bytes:
    digest = descriptor.get("digest")
    if not isinstance(digest, str):
        raise ArchiveError(f"{source.describe()}: {what} descriptor has no digest")
    data = _read_small(source, blob_name(digest))
    if sha256_digest(data) != digest:
        raise DigestMismatchError(
            f"{source.describe()}: {what} {digest} does not match its content"
        )
    size = descriptor.get("size")
    if isinstance(size, int) and size != len(data):
        raise DigestMismatchError(
            f"{source.describe()}: {what} {digest} is {len(data)} bytes, not {size}"
        )
    return data


def _layer_opener(source: ArchiveSource, name: str) -> Callable[[], IO[bytes]]:
    return lambda: source.open(name)


def _from_docker_manifest(source: ArchiveSource) -> list[ArchivedImage]:
    label = source.describe()
    entries = _json(_read_small(source, "manifest.json"), f"{label}: manifest.json")
    if not isinstance(entries, list):
        raise ArchiveError(f"{label}: manifest.json is not a list")
    # Docker 25+ also writes index.json: it gives each layer's descriptor (size, media type)
    descriptors: dict[str, Mapping[str, Any]] = {}
    if source.exists("index.json"):
        try:
            indexed = _from_oci_layout(source, require_platform=False)
        except ImageError:  # e.g. no entry for this platform: manifest.json still names it
            indexed = []
        for image in indexed:
            for layer in image.layers:
                if layer.digest:
                    descriptors[blob_name(layer.digest)] = {
                        "digest": layer.digest,
                        "size": layer.size,
                    }
    images = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise ArchiveError(f"{label}: manifest.json entry without a Config")
        config_bytes = _read_small(source, entry["Config"])
        config_digest = sha256_digest(config_bytes)
        stem = Path(entry["Config"]).name.removesuffix(".json")
        if len(stem) == 64 and config_digest != "sha256:" + stem:
            raise DigestMismatchError(f"{label}: config {entry['Config']} does not match its name")
        layers = []
        for name in entry.get("Layers") or []:
            if not isinstance(name, str):
                raise ArchiveError(f"{label}: manifest.json has a layer that is not a path")
            known = descriptors.get(_clean(name), {})
            layers.append(
                LayerEntry(
                    name, known.get("digest"), known.get("size"), _layer_opener(source, name)
                )
            )
        tags = entry.get("RepoTags") or []
        images.append(
            ArchivedImage(
                config_bytes=config_bytes,
                config_digest=config_digest,
                config=_json(config_bytes, f"{label}: {entry['Config']}"),
                layers=tuple(layers),
                tags=tuple(str(t) for t in tags),
            )
        )
    return images


def _image_from_manifest(
    source: ArchiveSource, manifest_descriptor: Mapping[str, Any], tags: tuple[str, ...]
) -> ArchivedImage:
    label = source.describe()
    manifest_bytes = _read_blob(source, manifest_descriptor, "manifest")
    manifest = _json(manifest_bytes, f"{label}: manifest")
    config_descriptor = manifest.get("config") if isinstance(manifest, dict) else None
    if not isinstance(config_descriptor, dict):
        raise ArchiveError(f"{label}: manifest {manifest_descriptor.get('digest')} has no config")
    config_bytes = _read_blob(source, config_descriptor, "image config")
    layers = []
    for descriptor in manifest.get("layers") or []:
        name = blob_name(str(descriptor.get("digest")))
        layers.append(
            LayerEntry(
                name, descriptor.get("digest"), descriptor.get("size"), _layer_opener(source, name)
            )
        )
    return ArchivedImage(
        config_bytes=config_bytes,
        config_digest=str(config_descriptor["digest"]),
        config=_json(config_bytes, f"{label}: image config"),
        layers=tuple(layers),
        tags=tags,
        manifest_bytes=manifest_bytes,
        manifest_digest=str(manifest_descriptor["digest"]),
    )


def _names_from_annotations(annotations: Mapping[str, Any]) -> tuple[str, ...]:
    """The image name an index entry carries: containerd's full name, else the OCI ref
    name when it is a full reference (a bare tag such as ``latest`` names no repository,
    so the image loads untagged, as ``docker load`` does)."""
    full = annotations.get(ANNOTATION_CONTAINERD_NAME)
    if isinstance(full, str) and full:
        return (full,)
    ref_name = annotations.get(ANNOTATION_REF_NAME)
    if isinstance(ref_name, str) and ("/" in ref_name or ":" in ref_name):
        return (ref_name,)
    return ()


def _from_oci_layout(source: ArchiveSource, require_platform: bool = True) -> list[ArchivedImage]:
    label = source.describe()
    index = _json(_read_small(source, "index.json"), f"{label}: index.json")
    if not isinstance(index, dict):
        raise ArchiveError(f"{label}: index.json is not an object")
    images = []
    for descriptor in index.get("manifests") or []:
        if not isinstance(descriptor, dict):
            raise ArchiveError(f"{label}: index.json has a manifest that is not an object")
        annotations = descriptor.get("annotations") or {}
        tags = _names_from_annotations(annotations)
        if descriptor.get("mediaType") in INDEX_TYPES:
            nested = _json(_read_blob(source, descriptor, "index"), f"{label}: nested index")
            chosen = select_platform(nested.get("manifests") or [], what=f"{label}: index")
            images.append(_image_from_manifest(source, chosen, tags))
        else:
            images.append(_image_from_manifest(source, descriptor, tags))
    if not images and require_platform:
        raise ArchiveError(f"{label}: index.json lists no image")
    return images


def read_archive(source: ArchiveSource) -> list[ArchivedImage]:
    """The images an archive holds, with configs read and verified; layers still unread."""
    if source.exists("manifest.json"):
        images = _from_docker_manifest(source)
    elif source.exists("index.json"):
        images = _from_oci_layout(source)
    else:
        raise ArchiveError(
            f"{source.describe()}: not an image archive (no manifest.json or index.json at its top)"
        )
    for image in images:
        check_diff_ids(image.diff_ids, source.describe())
        check_os(image.config, source.describe())
        if len(image.diff_ids) != len(image.layers):
            raise ArchiveError(
                f"{source.describe()}: image {image.config_digest} has {len(image.layers)} layers "
                f"but its config lists {len(image.diff_ids)} diff_ids"
            )
    return images


def open_tar(path: Path, label: str | None = None) -> tarfile.TarFile:
    """``label`` names the archive in the error (a spooled stream's temp path means nothing)."""
    try:
        return tarfile.open(path, mode="r:*")
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ArchiveError(f"{label or path}: not a readable tar archive ({error})") from error
