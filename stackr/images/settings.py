"""stackr's own settings file for images: ``$STACKR_ROOT/config.json``.

Only one key is read so far, as in Docker's ``daemon.json``::

    {"insecure-registries": ["registry.lan:5000", "10.0.0.0/8"]}

A registry listed there (by ``host[:port]``, or by an address inside a listed CIDR) may
be reached over plain HTTP; loopback registries (``localhost``, ``127.0.0.0/8``,
``::1``) always may, as Docker allows.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path

from stackr.errors import StateError
from stackr.paths import state_root

SETTINGS_FILE = "config.json"


def settings_path() -> Path:
    return state_root() / SETTINGS_FILE


@dataclass(frozen=True)
class RegistrySettings:
    insecure_registries: tuple[str, ...] = ()

    @classmethod
    def load(cls, path: Path | None = None) -> RegistrySettings:
        path = path or settings_path()
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as error:
            raise StateError(f"cannot read stackr settings {path}: {error}") from error
        entries = document.get("insecure-registries", []) if isinstance(document, dict) else None
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise StateError(f"{path}: 'insecure-registries' must be a list of strings")
        return cls(tuple(entries))

    def allows_plain_http(self, host: str) -> bool:
        """Whether ``host`` (``name[:port]``) may be reached without TLS."""
        hostname = _hostname(host)
        if hostname == "localhost" or _is_loopback(hostname):
            return True
        for entry in self.insecure_registries:
            if entry in (host, hostname):
                return True
            if "/" in entry:
                try:
                    network = ipaddress.ip_network(entry, strict=False)
                    if ipaddress.ip_address(hostname) in network:
                        return True
                except ValueError:
                    continue
        return False


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.index("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_loopback(hostname: str) -> bool:
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False
