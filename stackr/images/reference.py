"""Image references, normalised as Docker does (distribution/reference's ParseNormalizedNamed).

``busybox``               → ``docker.io/library/busybox:latest``
``user/app:1``            → ``docker.io/user/app:1``
``host:5000/team/app``    → ``host:5000/team/app:latest``
``app@sha256:<64 hex>``   → ``docker.io/library/app@sha256:<64 hex>`` (no tag added)

A first path component is a registry host when it contains ``.`` or ``:`` or is
``localhost``; otherwise the image is on Docker Hub.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stackr.images.errors import InvalidReferenceError

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_MAX = 255

_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
)
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Reference:
    """A fully normalised image reference: always a domain; a tag unless a digest is given."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """``docker.io/library/busybox``: the name that tags are attached to."""
        return f"{self.domain}/{self.path}"

    @property
    def registry_reference(self) -> str:
        """What a registry's manifest endpoint is asked for: the digest when known."""
        if self.digest:
            return self.digest
        return self.tag or DEFAULT_TAG

    def familiar_repository(self) -> str:
        """``busybox`` / ``user/app`` / ``host:5000/app``: the short form Docker displays."""
        if self.domain == DEFAULT_DOMAIN:
            return self.path.removeprefix(OFFICIAL_REPO_PREFIX)
        return self.repository

    def familiar(self) -> str:
        text = self.familiar_repository()
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, None)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.domain, self.path, None, digest)

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_REPO_PREFIX + path
    return domain, path


def parse_reference(text: str) -> Reference:
    """Parse and normalise ``text``; raise InvalidReferenceError saying what is wrong."""
    original = text
    if not text:
        raise InvalidReferenceError("invalid image reference: empty")
    digest: str | None = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST.fullmatch(digest):
            raise InvalidReferenceError(
                f"invalid image reference {original!r}: {digest!r} is not a sha256 digest"
            )
    tag: str | None = None
    last_slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > last_slash:
        text, tag = text[:colon], text[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise InvalidReferenceError(f"invalid image reference {original!r}: bad tag {tag!r}")
    if not text:
        raise InvalidReferenceError(f"invalid image reference {original!r}: no repository name")
    if _HEX64.fullmatch(text):
        raise InvalidReferenceError(
            f"invalid repository name {original!r}: 64-character hexadecimal strings are "
            "image ids, not names"
        )
    domain, path = _split_domain(text)
    if not _DOMAIN.fullmatch(domain):
        raise InvalidReferenceError(
            f"invalid image reference {original!r}: bad registry {domain!r}"
        )
    for component in path.split("/"):
        if not _PATH_COMPONENT.fullmatch(component):
            if component.lower() != component:
                raise InvalidReferenceError(
                    f"invalid image reference {original!r}: repository name must be lowercase"
                )
            raise InvalidReferenceError(
                f"invalid image reference {original!r}: bad name component {component!r}"
            )
    if len(domain) + 1 + len(path) > NAME_MAX:
        raise InvalidReferenceError(f"invalid image reference {original!r}: name too long")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def is_sha256_digest(value: object) -> bool:
    """``sha256:`` and 64 lowercase hex digits: the only digests stackr accepts. Digests
    name files in the store, so anything else (``sha256:../..``) must never get that far."""
    return isinstance(value, str) and _DIGEST.fullmatch(value) is not None


def is_id_prefix(text: str) -> bool:
    """An image id or a prefix of one (``sha256:`` optional), as ``docker rmi 3f5`` accepts."""
    hex_part = text.removeprefix("sha256:")
    return 1 <= len(hex_part) <= 64 and all(c in "0123456789abcdef" for c in hex_part)


def familiar(name: str) -> str:
    """``name`` as Docker shows it (``busybox:latest``); as it is if it is no reference."""
    try:
        return parse_reference(name).familiar()
    except InvalidReferenceError:
        return name
