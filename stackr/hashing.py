"""Config hashes: what decides that a resource must be made again.

A resource's config is its model dumped to canonical JSON, less the fields that must not
force a recreate (compose's hash.go blanks the same ones): how a service is ordered
(``depends_on``), selected (``profiles``), counted (``scale``, ``deploy.replicas``), built
(``build``, ``pull_policy``: the resulting image id counts instead) or developed
(``develop``). The image a container runs counts by its id, so a new image under the
same tag recreates the container.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel  # for the types only: ``down`` must not import pydantic

SERVICE_FIELDS_NOT_RECREATING = frozenset(
    {"depends_on", "profiles", "scale", "build", "pull_policy", "develop"}
)
DEPLOY_FIELDS_NOT_RECREATING = frozenset({"replicas"})


def config_hash(config: Mapping[str, Any]) -> str:
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def service_config(service: BaseModel, image_id: str | None) -> dict[str, Any]:
    """The part of a service that decides whether its containers are recreated."""
    data = service.model_dump(mode="json", exclude=set(SERVICE_FIELDS_NOT_RECREATING))
    deploy = data.get("deploy")
    if isinstance(deploy, dict):
        data["deploy"] = {k: v for k, v in deploy.items() if k not in DEPLOY_FIELDS_NOT_RECREATING}
    data["image_id"] = image_id
    return data


def resource_config(model: BaseModel) -> dict[str, Any]:
    """A network's or volume's config, as dumped from its model."""
    return model.model_dump(mode="json")
