"""What the engine calls a project's resources, and the labels that tie them to it.

Compose's conventions: networks and volumes are ``<project>_<key>`` unless the file
names them; containers ``<project>-<service>-<replica>`` unless ``container_name``.
Every resource carries the project label, its key in the file, its config hash, its
config (so a cause can name what changed) and what it needs (so ``down`` works from the
records alone, without the stack file).
"""

from __future__ import annotations

import json

from stackr.graph import ResourceId
from stackr.naming import (
    LABEL_CONFIG_HASH,
    LABEL_NETWORK,
    LABEL_PROJECT,
    LABEL_REPLICA,
    LABEL_SERVICE,
    LABEL_VOLUME,
)

LABEL_CONFIG = "io.stackr.config"  # the canonical config (JSON) the hash was made from
LABEL_NEEDS = "io.stackr.needs"  # resource ids this one needs, comma separated
LABEL_ONEOFF = "io.stackr.oneoff"
LABEL_HOOKS = "io.stackr.hooks"  # the exec bodies of post_start and pre_stop (JSON)
LABEL_IMAGE_BUILT = "io.stackr.image-built"  # "1": the service builds its image (down --rmi)

TYPE_CHECKING = False  # mypy reads True: typing is not loaded by down, ps, logs
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

KIND_LABEL = {"service": LABEL_SERVICE, "network": LABEL_NETWORK, "volume": LABEL_VOLUME}


def project_filter(project: str) -> dict[str, list[str]]:
    return {"label": [f"{LABEL_PROJECT}={project}"]}


def network_name(project: str, key: str, explicit: str | None) -> str:
    return explicit or f"{project}_{key}"


def volume_name(project: str, key: str, explicit: str | None) -> str:
    return explicit or f"{project}_{key}"


def container_name(project: str, service_name: str, replica: int, explicit: str | None
                   ) -> str:
    return explicit or f"{project}-{service_name}-{replica}"


def resource_labels(
    project: str, resource: ResourceId, config: Mapping[str, Any], config_hash: str,
    needs: Iterable[ResourceId] = (),
) -> dict[str, str]:
    labels = {
        LABEL_PROJECT: project,
        KIND_LABEL[resource.kind]: resource.name,
        LABEL_CONFIG_HASH: config_hash,
        LABEL_CONFIG: json.dumps(config, sort_keys=True, separators=(",", ":"), default=str),
        LABEL_NEEDS: ",".join(str(need) for need in sorted(needs)),
    }
    if resource.kind == "service":
        labels[LABEL_REPLICA] = str(resource.replica)
    return labels


def parse_resource_id(text: str) -> ResourceId | None:
    """``service:web:1`` / ``network:front`` → ResourceId; None when malformed."""
    kind, _, rest = text.partition(":")
    if kind == "service":
        name, _, replica = rest.rpartition(":")
        return ResourceId(kind, name, int(replica)) if name and replica.isdigit() else None
    if kind in ("network", "volume", "image") and rest:
        return ResourceId(kind, rest)
    return None


def parse_needs(text: str) -> tuple[ResourceId, ...]:
    parsed = (parse_resource_id(part) for part in text.split(",") if part)
    return tuple(sorted(need for need in parsed if need is not None))
