"""Config hashes: what decides that a resource must be made again.

A resource's config is its model dumped to canonical JSON, less the fields that must not
force a recreate (compose's hash.go blanks the same ones): how a service is ordered
(``depends_on``), selected (``profiles``), counted (``scale``, ``deploy.replicas``), built
(``build``, ``pull_policy``: the resulting image id counts instead), developed
(``develop``) or shown (``attach``). The image a container runs counts by its id, so a
new image under the same tag recreates the container. Unset fields (None) are left out,
so that a key stackr learns later does not change every service's hash.
"""

from __future__ import annotations

import json

TYPE_CHECKING = False  # mypy reads True: typing is not loaded by down, ps, logs, up
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from pydantic import BaseModel  # for the types only: ``down`` must not import pydantic

SERVICE_FIELDS_NOT_RECREATING = frozenset(
    {"depends_on", "profiles", "scale", "build", "pull_policy", "develop", "attach"}
)
DEPLOY_FIELDS_NOT_RECREATING = frozenset({"replicas"})


def sha256_hex(data: bytes) -> str:
    """The SHA-256 digest of ``data``, in hex.

    From CPython's own ``_sha256`` where it has one (3.11; ``_sha2`` from 3.12):
    ``hashlib`` starts OpenSSL on import (~4.7 ms), more than every digest a command
    takes of its few small files and keys.
    """
    try:
        from _sha256 import sha256  # type: ignore[import-not-found]
    except ImportError:
        try:
            from _sha2 import sha256  # type: ignore[import-not-found]
        except ImportError:
            from hashlib import sha256
    digest: str = sha256(data).hexdigest()
    return digest


def config_hash(config: Mapping[str, Any]) -> str:
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + sha256_hex(canonical.encode())


def service_config(service: BaseModel, image_id: str | None) -> dict[str, Any]:
    """The part of a service that decides whether its containers are recreated."""
    data = service.model_dump(mode="json", exclude=set(SERVICE_FIELDS_NOT_RECREATING),
                              exclude_none=True)
    deploy = data.get("deploy")
    if isinstance(deploy, dict):
        data["deploy"] = {k: v for k, v in deploy.items() if k not in DEPLOY_FIELDS_NOT_RECREATING}
    data["image_id"] = image_id
    return data


def resource_config(model: BaseModel) -> dict[str, Any]:
    """A network's or volume's config, as dumped from its model."""
    return model.model_dump(mode="json")
