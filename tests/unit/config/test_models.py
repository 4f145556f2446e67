"""Short syntax → long syntax, for every key that has one."""

from __future__ import annotations

from typing import Any

import pytest

from stackr.config.models import (
    HOST_PLATFORM,
    DependsOn,
    PortMapping,
    Restart,
    ServiceNetwork,
    Stack,
    TmpfsOptions,
    dump,
)
from tests.unit.config.model_helpers import service_of, stack_of


def ports(*entries: Any) -> list[dict[str, Any]]:
    return [p.model_dump(exclude_defaults=True) for p in service_of({"ports": list(entries)}).ports]


def test_port_short_forms() -> None:
    assert ports(80) == [{"target": 80}]
    assert ports("80") == [{"target": 80}]
    assert ports("8080:80") == [{"target": 80, "published": 8080}]
    assert ports("8080:80/udp") == [{"target": 80, "published": 8080, "protocol": "udp"}]
    assert ports("127.0.0.1:8080:80") == [{"target": 80, "published": 8080, "host_ip": "127.0.0.1"}]
    assert ports("127.0.0.1::80") == [{"target": 80, "host_ip": "127.0.0.1"}]
    assert ports("[::1]:8080:80") == [{"target": 80, "published": 8080, "host_ip": "::1"}]


def test_port_ranges_expand_into_entries() -> None:
    assert ports("127.0.0.1:8000-8001:80-81") == [
        {"target": 80, "published": 8000, "host_ip": "127.0.0.1"},
        {"target": 81, "published": 8001, "host_ip": "127.0.0.1"},
    ]
    assert ports("3000-3002") == [{"target": 3000}, {"target": 3001}, {"target": 3002}]
    # A host range for one container port: any free port of the range.
    assert ports("8000-8010:80") == [{"target": 80, "published": 8000, "published_end": 8010}]


def test_port_long_form() -> None:
    assert ports({"target": "80", "published": "8080", "protocol": "UDP", "mode": "host"}) == [
        {"target": 80, "published": 8080, "protocol": "udp", "mode": "host"}
    ]
    assert ports({"target": 80, "published": "9000-9009"}) == [
        {"target": 80, "published": 9000, "published_end": 9009}
    ]
    assert ports({"target": 80, "x-note": "kept"})[0] == {"target": 80}
    port = service_of({"ports": [{"target": 80, "x-note": "kept"}]}).ports[0]
    assert port.extensions == {"x-note": "kept"}


def test_port_entries_keep_order_around_ranges() -> None:
    result = service_of({"ports": ["1-2:1-2", {"target": 5}, 6]}).ports
    assert [p.target for p in result] == [1, 2, 5, 6]
    assert all(isinstance(p, PortMapping) for p in result)


def volumes(*entries: Any) -> list[dict[str, Any]]:
    return [
        v.model_dump(exclude_defaults=True) for v in service_of({"volumes": list(entries)}).volumes
    ]


def test_volume_bind_short_form_is_absolute() -> None:
    assert volumes("./src:/app:ro") == [
        {
            "type": "bind",
            "source": "/project/src",
            "target": "/app",
            "read_only": True,
            "bind": {"create_host_path": True},
        }
    ]
    assert volumes("/etc/hosts:/etc/hosts")[0]["source"] == "/etc/hosts"
    assert volumes("../shared:/shared:rw")[0]["source"] == "/shared"
    assert volumes("./a/../b:/b")[0]["source"] == "/project/b"


def test_volume_home_is_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/someone")
    assert volumes("~/data:/data")[0]["source"] == "/home/someone/data"


def test_volume_named_and_anonymous() -> None:
    stack = stack_of(
        {
            "services": {"web": {"image": "x", "volumes": ["data:/data:ro,nocopy", "/cache"]}},
            "volumes": {"data": None},
        }
    )
    named, anonymous = stack.services["web"].volumes
    assert named.model_dump(exclude_defaults=True) == {
        "type": "volume",
        "source": "data",
        "target": "/data",
        "read_only": True,
        "volume": {"nocopy": True},
    }
    assert anonymous.model_dump(exclude_defaults=True) == {"type": "volume", "target": "/cache"}


def test_volume_bind_modes() -> None:
    (bind,) = volumes("./x:/x:ro,z,rslave")
    assert bind["bind"] == {"create_host_path": True, "selinux": "z", "propagation": "rslave"}


def test_volume_long_forms() -> None:
    assert volumes(
        {"type": "bind", "source": "./conf", "target": "/conf", "read_only": "true"}
    ) == [{"type": "bind", "source": "/project/conf", "target": "/conf", "read_only": True}]
    (tmpfs,) = volumes(
        {"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": "64m", "mode": "1777"}}
    )
    assert tmpfs["tmpfs"] == {"size": 64 * 1024 * 1024, "mode": 0o1777}
    (bind,) = volumes(
        {"type": "bind", "source": "/x", "target": "/x", "bind": {"create_host_path": False}}
    )
    assert bind["bind"] == {}


def test_depends_on_list_becomes_mapping() -> None:
    stack = stack_of(
        {"services": {"web": {"image": "x", "depends_on": ["db"]}, "db": {"image": "y"}}}
    )
    assert stack.services["web"].depends_on == {
        "db": DependsOn(condition="service_started", required=True, restart=False)
    }


def test_depends_on_mapping() -> None:
    stack = stack_of(
        {
            "services": {
                "web": {
                    "image": "x",
                    "depends_on": {
                        "db": {"condition": "service_healthy", "restart": True},
                        "init": {"condition": "service_completed_successfully", "required": False},
                    },
                },
                "db": {"image": "y"},
                "init": {"image": "z"},
            }
        }
    )
    depends_on = stack.services["web"].depends_on
    assert depends_on["db"] == DependsOn(condition="service_healthy", restart=True)
    assert depends_on["init"].required is False


@pytest.mark.parametrize(
    ("test", "expected"),
    [
        ("curl -f http://localhost", ("CMD-SHELL", "curl -f http://localhost")),
        (["CMD", "pg_isready", "-U", "x"], ("CMD", "pg_isready", "-U", "x")),
        (["CMD-SHELL", "exit 0"], ("CMD-SHELL", "exit 0")),
        (["CMD-SHELL", "curl", "-f", "x"], ("CMD-SHELL", "curl -f x")),
        (["NONE"], ("NONE",)),
    ],
)
def test_healthcheck_test_forms(test: Any, expected: tuple[str, ...]) -> None:
    healthcheck = service_of({"healthcheck": {"test": test}}).healthcheck
    assert healthcheck is not None
    assert healthcheck.test == expected
    assert healthcheck.disable == (expected == ("NONE",))


def test_healthcheck_durations_and_disable() -> None:
    healthcheck = service_of(
        {
            "healthcheck": {
                "test": "true",
                "interval": "1m30s",
                "timeout": "10s",
                "retries": 3,
                "start_period": "40s",
                "start_interval": "5s",
            }
        }
    ).healthcheck
    assert healthcheck is not None
    assert (healthcheck.interval, healthcheck.timeout, healthcheck.retries) == (90.0, 10.0, 3)
    assert (healthcheck.start_period, healthcheck.start_interval) == (40.0, 5.0)
    disabled = service_of({"healthcheck": {"disable": True}}).healthcheck
    assert disabled is not None and disabled.test == ("NONE",) and disabled.disable


def test_command_and_entrypoint_split_like_a_shell() -> None:
    service = service_of({"command": 'sh -c "echo hi; sleep 1"', "entrypoint": "/bin/tini --"})
    assert service.command == ("sh", "-c", "echo hi; sleep 1")
    assert service.entrypoint == ("/bin/tini", "--")
    listed = service_of({"command": ["echo", 1, True]})
    assert listed.command == ("echo", "1", "true")
    assert service_of({}).command is None
    assert service_of({"entrypoint": []}).entrypoint == ()


def test_environment_list_and_mapping() -> None:
    assert service_of({"environment": ["A=1", "B", "C=", "D=x=y"]}).environment == {
        "A": "1",
        "B": None,
        "C": "",
        "D": "x=y",
    }
    assert service_of(
        {"environment": {"PORT": 8080, "DEBUG": True, "RATIO": 0.5, "UNSET": None, "S": "no"}}
    ).environment == {"PORT": "8080", "DEBUG": "true", "RATIO": "0.5", "UNSET": None, "S": "no"}


def test_labels_and_sysctls() -> None:
    service = service_of(
        {
            "labels": ["a=1", "flag"],
            "sysctls": {"net.core.somaxconn": 1024},
            "annotations": {"k": 1},
        }
    )
    assert service.labels == {"a": "1", "flag": ""}
    assert service.sysctls == {"net.core.somaxconn": "1024"}
    assert service.annotations == {"k": "1"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("no", Restart(condition="no")),
        (False, Restart(condition="no")),
        ("always", Restart(condition="always")),
        ("unless-stopped", Restart(condition="unless-stopped")),
        ("on-failure", Restart(condition="on-failure")),
        ("on-failure:5", Restart(condition="on-failure", max_retries=5)),
    ],
)
def test_restart(value: Any, expected: Restart) -> None:
    assert service_of({"restart": value}).restart == expected


def test_restart_default_and_deploy_policy() -> None:
    assert service_of({}).restart == Restart(condition="no")
    service = service_of(
        {
            "deploy": {
                "restart_policy": {"condition": "on-failure", "max_attempts": 3, "delay": "5s"}
            }
        }
    )
    assert service.effective_restart == Restart(condition="on-failure", max_retries=3)
    assert service.deploy is not None and service.deploy.restart_policy is not None
    assert service.deploy.restart_policy.delay == 5.0


def test_build_string_and_mapping() -> None:
    build = service_of({"build": "./app"}).build
    assert build is not None
    assert (build.context, build.dockerfile) == ("/project/app", None)
    build = service_of(
        {
            "build": {
                "context": ".",
                "dockerfile": "Dockerfile.dev",
                "args": ["VERSION=1", "EMPTY"],
                "target": "dev",
                "labels": {"a": 1},
            }
        }
    ).build
    assert build is not None
    assert build.context == "/project"
    assert build.args == {"VERSION": "1", "EMPTY": None}
    assert (build.target, build.labels) == ("dev", {"a": "1"})
    url = service_of({"build": "https://github.com/x/y.git#main"}).build
    assert url is not None and url.context == "https://github.com/x/y.git#main"
    inline = service_of({"build": {"dockerfile_inline": "FROM busybox"}}).build
    assert inline is not None and inline.context == "/project"


def test_networks_list_and_mapping() -> None:
    stack = stack_of(
        {
            "services": {
                "a": {"image": "x", "networks": ["front", "back"]},
                "b": {
                    "image": "x",
                    "networks": {
                        "front": {"aliases": ["api"], "ipv4_address": "172.20.0.5"},
                        "back": None,
                    },
                },
            },
            "networks": {"front": {}, "back": {}},
        }
    )
    assert stack.services["a"].networks == {"front": ServiceNetwork(), "back": ServiceNetwork()}
    assert stack.services["b"].networks["front"] == ServiceNetwork(
        aliases=("api",), ipv4_address="172.20.0.5"
    )
    assert stack.services["b"].networks["back"] == ServiceNetwork()


def test_implicit_default_network() -> None:
    stack = stack_of(
        {
            "services": {
                "web": {"image": "x"},
                "sidecar": {"image": "x", "network_mode": "service:web"},
                "tool": {"image": "x", "network_mode": "none"},
                "api": {"image": "x", "networks": ["back"]},
            },
            "networks": {"back": None},
        }
    )
    assert set(stack.networks) == {"default", "back"}
    assert stack.services["web"].networks == {"default": ServiceNetwork()}
    assert stack.services["sidecar"].networks == {}
    assert stack.services["tool"].networks == {}
    assert set(stack.services["api"].networks) == {"back"}


def test_no_default_network_when_nobody_needs_it() -> None:
    stack = stack_of({"services": {"a": {"image": "x", "network_mode": "host"}}})
    assert stack.networks == {}


def test_declared_default_network_is_kept() -> None:
    stack = stack_of(
        {"services": {"a": {"image": "x"}}, "networks": {"default": {"name": "shared"}}}
    )
    assert stack.networks["default"].name == "shared"


def test_a_service_may_name_the_implicit_default_network() -> None:
    for networks in (["default", "back"], {"default": {}, "back": {"aliases": ["b"]}}):
        stack = stack_of({"services": {"a": {"image": "x", "networks": networks}},
                          "networks": {"back": {}}})
        assert set(stack.networks) == {"default", "back"}
        assert set(stack.services["a"].networks) == {"default", "back"}


def test_sizes_durations_and_numbers() -> None:
    service = service_of(
        {
            "mem_limit": "512m",
            "memswap_limit": -1,
            "mem_reservation": "1g",
            "shm_size": "64m",
            "cpus": "0.5",
            "cpu_shares": 512,
            "pids_limit": 100,
            "stop_grace_period": "1m30s",
            "oom_score_adj": -500,
            "mem_swappiness": 60,
            "oom_kill_disable": True,
        }
    )
    assert service.mem_limit == 512 * 1024**2
    assert service.memswap_limit == -1
    assert service.mem_reservation == 1024**3
    assert service.shm_size == 64 * 1024**2
    assert (service.cpus, service.cpu_shares, service.pids_limit) == (0.5, 512, 100)
    assert service.stop_grace_period == 90.0
    assert service.oom_score_adj == -500
    assert (service.mem_swappiness, service.oom_kill_disable) == (60, True)


def test_deploy_resources_and_replicas() -> None:
    service = service_of(
        {
            "deploy": {
                "replicas": 3,
                "resources": {
                    "limits": {"cpus": "1.5", "memory": "256M", "pids": 50},
                    "reservations": {"memory": "128m"},
                },
            }
        }
    )
    assert service.replicas == 3
    assert service.memory_limit == 256 * 1024**2
    assert service.cpu_limit == 1.5
    assert service.pids_max == 50
    assert service_of({"scale": 2}).replicas == 2
    assert service_of({}).replicas == 1


def test_ulimits() -> None:
    service = service_of({"ulimits": {"nproc": 65535, "nofile": {"soft": 1024, "hard": 4096}}})
    assert (service.ulimits["nproc"].soft, service.ulimits["nproc"].hard) == (65535, 65535)
    assert (service.ulimits["nofile"].soft, service.ulimits["nofile"].hard) == (1024, 4096)


def test_string_or_list_keys() -> None:
    service = service_of(
        {
            "dns": "8.8.8.8",
            "dns_search": ["a.example", "b.example"],
            "tmpfs": "/run",
            "expose": [3000, "4000-4001/udp"],
            "cap_add": ["net_admin", "CAP_SYS_TIME"],
            "cap_drop": ["ALL"],
            "group_add": [100, "audio"],
            "security_opt": ["no-new-privileges:true"],
            "profiles": ["debug"],
        }
    )
    assert service.dns == ("8.8.8.8",)
    assert service.dns_search == ("a.example", "b.example")
    assert service.tmpfs == ("/run",)
    assert service.expose == ("3000", "4000-4001/udp")
    assert service.cap_add == ("NET_ADMIN", "SYS_TIME")
    assert service.cap_drop == ("ALL",)
    assert service.group_add == ("100", "audio")
    assert service.profiles == ("debug",)


def test_extra_hosts_forms() -> None:
    listed = service_of({"extra_hosts": ["db:10.0.0.2", "db=10.0.0.3", "v6=::1"]})
    assert listed.extra_hosts == {"db": ("10.0.0.2", "10.0.0.3"), "v6": ("::1",)}
    mapped = service_of({"extra_hosts": {"db": "10.0.0.2", "many": ["10.0.0.3", "10.0.0.4"]}})
    assert mapped.extra_hosts == {"db": ("10.0.0.2",), "many": ("10.0.0.3", "10.0.0.4")}


def test_secrets_and_configs() -> None:
    stack = stack_of(
        {
            "services": {
                "web": {
                    "image": "x",
                    "secrets": ["token", {"source": "cert", "target": "/c", "mode": "0440"}],
                    "configs": [{"source": "conf", "uid": 1000, "mode": 0o444}],
                }
            },
            "secrets": {"token": {"file": "./token.txt"}, "cert": {"environment": "CERT"}},
            "configs": {"conf": {"content": "hello"}},
        }
    )
    web = stack.services["web"]
    assert [s.source for s in web.secrets] == ["token", "cert"]
    assert web.secrets[1].mode == 0o440 and web.secrets[1].target == "/c"
    assert web.configs[0].uid == "1000" and web.configs[0].mode == 0o444
    assert stack.secrets["token"].file == "/project/token.txt"
    assert stack.configs["conf"].content == "hello"


def test_env_file_forms() -> None:
    assert [
        e.model_dump(exclude={"extensions"}) for e in service_of({"env_file": ".env"}).env_file
    ] == [{"path": "/project/.env", "required": True}]
    files = service_of({"env_file": ["a.env", {"path": "/etc/b.env", "required": False}]}).env_file
    assert [(f.path, f.required) for f in files] == [
        ("/project/a.env", True),
        ("/etc/b.env", False),
    ]


def test_links_volumes_from_devices() -> None:
    stack = stack_of(
        {
            "services": {
                "web": {
                    "image": "x",
                    "links": ["db", "db:database"],
                    "volumes_from": ["db", "db:ro"],
                    "devices": ["/dev/fuse", "/dev/sda:/dev/xvda:r"],
                },
                "db": {"image": "y"},
            }
        }
    )
    web = stack.services["web"]
    assert [(link.service, link.alias) for link in web.links] == [("db", "db"), ("db", "database")]
    assert [(v.service, v.read_only) for v in web.volumes_from] == [("db", False), ("db", True)]
    assert [(d.source, d.target, d.permissions) for d in web.devices] == [
        ("/dev/fuse", None, "rwm"),
        ("/dev/sda", "/dev/xvda", "r"),
    ]


def test_logging_local_drivers() -> None:
    logging = service_of(
        {"logging": {"driver": "json-file", "options": {"max-size": "10m", "max-file": 3}}}
    ).logging
    assert logging is not None
    assert (logging.max_size, logging.max_file) == (10 * 1024**2, 3)


def test_platform_of_the_host_is_accepted() -> None:
    assert service_of({"platform": HOST_PLATFORM}).platform == HOST_PLATFORM
    arch = HOST_PLATFORM.split("/")[1]
    assert service_of({"platform": arch}).platform == HOST_PLATFORM


def test_pull_policy_and_modes() -> None:
    assert service_of({"pull_policy": "if_not_present"}).pull_policy == "missing"
    assert service_of({"ipc": "host", "pid": "host"}).ipc == "host"
    assert service_of({"network_mode": "host"}).network_mode == "host"


def test_develop_watch() -> None:
    develop = service_of(
        {
            "develop": {
                "watch": [
                    {"path": "./src", "action": "sync", "target": "/app/src", "ignore": "*.pyc"},
                    {"path": "requirements.txt", "action": "rebuild"},
                ]
            }
        }
    ).develop
    assert develop is not None
    first, second = develop.watch
    assert (first.path, first.target, first.ignore) == ("/project/src", "/app/src", ("*.pyc",))
    assert (second.path, second.action) == ("/project/requirements.txt", "rebuild")


def test_top_level_resources() -> None:
    stack = stack_of(
        {
            "services": {"web": {"image": "x"}},
            "networks": {
                "front": {
                    "driver": "bridge",
                    "internal": True,
                    "labels": ["team=a"],
                    "ipam": {"config": [{"subnet": "172.28.0.0/16", "gateway": "172.28.0.1"}]},
                },
                "outside": {"external": True, "name": "shared_net"},
                "legacy": {"external": {"name": "old_net"}},
            },
            "volumes": {
                "data": {"driver": "local", "driver_opts": {"type": "tmpfs", "o": "size=100m"}},
                "ext": {"external": True},
            },
        }
    )
    front = stack.networks["front"]
    assert front.internal and front.labels == {"team": "a"}
    assert front.ipam is not None and front.ipam.config[0].gateway == "172.28.0.1"
    assert stack.networks["outside"].external and stack.networks["outside"].name == "shared_net"
    assert stack.networks["legacy"].external and stack.networks["legacy"].name == "old_net"
    assert stack.volumes["data"].driver_opts == {"type": "tmpfs", "o": "size=100m"}
    assert stack.volumes["ext"].external


def test_extensions_kept_at_every_level() -> None:
    stack = stack_of(
        {
            "x-common": {"a": 1},
            "services": {
                "web": {
                    "image": "x",
                    "x-svc": 1,
                    "healthcheck": {"test": "true", "x-h": 2},
                    "deploy": {"x-d": 3, "resources": {"limits": {"x-l": 4}}},
                }
            },
            "networks": {"n": {"x-n": 5}},
        }
    )
    assert stack.extensions == {"x-common": {"a": 1}}
    data = dump(stack)
    assert data["x-common"] == {"a": 1}
    web = data["services"]["web"]
    assert web["x-svc"] == 1
    assert web["healthcheck"]["x-h"] == 2
    assert web["deploy"]["resources"]["limits"]["x-l"] == 4
    assert data["networks"]["n"]["x-n"] == 5
    assert "extensions" not in stack.model_dump()


def test_models_are_frozen() -> None:
    service = service_of({})
    with pytest.raises(ValueError):
        service.image = "other"  # type: ignore[misc]


def test_version_and_name() -> None:
    stack = stack_of({"version": "3.8", "name": "ignored-here", "services": {}})
    assert isinstance(stack, Stack)
    assert stack.name == "demo"  # the loader's project name
    assert stack.version == "3.8"


def test_dump_reads_like_a_stack_file() -> None:
    service = service_of(
        {
            "restart": "on-failure:3",
            "healthcheck": {"test": "true", "interval": "1m30s", "timeout": "0.5s"},
            "stop_grace_period": 10,
            "x-team": "web",
        }
    )
    data = dump(service)
    assert data["restart"] == "on-failure:3"
    assert data["healthcheck"]["interval"] == "1m30s"
    assert data["healthcheck"]["timeout"] == "500ms"
    assert data["stop_grace_period"] == "10s"
    assert data["x-team"] == "web"
    assert service.restart.max_retries == 3 and service.stop_grace_period == 10.0
    assert dump(service_of({}))["restart"] == "no"


def test_tmpfs_entries_as_mounts() -> None:
    service = service_of({"tmpfs": ["/run:size=64m,mode=1777,noexec", "/tmp"]})
    assert service.tmpfs == ("/run:size=64m,mode=1777,noexec", "/tmp")
    run, tmp = service.tmpfs_mounts
    assert (run.type, run.target, run.tmpfs) == (
        "tmpfs",
        "/run",
        TmpfsOptions(size=64 * 1024**2, mode=0o1777),
    )
    assert (tmp.target, tmp.tmpfs) == ("/tmp", TmpfsOptions())
