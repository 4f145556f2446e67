"""Engine host URLs (-H / STACKR_HOST)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stackr.client.hosts import SshHost, UnixHost, parse_host
from stackr.errors import UsageError


def test_default_is_the_local_engine(stackr_dirs: tuple[Path, Path]) -> None:
    host = parse_host(None)
    assert host == UnixHost(str(stackr_dirs[1] / "engine.sock"), is_default=True)


def test_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACKR_HOST", "unix:///tmp/other.sock")
    assert parse_host(None) == UnixHost("/tmp/other.sock")
    assert parse_host("unix:///x.sock") == UnixHost("/x.sock")  # -H wins


def test_ssh_urls() -> None:
    assert parse_host("ssh://admin@box:2222") == SshHost("box", "admin", 2222)
    host = parse_host("ssh://box/var/run/stackr.sock")
    assert host == SshHost("box", None, None, "/var/run/stackr.sock")
    assert host.ssh_command() == [
        "ssh", "-T", "-o", "BatchMode=yes", "--", "box",
        "stackr", "engine", "dial-stdio", "--socket", "/var/run/stackr.sock",
    ]
    assert parse_host("ssh://a@b:22").ssh_command()[4:7] == ["-p", "22", "--"]


@pytest.mark.parametrize("url", [
    "tcp://1.2.3.4:2375", "unix://relative.sock", "ssh://", "ssh://u:pw@host",
    "ssh://host:port", "http://x",
])
def test_bad_hosts(url: str) -> None:
    with pytest.raises(UsageError):
        parse_host(url)


def test_an_ssh_failure_is_told_in_ssh_own_words(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from stackr.client import EngineClient, EngineUnavailableError

    fake_ssh = tmp_path / "ssh"
    fake_ssh.write_text("#!/bin/sh\necho 'ssh: connect to host box port 22: No route to host' >&2\n"
                        "exit 255\n")
    fake_ssh.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    client = EngineClient("ssh://box")
    with pytest.raises(EngineUnavailableError, match="closed the connection: ssh: connect to "
                                                      "host box port 22: No route to host"):
        client.request("GET", "/_ping")
    client.close()
