from __future__ import annotations

import json
from pathlib import Path

import pytest

from stackr.errors import StateError
from stackr.images.errors import ImageError
from stackr.images.platform import host_platform, select_platform
from stackr.images.settings import RegistrySettings

INDEX = [
    {"digest": "a", "platform": {"os": "linux", "architecture": "amd64"}},
    {"digest": "b", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
    {"digest": "c", "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
    {"digest": "d", "platform": {"os": "unknown", "architecture": "unknown"}},
    {"digest": "e", "platform": {"os": "windows", "architecture": "amd64"}},
]


def test_host_platform_names() -> None:
    assert host_platform("x86_64") == ("linux", "amd64", "")
    assert host_platform("aarch64") == ("linux", "arm64", "v8")


@pytest.mark.parametrize(
    ("machine", "digest"), [("x86_64", "a"), ("aarch64", "b"), ("armv7l", "c")]
)
def test_select_platform(machine: str, digest: str) -> None:
    assert select_platform(INDEX, what="t", machine=machine)["digest"] == digest


def test_variant_missing_in_index_matches() -> None:
    index = [{"digest": "x", "platform": {"os": "linux", "architecture": "arm64"}}]
    assert select_platform(index, what="t", machine="aarch64")["digest"] == "x"


def test_no_matching_platform() -> None:
    with pytest.raises(ImageError, match=r"no image for linux/s390x.*linux/amd64"):
        select_platform(INDEX, what="t", machine="s390x")


def test_plain_http_rules(tmp_path: Path) -> None:
    settings = RegistrySettings(("registry.lan:5000", "10.1.0.0/16", "plain.example"))
    assert settings.allows_plain_http("localhost:5000")
    assert settings.allows_plain_http("127.0.0.1:5000")
    assert settings.allows_plain_http("127.3.0.1")
    assert settings.allows_plain_http("[::1]:5000")
    assert settings.allows_plain_http("registry.lan:5000")
    assert not settings.allows_plain_http("registry.lan:6000")
    assert settings.allows_plain_http("plain.example:443")
    assert settings.allows_plain_http("10.1.2.3:5000")
    assert not settings.allows_plain_http("10.2.0.1:5000")
    assert not settings.allows_plain_http("docker.io")


def test_settings_file(tmp_path: Path) -> None:
    assert RegistrySettings.load(tmp_path / "missing.json") == RegistrySettings()
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"insecure-registries": ["r:5000"]}))
    assert RegistrySettings.load(path).insecure_registries == ("r:5000",)
    path.write_text(json.dumps({"insecure-registries": "r:5000"}))
    with pytest.raises(StateError, match="list of strings"):
        RegistrySettings.load(path)


def test_settings_default_place(stackr_dirs: tuple[Path, Path]) -> None:
    root, _ = stackr_dirs
    (root / "config.json").write_text(json.dumps({"insecure-registries": ["x:1"]}))
    assert RegistrySettings.load().insecure_registries == ("x:1",)
