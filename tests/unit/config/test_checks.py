from __future__ import annotations

from typing import Any

import pytest

from stackr.config.checks import check_stack
from stackr.config.source_map import SourceMap
from stackr.errors import Location, StackFileError
from tests.unit.config.model_helpers import render, stack_of


def check_problems(data: dict[str, Any], source_map: SourceMap | None = None) -> list[str]:
    try:
        check_stack(stack_of(data), source_map or SourceMap())
    except StackFileError as error:
        return [render(d) for d in error.diagnostics]
    return []


def test_a_consistent_stack_passes() -> None:
    assert (
        check_problems(
            {
                "services": {
                    "web": {
                        "image": "x",
                        "ports": ["80:80", "127.0.0.1:81:81", "82:82/udp", "82:82/tcp"],
                        "networks": ["front"],
                        "volumes": ["data:/data", "./src:/src", "/anon"],
                        "secrets": ["token"],
                        "configs": ["conf"],
                        "depends_on": ["db"],
                        "links": ["db:database"],
                        "volumes_from": ["db"],
                        "container_name": "web",
                    },
                    "db": {"image": "y", "networks": ["front"], "ports": ["127.0.0.2:81:81"]},
                    "side": {"image": "z", "network_mode": "service:web", "ipc": "service:db"},
                },
                "networks": {"front": {}},
                "volumes": {"data": {}},
                "secrets": {"token": {"file": "t"}},
                "configs": {"conf": {"content": "c"}},
            }
        )
        == []
    )


def test_undefined_references_with_suggestions() -> None:
    assert check_problems(
        {
            "services": {
                "web": {
                    "image": "x",
                    "networks": ["frontend"],
                    "volumes": ["dat:/data"],
                    "secrets": ["tokn"],
                    "configs": ["cfg"],
                    "depends_on": ["dbb"],
                },
                "db": {"image": "y"},
            },
            "networks": {"front": {}},
            "volumes": {"data": {}},
            "secrets": {"token": {"file": "t"}},
        }
    ) == [
        'services.web.configs[0]: config "cfg" is not defined',
        'services.web.depends_on.dbb: service "dbb" is not defined (did you mean "db"?)',
        'services.web.networks.frontend: network "frontend" is not defined (did you mean "front"?)',
        'services.web.secrets[0]: secret "tokn" is not defined (did you mean "token"?)',
        'services.web.volumes[0]: volume "dat" is not defined (did you mean "data"?)',
    ]


def test_service_references() -> None:
    assert check_problems(
        {
            "services": {
                "web": {
                    "image": "x",
                    "links": ["cache:redis"],
                    "volumes_from": ["store:ro"],
                    "pid": "service:web",
                    "depends_on": ["web"],
                },
                "side": {"image": "x", "network_mode": "service:vpn"},
            }
        }
    ) == [
        'services.side.network_mode: service "vpn" is not defined',
        "services.web.depends_on.web: depends on itself",
        'services.web.links[0]: service "cache" is not defined',
        "services.web.pid: pid refers to the service itself",
        'services.web.volumes_from[0]: service "store" is not defined',
    ]


def test_duplicate_container_names() -> None:
    assert check_problems(
        {
            "services": {
                "a": {"image": "x", "container_name": "same"},
                "b": {"image": "x", "container_name": "same"},
                "c": {"image": "x", "container_name": "c", "deploy": {"replicas": 3}},
            }
        }
    ) == [
        'services.b.container_name: container name "same" is already used by service "a"',
        "services.c.container_name: a fixed container name cannot be given to 3 replicas",
    ]


@pytest.mark.parametrize(
    ("first", "second", "conflict"),
    [
        ("8080:80", "8080:81", True),
        ("8080:80", "0.0.0.0:8080:81", True),
        ("127.0.0.1:8080:80", "8080:81", True),
        ("127.0.0.1:8080:80", "127.0.0.2:8080:81", False),
        ("127.0.0.1:8080:80", "127.0.0.1:8080:81", True),
        ("8080:80/udp", "8080:80/tcp", False),
        ("8080:80", "8081:80", False),
        ("8000-8010:80", "8005:80", False),  # a range takes any free port
        ("80", "80", False),
    ],
)
def test_published_port_conflicts(first: str, second: str, conflict: bool) -> None:
    problems = check_problems(
        {
            "services": {
                "a": {"image": "x", "ports": [first]},
                "b": {"image": "x", "ports": [second]},
            }
        }
    )
    assert bool(problems) == conflict, problems


def test_replicas_cannot_share_a_fixed_host_port() -> None:
    assert check_problems(
        {"services": {"a": {"image": "x", "scale": 2, "ports": ["8080:80", "9000-9009:90", "70"]}}}
    ) == ["services.a.ports[0]: host port 8080 cannot be published by 2 replicas"]


def test_ports_with_a_shared_network_namespace() -> None:
    assert check_problems(
        {
            "services": {
                "web": {"image": "x"},
                "side": {"image": "x", "network_mode": "service:web", "ports": ["80:80"]},
                "host": {"image": "x", "network_mode": "host", "ports": ["81:81"]},
            }
        }
    ) == ['services.side.ports: ports cannot be published with network_mode "service:web"']


def test_check_diagnostics_are_located() -> None:
    source_map = SourceMap()
    source_map.set_value(("services", "web", "networks", "back"), Location("s.yml", 5, 9))
    with pytest.raises(StackFileError) as caught:
        check_stack(
            stack_of({"services": {"web": {"image": "x", "networks": {"back": None}}}}),
            source_map,
        )
    assert [d.render() for d in caught.value.diagnostics] == [
        's.yml:5:9: services.web.networks.back: network "back" is not defined'
    ]


def test_static_addresses() -> None:
    assert check_problems(
        {
            "services": {
                "a": {"image": "x", "networks": {"front": {"ipv4_address": "172.28.0.5"}}},
                "b": {"image": "x", "networks": {"front": {"ipv4_address": "172.28.0.5"}}},
                "c": {"image": "x", "networks": {"front": {"ipv4_address": "10.0.0.5"}}},
                "d": {"image": "x", "networks": {"plain": {"ipv4_address": "10.0.0.5"}}},
                "e": {"image": "x", "networks": {"front": {"ipv4_address": "172.28.0.6"}}},
            },
            "networks": {
                "front": {"ipam": {"config": [{"subnet": "172.28.0.0/16"}]}},
                "plain": {},
            },
        }
    ) == [
        'services.b.networks.front.ipv4_address: 172.28.0.5 is already given to service "a"',
        "services.c.networks.front.ipv4_address: 10.0.0.5 is outside the subnet (172.28.0.0/16)",
        "services.d.networks.plain.ipv4_address: a static address needs a subnet declared for "
        'network "plain" (ipam.config[].subnet)',
    ]


def test_duplicate_mount_targets() -> None:
    assert check_problems(
        {
            "services": {
                "web": {
                    "image": "x",
                    "volumes": [
                        "data:/data",
                        "./local:/data/",
                        "/tmp",
                        {"type": "tmpfs", "target": "/run"},
                    ],
                }
            },
            "volumes": {"data": {}},
        }
    ) == ["services.web.volumes[1]: /data is already mounted by volumes[0]"]


def test_names_written_as_a_list_are_located_at_their_item() -> None:
    source_map = SourceMap()
    source_map.set_value(("services", "web", "networks"), Location("s.yml", 4, 15))
    source_map.set_value(("services", "web", "networks", 0), Location("s.yml", 4, 16))
    source_map.set_value(("services", "web", "networks", 1), Location("s.yml", 4, 22))
    stack = stack_of(
        {
            "services": {"web": {"image": "x", "networks": ["front", "back"]}},
            "networks": {"front": {}},
        }
    )
    with pytest.raises(StackFileError) as caught:
        check_stack(stack, source_map)
    assert [d.render() for d in caught.value.diagnostics] == [
        's.yml:4:22: services.web.networks.back: network "back" is not defined'
    ]
