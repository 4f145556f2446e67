"""Errors of the image store, each naming the image, layer or registry and the cause.

They extend the shared tree in ``stackr.errors`` so the CLI renders them and maps them to
exit codes without knowing about images.
"""

from __future__ import annotations

from stackr.errors import StackrError, UsageError


class ImageError(StackrError):
    """Base of the image store's errors (exit 1: an operation failed)."""


class InvalidReferenceError(UsageError):
    """An image reference that is not valid (``Busybox``, ``a::b``)."""


class ImageNotFoundError(ImageError):
    """No image in the store answers to a reference."""

    def __init__(self, reference: str) -> None:
        self.reference = reference
        super().__init__(f"no such image: {reference}")


class AmbiguousReferenceError(ImageError):
    """An id prefix matches several images."""


class ImageInUseError(ImageError):
    """The image is used by a container or carries several tags and ``force`` is off."""


class ArchiveError(ImageError):
    """An image archive or layer is malformed, unsafe, truncated or does not match its digests."""


class UnsafeLayerError(ArchiveError):
    """A layer entry would escape its directory (``..``, absolute name, symlink, hard link)."""


class DigestMismatchError(ArchiveError):
    """Content does not hash to the digest (or size) that names it."""


class RegistryError(ImageError):
    """A registry refused a request or answered something stackr cannot use."""


class AuthenticationError(RegistryError):
    """The registry wants credentials stackr does not have, or refused them."""


# How the engine names an archive it received as a request body; the CLI puts the
# user's file name in its place.
SENT_ARCHIVE_LABEL = "the archive sent"
