"""validate_stack: unknown and unsupported keys, human messages, positions, warnings."""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackr.config.checks import check_stack
from stackr.config.compose_keys import SPEC_KEYS
from stackr.config.models import HOST_PLATFORM, Stack
from stackr.config.profiles import select_profiles
from stackr.config.source_map import SourceMap
from stackr.config.validate import _SUPPORTED, LEVELS, validate_stack
from stackr.errors import Location, StackFileError
from tests.unit.config.model_helpers import problems_of, raw_stack, service_problems

# For each level of the file: a minimal valid stack and the path (in it) of one mapping of
# that level, where a key is injected.
BASE_SERVICE: dict[str, Any] = {"image": "nginx"}
LEVEL_SAMPLES: dict[str, tuple[dict[str, Any], tuple[str | int, ...]]] = {
    "top": ({"services": {}}, ()),
    "service": ({"services": {"web": dict(BASE_SERVICE)}}, ("services", "web")),
    "build": ({"services": {"web": {"build": {"context": "."}}}}, ("services", "web", "build")),
    "deploy": (
        {"services": {"web": {**BASE_SERVICE, "deploy": {}}}},
        ("services", "web", "deploy"),
    ),
    "resources": (
        {"services": {"web": {**BASE_SERVICE, "deploy": {"resources": {}}}}},
        ("services", "web", "deploy", "resources"),
    ),
    "resource_reservations": (
        {"services": {"web": {**BASE_SERVICE, "deploy": {"resources": {"reservations": {}}}}}},
        ("services", "web", "deploy", "resources", "reservations"),
    ),
    "healthcheck": (
        {"services": {"web": {**BASE_SERVICE, "healthcheck": {"test": "true"}}}},
        ("services", "web", "healthcheck"),
    ),
    "watch": (
        {
            "services": {
                "web": {**BASE_SERVICE, "develop": {"watch": [{"path": ".", "action": "rebuild"}]}}
            }
        },
        ("services", "web", "develop", "watch", 0),
    ),
    "service_volume": (
        {"services": {"web": {**BASE_SERVICE, "volumes": [{"type": "tmpfs", "target": "/t"}]}}},
        ("services", "web", "volumes", 0),
    ),
    "bind": (
        {
            "services": {
                "web": {
                    **BASE_SERVICE,
                    "volumes": [{"type": "bind", "source": "/a", "target": "/a", "bind": {}}],
                }
            }
        },
        ("services", "web", "volumes", 0, "bind"),
    ),
    "volume_options": (
        {
            "services": {
                "web": {
                    **BASE_SERVICE,
                    "volumes": [{"type": "volume", "source": "v", "target": "/v", "volume": {}}],
                }
            },
            "volumes": {"v": {}},
        },
        ("services", "web", "volumes", 0, "volume"),
    ),
    "env_file": (
        {"services": {"web": {**BASE_SERVICE, "env_file": [{"path": "a.env"}]}}},
        ("services", "web", "env_file", 0),
    ),
    "service_network": (
        {"services": {"web": {**BASE_SERVICE, "networks": {"default": {}}}}},
        ("services", "web", "networks", "default"),
    ),
    "network": ({"services": {}, "networks": {"n": {}}}, ("networks", "n")),
    "secret": ({"services": {}, "secrets": {"s": {"file": "x"}}}, ("secrets", "s")),
    "config": ({"services": {}, "configs": {"c": {"file": "x"}}}, ("configs", "c")),
}


def unsupported_cases() -> list[tuple[str, str]]:
    return [
        (level, key)
        for level in LEVEL_SAMPLES
        for key in sorted(SPEC_KEYS[level] - _SUPPORTED[level])
    ]


def with_key(level: str, key: str, value: Any) -> tuple[dict[str, Any], str]:
    data, path = LEVEL_SAMPLES[level]
    data = copy.deepcopy(data)
    target = data
    for part in path:
        target = target[part]
    target[key] = value
    return data, ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")


@pytest.mark.parametrize(("level", "key"), unsupported_cases())
def test_every_unsupported_spec_key_is_named(level: str, key: str) -> None:
    data, where = with_key(level, key, "something")
    assert f'{where + ": " if where else ""}"{key}" is not supported by stackr yet' in problems_of(
        data
    )


def test_every_level_with_unsupported_keys_is_sampled() -> None:
    for level in SPEC_KEYS:
        if SPEC_KEYS[level] - _SUPPORTED[level]:
            assert level in LEVEL_SAMPLES, level


def test_the_spec_keys_stackr_does_not_support_yet() -> None:
    # A change of this list is a decision: the README's "not supported" list follows it.
    assert sorted(SPEC_KEYS["top"] - _SUPPORTED["top"]) == ["include", "models"]
    # (extends is no model field: the loader resolves it before validation, extends.py)
    assert {
        "extends",
        "gpus",
        "cgroup_parent",
        "storage_opt",
        "models",
        "provider",
        "external_links",
    } <= SPEC_KEYS["service"] - _SUPPORTED["service"]


def test_every_supported_key_is_a_model_field() -> None:
    for name, level in LEVELS.items():
        if level.model is not None:
            assert _SUPPORTED[name] <= set(level.model.model_fields), name


@pytest.mark.parametrize(
    ("service", "message"),
    [
        ({"imgae": "x"}, 'services.web: unknown key "imgae" (did you mean "image"?)'),
        ({"port": ["80"]}, 'services.web: unknown key "port" (did you mean "ports"?)'),
        (
            {"enviroment": {}},
            'services.web: unknown key "enviroment" (did you mean "environment"?)',
        ),
        ({"frobnicate": 1}, 'services.web: unknown key "frobnicate"'),
        (
            {"healthcheck": {"test": "true", "intervall": "5s"}},
            'services.web.healthcheck: unknown key "intervall" (did you mean "interval"?)',
        ),
        (
            {"ports": [{"target": 80, "publish": 8080}]},
            'services.web.ports[0]: unknown key "publish" (did you mean "published"?)',
        ),
        (
            {"deploy": {"resources": {"limits": {"memroy": "1g"}}}},
            'services.web.deploy.resources.limits: unknown key "memroy" (did you mean "memory"?)',
        ),
        (
            {"env_file": [{"path": "a", "x-note": 1}]},
            'services.web.env_file[0]: unknown key "x-note"',
        ),
        (
            {"depends_on": {"db": {"condtion": "service_started"}}},
            'services.web.depends_on.db: unknown key "condtion" (did you mean "condition"?)',
        ),
    ],
)
def test_unknown_keys(service: dict[str, Any], message: str) -> None:
    assert message in service_problems(service)


def test_unknown_top_level_key() -> None:
    assert problems_of({"services": {}, "servics": {}}) == [
        'unknown key "servics" (did you mean "services"?)'
    ]


@pytest.mark.parametrize(
    ("service", "message"),
    [
        (
            {"ports": ["80:80:80"]},
            'services.web.ports[0]: "80:80:80" is not a port mapping '
            "([HOST_IP:][HOST:]CONTAINER[/PROTOCOL])",
        ),
        (
            {"ports": ["8080:80/tcp", "99999:80"]},
            'services.web.ports[1]: "99999:80" is not a port mapping '
            "([HOST_IP:][HOST:]CONTAINER[/PROTOCOL])",
        ),
        (
            {"ports": ["8000-8002:80-81"]},
            'services.web.ports[0]: "8000-8002:80-81": the host and container port ranges '
            "differ in length",
        ),
        (
            {"ports": ["80/sctp"]},
            'services.web.ports[0].protocol: protocol "sctp" is not supported by stackr yet',
        ),
        ({"mem_limit": "12x"}, 'services.web.mem_limit: "12x" is not a byte size (e.g. 512m, 1g)'),
        (
            {"restart": "sometimes"},
            'services.web.restart: "sometimes" is not one of no, always, on-failure[:N], '
            "unless-stopped",
        ),
        (
            {"restart": "on-failure:x"},
            'services.web.restart: "on-failure:x" is not one of no, always, on-failure[:N], '
            "unless-stopped",
        ),
        (
            {"healthcheck": {"test": "true", "interval": "5q"}},
            'services.web.healthcheck.interval: "5q" is not a duration (e.g. 30s, 1m30s, 500ms)',
        ),
        (
            {"healthcheck": {"test": ["RUN", "x"]}},
            'services.web.healthcheck.test: ["RUN", "x"] is not a healthcheck test (a string, or '
            "a list starting with CMD, CMD-SHELL or NONE)",
        ),
        (
            {"volumes": ["a:b:c:d"]},
            'services.web.volumes[0]: "a:b:c:d" is not a volume ([SOURCE:]TARGET[:MODE])',
        ),
        (
            {"volumes": ["./x:relative"]},
            'services.web.volumes[0]: "./x:relative" is not a volume ([SOURCE:]TARGET[:MODE])',
        ),
        (
            {"volumes": ["./x:/x:rx"]},
            'services.web.volumes[0]: "./x:/x:rx": unknown volume mode "rx" (ro, rw, z, Z, '
            "nocopy, …)",
        ),
        (
            {"volumes": [{"type": "npipe", "source": "x", "target": "/x"}]},
            'services.web.volumes[0].type: volume type "npipe" is not supported by stackr yet',
        ),
        (
            {"volumes": [{"type": "bind", "target": "/x"}]},
            'services.web.volumes[0]: a "bind" mount needs a "source"',
        ),
        ({"privileged": "maybe"}, 'services.web.privileged: "maybe" is not true or false'),
        ({"cpu_shares": "lots"}, 'services.web.cpu_shares: "lots" is not an integer'),
        ({"cpus": "fast"}, 'services.web.cpus: "fast" is not a number'),
        ({"oom_score_adj": 5000}, "services.web.oom_score_adj: 5000 must be at most 1000"),
        (
            {"container_name": "bad name"},
            'services.web.container_name: "bad name" is not a container name '
            "([a-zA-Z0-9][a-zA-Z0-9_.-]*)",
        ),
        (
            {"environment": "A=1"},
            'services.web.environment: "A=1" is not a mapping or a list of KEY=VALUE',
        ),
        (
            {"environment": {"A": [1]}},
            "services.web.environment.A: [1] is not a string, number or boolean",
        ),
        ({"labels": ["=x"]}, 'services.web.labels[0]: "=x" is not KEY=VALUE'),
        (
            {"command": 'echo "unterminated'},
            'services.web.command: "echo \\"unterminated" cannot be split into words: No closing '
            "quotation",
        ),
        (
            {"depends_on": {"db": {"condition": "service_ready"}}},
            'services.web.depends_on.db.condition: "service_ready" is not one of service_started, '
            "service_healthy, service_completed_successfully",
        ),
        (
            {"platform": "linux/s390x"},
            f'services.web.platform: "linux/s390x" is not this host\'s platform ({HOST_PLATFORM})',
        ),
        (
            {"network_mode": "bridge"},
            'services.web.network_mode: network_mode "bridge" is not supported by stackr yet '
            "(Docker's default bridge: leave network_mode out to use the project's network)",
        ),
        (
            {"network_mode": "weird"},
            'services.web.network_mode: "weird" is not a network mode (host, none, '
            "service:NAME, container:NAME)",
        ),
        (
            {"build": {"context": ".", "tags": ["ok:1", "Bad:tag"]}},
            "services.web.build.tags[1]: invalid image reference 'Bad:tag': repository name "
            "must be lowercase",
        ),
        (
            {"post_start": [{"command": "true", "working_dir": "tmp"}]},
            'services.web.post_start[0].working_dir: "tmp" is not an absolute path',
        ),
        (
            {"pre_stop": [{"command": "true", "usr": "x"}]},
            'services.web.pre_stop[0]: unknown key "usr" (did you mean "user"?)',
        ),
        (
            {"mac_address": "03:00:00:00:00:01"},
            'services.web.mac_address: "03:00:00:00:00:01" is not a unicast MAC address (six '
            "hex pairs, the first even: 02:42:ac:11:00:02)",
        ),
        (
            {"networks": {"default": {"mac_address": "02:42:zz:00:00:01"}}},
            'services.web.networks.default.mac_address: "02:42:zz:00:00:01" is not a unicast '
            "MAC address (six hex pairs, the first even: 02:42:ac:11:00:02)",
        ),
        (
            {"device_cgroup_rules": ["c 188:* rmw", "x 1:2 r"]},
            'services.web.device_cgroup_rules[1]: "x 1:2 r" is not a device cgroup rule (type '
            "major:minor access, e.g. c 188:* rmw)",
        ),
        (
            {"mac_address": "02:42:ac:11:00:02", "network_mode": "host"},
            'services.web.mac_address: "mac_address" needs a network of the service\'s own '
            '(network_mode is "host")',
        ),
        (
            {"blkio_config": {"weight": 5, "device_read_bps": [{"path": "/dev/sda"}]}},
            "services.web.blkio_config.weight: 5 must be at least 10",
        ),
        (
            {"uts": "private"},
            'services.web.uts: "private" is not a uts mode (host)',
        ),
        (
            {"cgroup": "shared"},
            'services.web.cgroup: "shared" is not a cgroup namespace mode (host, private)',
        ),
        (
            {"userns_mode": "keep-id"},
            'services.web.userns_mode: userns_mode "keep-id" is not supported by stackr yet '
            "(its containers run in the host's user namespace: host)",
        ),
        (
            {"uts": "host", "hostname": "web"},
            'services.web.uts: "hostname" and "domainname" cannot be combined with uts: host',
        ),
        (
            {"runtime": "nvidia"},
            'services.web.runtime: runtime "nvidia" is not supported by stackr (it runs '
            "containers itself)",
        ),
        (
            {"pull_policy": "daily"},
            'services.web.pull_policy: pull_policy "daily" is not supported by stackr yet',
        ),
        (
            {"tmpfs": ["/run:size=lots"]},
            'services.web.tmpfs[0]: "lots" is not a byte size (e.g. 512m, 1g)',
        ),
        (
            {"tmpfs": "/run:uid=0,exec,bogus"},
            'services.web.tmpfs[0]: "/run:uid=0,exec,bogus": unknown tmpfs option "bogus" '
            "(size, mode, ro, noexec, …)",
        ),
        (
            {"tmpfs": ["run"]},
            'services.web.tmpfs[0]: "run" is not a tmpfs mount (PATH[:size=SIZE,mode=MODE,…])',
        ),
        ({"working_dir": "app"}, 'services.web.working_dir: "app" is not an absolute path'),
        (
            {"ulimits": {"nofile": {"soft": 10, "hard": 5}}},
            "services.web.ulimits.nofile: soft limit 10 is above the hard limit 5",
        ),
        (
            {"extra_hosts": ["nohost"]},
            'services.web.extra_hosts[0]: "nohost" is not a host entry (HOSTNAME:IP or '
            "HOSTNAME=IP)",
        ),
        (
            {"logging": {"options": {"max-file": "0"}}},
            'services.web.logging.options.max-file: "0" is not a number of files (1 or more)',
        ),
        (
            {"logging": {"options": {"max-size": "big"}}},
            'services.web.logging.options: "big" is not a byte size (e.g. 512m, 1g)',
        ),
        (
            {"devices": ["/dev/x:/dev/y:rwx"]},
            'services.web.devices[0].permissions: "rwx" is not a set of device permissions (r, '
            "w, m)",
        ),
        (
            {"volumes_from": ["container:abc"]},
            'services.web.volumes_from[0]: "container:abc": "container:" sources are not '
            "supported by stackr yet",
        ),
        (
            {"deploy": {"mode": "global"}},
            'services.web.deploy.mode: deploy mode "global" is not supported by stackr yet',
        ),
        ({"deploy": {"replicas": -1}}, "services.web.deploy.replicas: -1 must be at least 0"),
        (
            {"develop": {"watch": [{"path": ".", "action": "sync"}]}},
            'services.web.develop.watch[0]: watch action "sync" needs a "target"',
        ),
        (
            {"networks": {"default": {"ipv4_address": "300.1.1.1"}}},
            'services.web.networks.default.ipv4_address: "300.1.1.1" is not an IPv4 address',
        ),
        (
            {"network_mode": "host", "networks": ["default"]},
            'services.web.network_mode: "network_mode" and "networks" cannot be combined',
        ),
    ],
)
def test_value_messages(service: dict[str, Any], message: str) -> None:
    assert message in service_problems(service)


def test_a_service_needs_image_or_build() -> None:
    assert problems_of({"services": {"web": {"command": "x"}}}) == [
        'services.web: needs "image" or "build"'
    ]
    assert problems_of({"services": {"web": None}}) == ['services.web: needs "image" or "build"']


def test_top_level_messages() -> None:
    problems = problems_of(
        {
            "services": {"bad name": {"image": "x"}},
            "networks": {
                "n": {"driver": "overlay"},
                "m": {"ipam": {"config": [{"subnet": "10.0.0.1/8"}]}},
            },
            "volumes": {"v": {"driver": "nfs"}, "e": {"external": True, "driver": "local"}},
            "secrets": {"s": {}},
            "configs": {"c": {"file": "a", "content": "b"}},
        }
    )
    assert problems == [
        'configs.c: needs exactly one of "file", "environment", "content", "external"',
        'networks.m.ipam.config[0].subnet: "10.0.0.1/8" is not a subnet in CIDR notation (e.g. '
        "172.28.0.0/16)",
        'networks.n.driver: network driver "overlay" is not supported by stackr yet (bridge only)',
        'secrets.s: needs exactly one of "file", "environment", "external"',
        'services.bad name: "bad name" is not a valid name ([a-zA-Z0-9._-]+)',
        'volumes.e.driver: "driver" cannot be combined with "external: true"',
        'volumes.v.driver: volume driver "nfs" is not supported by stackr yet (local only)',
    ]


def test_the_file_must_be_a_mapping_of_mappings() -> None:
    assert problems_of({"services": ["web"]}) == ['services: ["web"] is not a mapping']
    assert problems_of({"services": {"web": "nginx"}}) == ['services.web: "nginx" is not a mapping']


def test_all_problems_are_reported_at_once() -> None:
    problems = problems_of(
        {
            "services": {
                "a": {
                    "image": "x",
                    "ports": ["bad", "80:80:80"],
                    "mem_limit": "1q",
                    "extends": "b",
                },
                "b": {"image": "x", "restart": "never", "imgae": "y"},
            },
            "include": ["other.yml"],
        }
    )
    assert len(problems) == 7, problems


def test_positions_come_from_the_source_map() -> None:
    source_map = SourceMap()
    source_map.set_value(("services", "web"), Location("stack.yml", 2, 3))
    source_map.set_key(("services", "web", "imgae"), Location("stack.yml", 4, 5))
    source_map.set_value(("services", "web", "imgae"), Location("stack.yml", 4, 12))
    source_map.set_value(("services", "web", "ports", 0), Location("stack.yml", 6, 9))
    raw = raw_stack(
        {"services": {"web": {"image": "x", "imgae": "y", "ports": ["80:80:80"]}}}, source_map
    )
    with pytest.raises(StackFileError) as caught:
        validate_stack(raw)
    rendered = [d.render() for d in caught.value.diagnostics]
    assert rendered == [
        'stack.yml:4:5: services.web: unknown key "imgae" (did you mean "image"?)',
        'stack.yml:6:9: services.web.ports[0]: "80:80:80" is not a port mapping '
        "([HOST_IP:][HOST:]CONTAINER[/PROTOCOL])",
    ]


def test_warnings() -> None:
    source_map = SourceMap()
    source_map.set_value(("version",), Location("stack.yml", 1, 10))
    raw = raw_stack(
        {
            "version": "3.9",
            "services": {
                "web": {"image": "x", "logging": {"driver": "syslog"}},
                "db": {"image": "y", "logging": {"driver": "local"}},
            },
        },
        source_map,
    )
    _, warnings = validate_stack(raw)
    assert [w.render() for w in warnings] == [
        'stack.yml:1:10: version: "version" is obsolete and ignored',
        'services.web.logging.driver: logging driver "syslog" is not available: logs stay '
        "local (json-file)",
    ]


def test_loader_warnings_are_passed_on() -> None:
    from dataclasses import replace

    from stackr.errors import Diagnostic

    note = Diagnostic(None, "services.web.image", 'variable "TAG" is not set')
    raw = replace(raw_stack({"services": {"web": {"image": "x"}}}), warnings=(note,))
    assert validate_stack(raw)[1] == (note,)


# -- whole stack files: tests/data/stacks/{good,bad} ---------------------------------------

STACKS = Path(__file__).resolve().parents[2] / "data" / "stacks"
BAD_FILES = sorted((STACKS / "bad").glob("*.yml"))
GOOD_FILES = sorted((STACKS / "good").glob("*/compose.yaml"))
POSITION = re.compile(r"^[^:\s]+:\d+:\d+: ")


def loader_available() -> bool:
    try:
        import stackr.config.loader  # noqa: F401
    except ImportError:
        return False
    return True


def load_checked(path: Path, environ: dict[str, str] | None = None) -> tuple[Stack, list[str]]:
    """All phases after loading, as ``stackr config`` runs them; warnings rendered."""
    if loader_available():
        from stackr.config.loader import LoadOptions, load_raw

        raw = load_raw(
            LoadOptions(files=(path,), cwd=path.parent, environ=environ or {}, profiles=())
        )
    else:  # until the loader is on main: no positions, YAML 1.1 scalars
        raw = replace(raw_stack(path.read_text()), project_dir=path.parent)
    stack, warnings = validate_stack(raw)
    stack = select_profiles(stack, raw.profiles, raw.source_map)
    check_stack(stack, raw.source_map)
    return stack, [w.render() for w in warnings]


@pytest.mark.parametrize("path", BAD_FILES, ids=[p.stem for p in BAD_FILES])
def test_bad_stack_file(path: Path) -> None:
    expected = path.with_suffix(".expected").read_text().splitlines()
    with pytest.raises(StackFileError) as caught:
        load_checked(path)
    rendered = [d.render() for d in caught.value.diagnostics]
    if not loader_available():
        expected = sorted(POSITION.sub("", line) for line in expected)
        rendered = sorted(POSITION.sub("", line) for line in rendered)
    assert rendered == expected


def test_there_are_enough_bad_files() -> None:
    assert len(BAD_FILES) >= 15
    for path in BAD_FILES:
        assert path.with_suffix(".expected").exists(), path


@pytest.mark.parametrize("path", GOOD_FILES, ids=[p.parent.name for p in GOOD_FILES])
def test_good_stack_file(path: Path) -> None:
    stack, warnings = load_checked(path, {"TAG": "1.25"})
    assert stack.services
    assert not [w for w in warnings if "version" not in w]


# -- robustness: any loaded data gives a Stack or a StackFileError, nothing else ---------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "80:80", "./a:/b:ro", "1m30s", "512m", "no", "host", "service:web", "x"]),
    st.text(max_size=12),
)
plain_data = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
    ),
    max_leaves=20,
)
service_keys = [*sorted(SPEC_KEYS["service"]), "x-a", "imgae"]
services = st.dictionaries(
    st.sampled_from(["web", "db", "bad name"]),
    st.one_of(
        st.none(),
        st.dictionaries(st.sampled_from(service_keys), plain_data, max_size=6),
    ),
    max_size=3,
)
stacks = st.fixed_dictionaries(
    {"services": services},
    optional={
        "networks": st.dictionaries(st.sampled_from(["default", "n"]), plain_data, max_size=2),
        "volumes": st.dictionaries(st.sampled_from(["data", "v"]), plain_data, max_size=2),
        "secrets": plain_data,
        "version": plain_data,
        "x-ext": plain_data,
    },
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks)
def test_arbitrary_data_gives_a_stack_or_diagnostics(data: dict[str, Any]) -> None:
    try:
        stack, _ = validate_stack(raw_stack(data))
    except StackFileError as error:
        assert error.diagnostics
        for diagnostic in error.diagnostics:
            assert diagnostic.message and "pydantic" not in diagnostic.message.lower()
            assert "Input should be" not in diagnostic.message
        return
    stack = select_profiles(stack, ["*"])
    try:
        check_stack(stack, SourceMap())
    except StackFileError as error:
        assert error.diagnostics
