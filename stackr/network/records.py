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
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from stackr import paths
from stackr.errors import StateError, UsageError

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def network_root() -> Path:
    return paths.state_root() / "network"


def check_id(kind: str, value: str) -> str:
    """Ids become file names: refuse anything that could escape a directory."""
    if not _SAFE_ID.match(value):
        raise UsageError(f"{kind} id {value!r} must match {_SAFE_ID.pattern}")
    return value


def write_json_atomic(path: Path, data: Any) -> None:
    """Temp file in the same directory + rename: readers see old or new, never half.

    No fsync, on purpose: it cost ~12 ms per write on the test machines, twice per
    attachment. The records guard against the *engine* dying mid-operation, and a
    rename is atomic for that without fsync; a power loss also clears every object the
    records describe (bridges, veths, netns, nftables rules are all volatile), and every
    ``ensure_*`` re-creates what its record says from scratch.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as temp:
            json.dump(data, temp, indent=1, sort_keys=True)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise


def read_json(path: Path) -> Any | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return json.loads(text)
    except ValueError as error:
        raise StateError(f"{path}: corrupt record: {error}") from None


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
