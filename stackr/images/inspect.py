"""Text and JSON views of images for the CLI (``stackr images``, ``stackr image inspect``).

Pure functions of records: they neither read the store nor print. The CLI gets its
images from the engine (``GET /images/json``) as ``ImageListing``s; the engine builds
the inspect document from the store's records. Importing this module does not import
the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from stackr.images.reference import familiar, parse_reference

if TYPE_CHECKING:
    from stackr.images.store import ImageRecord


class ListedImage(Protocol):
    """What a listing row needs: an ``ImageRecord`` or an ``ImageListing``."""

    @property
    def id(self) -> str: ...
    @property
    def short_id(self) -> str: ...
    @property
    def repo_tags(self) -> tuple[str, ...]: ...
    @property
    def repo_digests(self) -> tuple[str, ...]: ...
    @property
    def created(self) -> str: ...
    @property
    def size(self) -> int: ...


@dataclass(frozen=True)
class ImageListing:
    """One image as the engine lists it (full names, as the store keeps them)."""

    id: str
    repo_tags: tuple[str, ...]
    repo_digests: tuple[str, ...]
    created: str  # RFC 3339 ("" if unknown)
    size: int

    @property
    def short_id(self) -> str:
        return self.id.removeprefix("sha256:")[:12]


def listing_from_api(summary: Mapping[str, Any]) -> ImageListing:
    """An ``ImageListing`` from Docker's ImageSummary (``Created`` in Unix seconds)."""
    created_seconds = int(summary.get("Created") or 0)
    created = (
        datetime.fromtimestamp(created_seconds, UTC).isoformat().replace("+00:00", "Z")
        if created_seconds
        else ""
    )
    return ImageListing(
        id=str(summary["Id"]),
        repo_tags=tuple(str(t) for t in summary.get("RepoTags") or ()),
        repo_digests=tuple(str(d) for d in summary.get("RepoDigests") or ()),
        created=created,
        size=int(summary.get("Size") or 0),
    )


def human_size(size: int) -> str:
    """Docker's decimal units: ``4.26MB``."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.3g}{unit}"
        value /= 1000
    raise AssertionError("unreachable")


def human_age(created: str, now: datetime | None = None) -> str:
    try:
        moment = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return "N/A"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = int(((now or datetime.now(UTC)) - moment).total_seconds())
    for unit, length in (
        ("year", 365 * 86400),
        ("month", 30 * 86400),
        ("week", 7 * 86400),
        ("day", 86400),
        ("hour", 3600),
        ("minute", 60),
    ):
        if seconds >= length:
            count = seconds // length
            return f"{count} {unit}{'s' * (count != 1)} ago"
    return "Less than a minute ago"


def table_rows(records: Sequence[ListedImage], *, no_trunc: bool = False) -> list[list[str]]:
    """One row per (repository, tag) like ``docker images``; untagged images as <none>."""
    rows = [["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]]
    for record in records:
        image_id = record.id if no_trunc else record.short_id
        names = [parse_reference(t) for t in record.repo_tags]
        if not names:
            repository = "<none>"
            if record.repo_digests:
                repository = parse_reference(record.repo_digests[0]).familiar_repository()
            names_text = [(repository, "<none>")]
        else:
            names_text = [(n.familiar_repository(), n.tag or "<none>") for n in names]
        for repository, tag in names_text:
            rows.append(
                [repository, tag, image_id, human_age(record.created), human_size(record.size)]
            )
    return rows


def render_table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines)


def summary(record: ListedImage) -> dict[str, Any]:
    return {
        "Id": record.id,
        "RepoTags": [familiar(t) for t in record.repo_tags],
        "RepoDigests": [familiar(d) for d in record.repo_digests],
        "Created": record.created,
        "Size": record.size,
    }


def inspect_document(
    record: ImageRecord, config_document: Mapping[str, Any], layer_dirs: Sequence[Path]
) -> dict[str, Any]:
    """Docker's ``image inspect`` shape, with OverlayFS lowerdirs under GraphDriver."""
    return {
        **summary(record),
        "Architecture": record.architecture,
        "Os": record.os,
        "Config": config_document.get("config") or {},
        "RootFS": {"Type": "layers", "Layers": list(record.diff_ids)},
        "GraphDriver": {
            "Name": "overlay",
            "Data": {"LowerDir": ":".join(str(p) for p in layer_dirs)},
        },
    }
