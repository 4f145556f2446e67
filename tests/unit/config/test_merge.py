"""Several ``-f`` files merged by the Compose specification's rules, positions kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stackr.config.raw import RawStack
from stackr.errors import Location
from tests.unit.config.loader_helpers import load


def merged(tmp_path: Path, base: str, override: str, **options: Any) -> RawStack:
    return load(
        tmp_path,
        {"base.yml": base, "override.yml": override},
        files=("base.yml", "override.yml"),
        **options,
    )


def web(raw: RawStack) -> dict[str, Any]:
    service: dict[str, Any] = raw.data["services"]["web"]
    return service


def test_scalars_are_replaced_and_mappings_merged(tmp_path: Path) -> None:
    raw = merged(
        tmp_path,
        "services:\n  web:\n    image: a\n    tty: true\n",
        "services:\n  web:\n    image: b\n  db:\n    image: c\n",
    )
    assert raw.data["services"] == {"web": {"image": "b", "tty": True}, "db": {"image": "c"}}


def test_each_value_keeps_the_position_of_the_file_that_supplied_it(tmp_path: Path) -> None:
    raw = merged(
        tmp_path,
        "services:\n  web:\n    image: a\n    tty: true\n",
        "services:\n  web:\n    image: b\n",
    )
    assert raw.source_map.value(("services", "web", "image")) == Location("override.yml", 3, 12)
    assert raw.source_map.key(("services", "web", "image")) == Location("override.yml", 3, 5)
    assert raw.source_map.value(("services", "web", "tty")) == Location("base.yml", 4, 10)


def test_null_in_a_later_file_keeps_the_earlier_value(tmp_path: Path) -> None:
    raw = merged(tmp_path, "services:\n  web:\n    image: a\n", "services:\n  web:\n    image:\n")
    assert web(raw)["image"] == "a"


def test_environment_list_and_mapping_merge_by_key(tmp_path: Path) -> None:
    raw = merged(
        tmp_path,
        "services:\n  web:\n    environment:\n      - A=1\n      - B=2\n",
        "services:\n  web:\n    environment:\n      B: 3\n      C: '4'\n",
    )
    assert web(raw)["environment"] == {"A": "1", "B": 3, "C": "4"}
    assert raw.source_map.value(("services", "web", "environment", "A")).file == "base.yml"
    assert raw.source_map.value(("services", "web", "environment", "B")).file == "override.yml"


def test_labels_lists_merge_by_key(tmp_path: Path) -> None:
    raw = merged(
        tmp_path,
        "services:\n  web:\n    labels: [a=1, b=2]\n",
        "services:\n  web:\n    labels: [b=3, c=4]\n",
    )
    assert web(raw)["labels"] == ["a=1", "b=3", "c=4"]


def test_labels_list_and_mapping_merge_into_a_mapping(tmp_path: Path) -> None:
    raw = merged(
        tmp_path,
        "services:\n  web:\n    labels: [a=1, b=2]\n",
        "services:\n  web:\n    labels: {b: '3'}\n",
    )
    assert web(raw)["labels"] == {"a": "1", "b": "3"}


def test_ports_append_and_stay_unique(tmp_path: Path) -> None:
    raw = merged(
        tmp_path,
        "services:\n  web:\n    ports: ['80:80', '443:443']\n",
        "services:\n  web:\n    ports: ['443:443', '8080:80', {target: 9000, published: 9000}]\n",
    )
    assert web(raw)["ports"] == [
        "80:80",
        "443:443",
        "8080:80",
        {"target": 9000, "published": 9000},
    ]


def test_volumes_merge_by_target_across_short_and_long_syntax(tmp_path: Path) -> None:
    raw = merged(
        tmp_path,
        "services:\n  web:\n    volumes: ['data:/var/lib/data', './conf:/etc/app:ro']\n",
        """
        services:
          web:
            volumes:
              - type: bind
                source: ./other
                target: /etc/app
              - /cache
        """,
    )
    assert web(raw)["volumes"] == [
        "data:/var/lib/data",
        {"type": "bind", "source": "./other", "target": "/etc/app"},
        "/cache",
    ]
    assert raw.source_map.value(("services", "web", "volumes", 1)) == Location("override.yml", 5, 9)


def test_command_and_entrypoint_are_replaced_not_appended(tmp_path: Path) -> None:
    raw = merged(
        tmp_path,
        "services:\n  web:\n    command: [a, b]\n    entrypoint: [sh, -c]\n"
        "    healthcheck:\n      test: [CMD, a]\n      interval: 5s\n",
        "services:\n  web:\n    command: [c]\n    entrypoint: run\n"
        "    healthcheck:\n      test: [CMD, b]\n",
    )
    assert web(raw)["command"] == ["c"]
    assert web(raw)["entrypoint"] == "run"
    assert web(raw)["healthcheck"] == {"test": ["CMD", "b"], "interval": "5s"}


def test_other_lists_append(tmp_path: Path) -> None:
    raw = merged(
        tmp_path,
        "services:\n  web:\n    dns: [1.1.1.1]\n    cap_add: [NET_ADMIN]\n",
        "services:\n  web:\n    dns: [1.1.1.1, 8.8.8.8]\n    cap_add: [SYS_TIME, NET_ADMIN]\n",
    )
    assert web(raw)["dns"] == ["1.1.1.1", "8.8.8.8"]
    assert web(raw)["cap_add"] == ["NET_ADMIN", "SYS_TIME"]


def test_depends_on_short_and_long_syntax_merge(tmp_path: Path) -> None:
    raw = merged(
        tmp_path,
        "services:\n  web:\n    depends_on: [db, cache]\n",
        "services:\n  web:\n    depends_on:\n      db:\n        condition: service_healthy\n",
    )
    assert web(raw)["depends_on"] == {
        "db": {"condition": "service_healthy", "required": True},
        "cache": {"condition": "service_started", "required": True},
    }


def test_service_networks_list_and_mapping_merge(tmp_path: Path) -> None:
    raw = merged(
        tmp_path,
        "services:\n  web:\n    networks: [front, back]\n",
        "services:\n  web:\n    networks:\n      back:\n        aliases: [api]\n",
    )
    assert web(raw)["networks"] == {"front": None, "back": {"aliases": ["api"]}}


def test_build_string_merges_with_build_mapping(tmp_path: Path) -> None:
    raw = merged(
        tmp_path,
        "services:\n  web:\n    build: ./app\n",
        "services:\n  web:\n    build:\n      target: prod\n",
    )
    assert web(raw)["build"] == {"context": "./app", "target": "prod"}


def test_logging_with_another_driver_replaces_the_block(tmp_path: Path) -> None:
    raw = merged(
        tmp_path,
        "services:\n  web:\n    logging:\n      driver: json-file\n      options: {max-size: 1m}\n",
        "services:\n  web:\n    logging:\n      driver: local\n",
    )
    assert web(raw)["logging"] == {"driver": "local"}


def test_logging_options_merge_for_the_same_driver(tmp_path: Path) -> None:
    raw = merged(
        tmp_path,
        "services:\n  web:\n    logging:\n      driver: json-file\n      options: {max-size: 1m}\n",
        "services:\n  web:\n    logging:\n      options: {max-file: '3'}\n",
    )
    assert web(raw)["logging"] == {
        "driver": "json-file",
        "options": {"max-size": "1m", "max-file": "3"},
    }


def test_reset_tag_removes_an_inherited_value(tmp_path: Path) -> None:
    raw = merged(
        tmp_path,
        "services:\n  web:\n    image: a\n    ports: ['80:80']\n",
        "services:\n  web:\n    ports: !reset []\n",
    )
    assert web(raw) == {"image": "a"}


def test_override_tag_replaces_without_merging(tmp_path: Path) -> None:
    raw = merged(
        tmp_path,
        "services:\n  web:\n    ports: ['80:80']\n    environment: {A: '1'}\n",
        "services:\n  web:\n    ports: !override ['81:81']\n    environment: !override {B: '2'}\n",
    )
    assert web(raw)["ports"] == ["81:81"]
    assert web(raw)["environment"] == {"B": "2"}


def test_reset_in_a_single_file_drops_the_value(tmp_path: Path) -> None:
    raw = load(tmp_path, {"stack.yml": "services:\n  web:\n    image: a\n    tty: !reset true\n"})
    assert web(raw) == {"image": "a"}


def test_top_level_networks_and_volumes_merge(tmp_path: Path) -> None:
    raw = merged(
        tmp_path,
        "networks:\n  front: {}\nvolumes:\n  data: {driver: local}\n",
        "networks:\n  front:\n    internal: true\n  back: {}\n"
        "volumes:\n  data:\n    labels: [a=b]\n",
    )
    assert raw.data["networks"] == {"front": {"internal": True}, "back": {}}
    assert raw.data["volumes"] == {"data": {"driver": "local", "labels": ["a=b"]}}


def test_ipam_config_merges_by_subnet(tmp_path: Path) -> None:
    raw = merged(
        tmp_path,
        "networks:\n  n:\n    ipam:\n      config:\n        - subnet: 10.1.0.0/24\n",
        "networks:\n  n:\n    ipam:\n      config:\n        - subnet: 10.1.0.0/24\n"
        "          gateway: 10.1.0.254\n        - subnet: 10.2.0.0/24\n",
    )
    assert raw.data["networks"]["n"]["ipam"]["config"] == [
        {"subnet": "10.1.0.0/24", "gateway": "10.1.0.254"},
        {"subnet": "10.2.0.0/24"},
    ]


def test_env_file_entries_merge_then_read_in_order(tmp_path: Path) -> None:
    raw = load(
        tmp_path,
        {
            "base.yml": "services:\n  web:\n    env_file: [a.env]\n",
            "override.yml": "services:\n  web:\n    env_file: [b.env, a.env]\n",
            "a.env": "X=a\n",
            "b.env": "X=b\nY=b\n",
        },
        files=("base.yml", "override.yml"),
    )
    assert [entry["path"] for entry in web(raw)["env_file"]] == [
        str(tmp_path / "a.env"),
        str(tmp_path / "b.env"),
    ]
    assert web(raw)["environment"] == {"X": "b", "Y": "b"}


def test_three_files_merge_left_to_right(tmp_path: Path) -> None:
    raw = load(
        tmp_path,
        {
            "a.yml": "services:\n  web:\n    image: a\n    environment: [A=1]\n",
            "b.yml": "services:\n  web:\n    image: b\n    environment: [A=2]\n",
            "c.yml": "services:\n  web:\n    environment: {A: '3'}\n",
        },
        files=("a.yml", "b.yml", "c.yml"),
    )
    assert web(raw) == {"image": "b", "environment": {"A": "3"}}
    assert raw.files == (tmp_path / "a.yml", tmp_path / "b.yml", tmp_path / "c.yml")
