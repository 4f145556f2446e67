"""Registry authentication: ``WWW-Authenticate`` challenges and Docker's credential file.

Credentials come from ``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``),
key ``auths``: ``{"registry:5000": {"auth": base64("user:password")}}``, the file
``docker login`` writes. Docker Hub's key is ``https://index.docker.io/v1/``. Credential
helpers (``credsStore``/``credHelpers``) and identity tokens are not used yet.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from stackr.images.errors import AuthenticationError

DOCKER_HUB_AUTH_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io")

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PARAM = re.compile(rf'\s*({_TOKEN})\s*=\s*(?:"((?:[^"\\]|\\.)*)"|({_TOKEN}))\s*(?:,|$)')
_SCHEME = re.compile(rf"\s*,?\s*({_TOKEN})(?:\s+|$)")


@dataclass(frozen=True)
class Challenge:
    """One challenge of a ``WWW-Authenticate`` header; scheme lowercased, params by name."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)


def parse_www_authenticate(header: str) -> list[Challenge]:
    """``Bearer realm="https://a/token",service="r",scope="x:y:pull"`` → [Challenge(...)].

    Several challenges may share one header (``Basic realm="x", Bearer realm="y"``):
    a new one starts at a bare token that is not followed by ``=``.
    """
    challenges: list[Challenge] = []
    position = 0
    while position < len(header):
        scheme_match = _SCHEME.match(header, position)
        if not scheme_match or header[scheme_match.end() :].startswith("="):
            break
        position = scheme_match.end()
        params: dict[str, str] = {}
        while position < len(header):
            param = _PARAM.match(header, position)
            if not param:
                break
            value = param.group(2)
            value = re.sub(r"\\(.)", r"\1", value) if value is not None else param.group(3)
            params[param.group(1).lower()] = value
            position = param.end()
        challenges.append(Challenge(scheme_match.group(1).lower(), params))
    return challenges


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def basic_header(self) -> str:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return f"Basic {token}"

    def __repr__(self) -> str:  # never show a password in a traceback
        return f"Credentials(username={self.username!r}, password='***')"


def docker_config_path() -> Path:
    directory = os.environ.get("DOCKER_CONFIG")
    if directory:
        return Path(directory) / "config.json"
    return Path(os.environ.get("HOME") or Path.home()) / ".docker" / "config.json"


def _auth_key_host(key: str) -> str:
    """``https://host:5000/v2/`` → ``host:5000``; a bare ``host:5000`` stays."""
    if "://" in key:
        return urlsplit(key).netloc
    return key.split("/", 1)[0]


def credentials_for(domain: str, config_path: Path | None = None) -> Credentials | None:
    """The credentials ``docker login`` stored for the registry ``domain``, if any."""
    path = config_path or docker_config_path()
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise AuthenticationError(f"cannot read registry credentials {path}: {error}") from error
    auths = document.get("auths") if isinstance(document, dict) else None
    if not isinstance(auths, dict):
        return None
    wanted = {domain}
    if domain == "docker.io":
        wanted.update(_auth_key_host(k) for k in DOCKER_HUB_AUTH_KEYS)
    for key, entry in auths.items():
        if _auth_key_host(key) not in wanted or not isinstance(entry, dict):
            continue
        if entry.get("username") and entry.get("password"):
            return Credentials(str(entry["username"]), str(entry["password"]))
        encoded = entry.get("auth")
        if isinstance(encoded, str) and encoded:
            try:
                decoded = base64.b64decode(encoded, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError) as error:
                raise AuthenticationError(
                    f"{path}: the 'auth' entry for {key} is not base64 of user:password"
                ) from error
            username, sep, password = decoded.partition(":")
            if not sep:
                raise AuthenticationError(f"{path}: the 'auth' entry for {key} has no ':'")
            return Credentials(username, password)
    return None
