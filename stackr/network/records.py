"""The network driver's own records: one JSON file per object, written before it is made.

Layout under ``state_root()/network``::

    ipam.json, ipam.lock             subnets and addresses (stackr.network.ipam)
    networks/<network_id>.json       NetworkState: bridge name, subnet, gateway, internal
    attachments/<container_id>/<network_id>.json
                                     Attachment: veth names, address, DNS names
    ports/<container_id>.json        published ports of one container
    firewall.lock                    serialises rebuilding the nftables table

A record is written *before* the host object it describes is created and deleted only
after the object is gone, so a crash at any point leaves a record from which ``remove_*``
finishes the job; every ``remove_*`` treats an absent object as success.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from stackr import paths
from stackr.errors import UsageError
from stackr.statefile import read_json as read_json
from stackr.statefile import write_json_atomic as write_json_atomic

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def network_root() -> Path:
    return paths.state_root() / "network"


def check_id(kind: str, value: str) -> str:
    """Ids become file names: refuse anything that could escape a directory."""
    if not _SAFE_ID.match(value):
        raise UsageError(f"{kind} id {value!r} must match {_SAFE_ID.pattern}")
    return value


def remove_file(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def list_json(directory: Path) -> list[Path]:
    try:
        return sorted(
            p for p in directory.iterdir() if p.suffix == ".json" and not p.name.startswith(".")
        )
    except FileNotFoundError:
        return []
