"""Secrets and configs: targets, sources and the private copies."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stackr.errors import UsageError
from stackr.graph import ResourceId
from stackr.project.desired import desired_stack
from stackr.project.secrets import plan_files, write_files
from stackr.project.translate import container_body
from tests.unit.project.stacks import load

STACK = """
name: demo
services:
  app:
    image: busybox
    secrets:
      - token
      - {source: password, target: db-password, mode: 0400}
    configs:
      - settings
      - {source: settings, target: /etc/app.conf}
secrets:
  token: {file: ./token.txt}
  password: {environment: DB_PASSWORD}
configs:
  settings: {content: "level=debug"}
"""


def test_targets_and_sources(tmp_path: Path) -> None:
    stack, graph = load(STACK, tmp_path)
    files = plan_files(stack, "app", stack.services["app"], {"DB_PASSWORD": "pw"},
                       tmp_path / "private")
    rows = [(f.target, f.source_file is not None, f.content, f.private_path is not None)
            for f in files]
    assert rows == [
        ("/run/secrets/token", True, None, False),  # a file as it is: bound directly
        ("/run/secrets/db-password", False, "pw", True),
        ("/settings", False, "level=debug", True),
        ("/etc/app.conf", False, "level=debug", True),
    ]
    desired = desired_stack(stack, graph, {"busybox": "sha256:a"})
    body = container_body(stack, ResourceId("service", "app", 1), desired, files)
    mounts = body["HostConfig"]["Mounts"]
    assert all(m["Type"] == "bind" and m["ReadOnly"] for m in mounts)
    assert mounts[0]["Source"] == str(tmp_path / "token.txt")
    with pytest.raises(UsageError, match="DB_PASSWORD is not set"):
        plan_files(stack, "app", stack.services["app"], {}, tmp_path / "private")


def test_private_copies_have_their_mode(tmp_path: Path) -> None:
    (tmp_path / "token.txt").write_text("t")
    stack, _ = load(STACK, tmp_path)
    files = plan_files(stack, "app", stack.services["app"], {"DB_PASSWORD": "pw"},
                       tmp_path / "private")
    if os.geteuid() != 0:
        pytest.skip("chown of the copies needs root")
    write_files(files)
    password = Path(files[1].mount_source)
    assert password.read_text() == "pw"
    assert password.stat().st_mode & 0o777 == 0o400
    assert Path(files[2].mount_source).stat().st_mode & 0o777 == 0o444
