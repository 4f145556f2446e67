"""The platform stackr runs images for: linux/<host arch>, in Go's GOARCH names.

Manifest lists and OCI indexes are resolved to it, as ``docker pull`` does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from stackr.images.errors import ImageError

_MACHINE_TO_GOARCH = {
    "x86_64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "aarch64": ("arm64", "v8"),
    "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "i686": ("386", ""),
    "i386": ("386", ""),
    "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
}


def host_platform(machine: str | None = None) -> tuple[str, str, str]:
    """``("linux", "amd64", "")`` on x86_64; ``("linux", "arm64", "v8")`` on aarch64."""
    machine = machine or os.uname().machine  # platform.machine() without its import
    architecture, variant = _MACHINE_TO_GOARCH.get(machine, (machine, ""))
    return "linux", architecture, variant


def select_platform(
    manifests: Sequence[Mapping[str, Any]], *, what: str, machine: str | None = None
) -> Mapping[str, Any]:
    """The descriptor of ``manifests`` (an index's entries) for the host platform.

    A missing variant matches any (most indexes only give ``arm64`` without ``v8``);
    entries without a platform (attestations have ``unknown/unknown``) never match.
    """
    os_name, architecture, variant = host_platform(machine)
    candidates = []
    for descriptor in manifests:
        wanted = descriptor.get("platform") or {}
        if wanted.get("os") != os_name or wanted.get("architecture") != architecture:
            continue
        their_variant = wanted.get("variant") or ""
        if their_variant and variant and their_variant != variant:
            continue
        candidates.append(descriptor)
    if not candidates:
        offered = sorted(
            f"{(d.get('platform') or {}).get('os')}/{(d.get('platform') or {}).get('architecture')}"
            for d in manifests
        )
        raise ImageError(
            f"{what}: no image for {os_name}/{architecture} "
            f"(offered: {', '.join(offered) or 'none'})"
        )
    # an exact variant match first, as containerd's platform matcher orders them
    candidates.sort(key=lambda d: ((d.get("platform") or {}).get("variant") or "") != variant)
    return candidates[0]
