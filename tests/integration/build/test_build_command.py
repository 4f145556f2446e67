"""``stackr build`` on a compose file: image named <project>-<service>, build args."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackr.cli import main
from stackr.images import ImageStore
from tests.fixtures.busybox import make_busybox_rootfs


def test_stackr_build_names_the_image_after_project_and_service(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ImageStore().import_rootfs(make_busybox_rootfs(tmp_path / "root"), "busybox:test")
    project = tmp_path / "shop"
    (project / "web").mkdir(parents=True)
    (project / "web/Dockerfile").write_text(
        "FROM busybox:test\nARG FLAVOUR=plain\nRUN echo $FLAVOUR > /flavour\n")
    (project / "compose.yaml").write_text(
        "services:\n"
        "  web:\n"
        "    build:\n"
        "      context: ./web\n"
        "      args: {FLAVOUR: spicy}\n"
        "      labels: {tier: front}\n"
        "  api:\n"
        "    image: registry.local/api:2\n"
        "    build: ./web\n")
    assert main(["-f", str(project / "compose.yaml"), "build"]) == 0
    out = capsys.readouterr()
    assert "built shop-web" in out.out and "built registry.local/api:2" in out.out
    store = ImageStore()
    web = store.require("shop-web")
    assert store.config_document(web)["config"]["Labels"] == {"tier": "front"}
    assert store.require("registry.local/api:2").id != web.id  # FLAVOUR differs

    # A no-change rebuild is all cache hits.
    assert main(["-f", str(project / "compose.yaml"), "build", "web"]) == 0
    assert "(1/1 steps cached)" in capsys.readouterr().out
    assert main(["-f", str(project / "compose.yaml"), "build", "nope"]) == 2


def test_build_network_and_shm_size_of_the_stack_file_reach_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ImageStore().import_rootfs(make_busybox_rootfs(tmp_path / "root"), "busybox:test")
    project = tmp_path / "shop"
    project.mkdir()
    # With the host's network RUN sees the host's interfaces, without one only lo.
    (project / "Dockerfile").write_text(
        "FROM busybox:test\nARG LINES\nARG SHM_KB=65536\n"
        "RUN test $(wc -l < /proc/net/dev) -eq $LINES && df -k /dev/shm | grep -q \" $SHM_KB \"\n")
    with open("/proc/net/dev") as host_interfaces:
        host_lines = len(host_interfaces.readlines())
    (project / "compose.yaml").write_text(
        "services:\n"
        "  offline:\n"
        "    build: {context: ., network: none, shm_size: 128m,\n"
        "            args: {LINES: '3', SHM_KB: '131072'}}\n"
        "  hosted:\n"
        f"    build: {{context: ., network: host, args: {{LINES: '{host_lines}'}}}}\n")
    assert main(["-f", str(project / "compose.yaml"), "build"]) == 0, capsys.readouterr().err
