"""``extends``: services made from other services, of the same file or another one."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackr.config.loader import stack_file_paths
from stackr.config.pipeline import LoadedStack, load_stack
from stackr.config.project import LoadOptions
from stackr.errors import StackFileError


def load(directory: Path, text: str, environ: dict[str, str] | None = None) -> LoadedStack:
    (directory / "compose.yaml").write_text(text)
    return load_stack(LoadOptions(environ=environ or {}, cwd=directory))


def problems(directory: Path, text: str) -> list[str]:
    with pytest.raises(StackFileError) as caught:
        load(directory, text)
    return [diagnostic.render() for diagnostic in caught.value.diagnostics]


def test_a_service_of_the_same_file_merged_by_the_override_rules(tmp_path: Path) -> None:
    loaded = load(tmp_path, """
services:
  base:
    image: busybox
    command: sleep 1
    environment: {A: "1", B: base}
    ports: ["80"]
  web:
    extends: base
    command: [sleep, "3600"]
    environment: {B: "${WHO}"}
    ports: ["80", "90"]
  worker:
    extends: {service: web}
""", {"WHO": "web"})
    web = loaded.stack.services["web"]
    assert web.image == "busybox" and web.command == ("sleep", "3600")
    assert web.environment == {"A": "1", "B": "web"}
    assert [port.target for port in web.ports] == [80, 90]  # one entry per port
    assert loaded.stack.services["worker"].environment == web.environment  # a chain


def test_a_base_in_another_directory_keeps_its_paths(tmp_path: Path) -> None:
    common = tmp_path / "common"
    common.mkdir()
    (common / "base.env").write_text("FROM_FILE=1\n")
    (common / "base.yml").write_text("""
services:
  base:
    image: busybox
    env_file: base.env
    volumes: ["./data:/data", "named:/named"]
    build: ./app
""")
    loaded = load(tmp_path, """
services:
  web:
    extends: {file: common/base.yml, service: base}
volumes:
  named: {}
""")
    web = loaded.stack.services["web"]
    assert web.environment["FROM_FILE"] == "1"
    binds = {mount.target: mount.source for mount in web.volumes}
    assert binds == {"/data": str(common / "data"), "/named": "named"}
    assert web.build is not None and web.build.context == str(common / "app")
    # watch and the settled record follow the other file too
    assert common / "base.yml" in stack_file_paths(loaded.raw)


def test_mistakes_are_said_at_the_extends(tmp_path: Path) -> None:
    found = problems(tmp_path, """
services:
  one:
    image: busybox
    extends: nosuch
  two:
    extends: {service: base, file: missing.yml}
  three:
    extends: four
  four:
    extends: three
  five:
    extends: {file: x.yml}
""")
    assert 'compose.yaml:5:5: services.one.extends: service "nosuch" not found in compose.yaml' \
        in found
    assert "compose.yaml:7:5: services.two.extends: file missing.yml not found" in found
    assert any("extends cycle: compose.yaml:" in problem for problem in found)
    assert "compose.yaml:13:5: services.five.extends: extends is a service name or " \
        "{service: NAME, file: PATH}" in found

