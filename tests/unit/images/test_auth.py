from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from stackr.images.auth import Challenge, credentials_for, parse_www_authenticate
from stackr.images.errors import AuthenticationError


def test_bearer_challenge() -> None:
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/busybox:pull"'
    )
    assert parse_www_authenticate(header) == [
        Challenge(
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:library/busybox:pull",
            },
        )
    ]


def test_basic_challenge_and_several_in_one_header() -> None:
    assert parse_www_authenticate('Basic realm="Registry Realm"') == [
        Challenge("basic", {"realm": "Registry Realm"})
    ]
    found = parse_www_authenticate('Basic realm="a, b", Bearer realm="https://t/x",service=s')
    assert found == [
        Challenge("basic", {"realm": "a, b"}),
        Challenge("bearer", {"realm": "https://t/x", "service": "s"}),
    ]


def test_quoted_escapes_and_spacing() -> None:
    found = parse_www_authenticate('BEARER  realm = "a\\"b" , error="invalid_token"')
    assert found == [Challenge("bearer", {"realm": 'a"b', "error": "invalid_token"})]
    assert parse_www_authenticate("") == []
    assert parse_www_authenticate("Negotiate") == [Challenge("negotiate", {})]


def _config(tmp_path: Path, auths: dict[str, object]) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": auths}))
    return path


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_credentials_by_host_and_url_keys(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        {
            "registry.example:5000": {"auth": _b64("alice:pa:ss")},
            "https://other.example/v2/": {"auth": _b64("bob:pw")},
            "https://index.docker.io/v1/": {"auth": _b64("hub:token")},
        },
    )
    alice = credentials_for("registry.example:5000", path)
    assert alice is not None and (alice.username, alice.password) == ("alice", "pa:ss")
    bob = credentials_for("other.example", path)
    assert bob is not None and bob.username == "bob"
    hub = credentials_for("docker.io", path)
    assert hub is not None and hub.username == "hub"
    assert credentials_for("nowhere.example", path) is None
    assert "pa:ss" not in repr(alice)


def test_credentials_file_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    assert credentials_for("r.example") is None
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker" / "config.json").write_text(
        json.dumps({"auths": {"r.example": {"username": "u", "password": "p"}}})
    )
    found = credentials_for("r.example")
    assert found is not None and found.basic_header() == "Basic " + _b64("u:p")
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(other))
    assert credentials_for("r.example") is None


def test_malformed_credentials(tmp_path: Path) -> None:
    with pytest.raises(AuthenticationError, match="base64"):
        credentials_for("r.example", _config(tmp_path, {"r.example": {"auth": "***"}}))
    with pytest.raises(AuthenticationError, match="':'"):
        credentials_for("r.example", _config(tmp_path, {"r.example": {"auth": _b64("nocolon")}}))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(AuthenticationError, match="cannot read"):
        credentials_for("r.example", tmp_path / "config.json")
