"""The ``Service`` model: one entry of ``services:``, canonical (long syntax only)."""

import re
from typing import Any, Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from stackr.config.models_base import (
    HOST_PLATFORM,
    ByteSizeIn,
    DurationIn,
    ListIn,
    ListOrDictIn,
    Seconds,
    StringOrListIn,
    bytes_or_none,
    command_list,
    container_path,
    duration,
    fail,
    key_value_mapping,
    normalise_platform,
    show,
    string_list,
    text_list,
    text_mapping,
)
from stackr.config.models_mounts import (
    Device,
    EnvFile,
    ServiceSecret,
    ServiceVolume,
    VolumesFrom,
    parse_env_files,
    parse_service_secrets,
    parse_tmpfs,
    parse_tmpfs_list,
    parse_volumes,
)
from stackr.config.models_net import (
    PortMapping,
    ServiceLink,
    ServiceNetwork,
    check_mac_address,
    parse_ports,
    parse_service_networks,
)
from stackr.config.models_parts import (
    BlkioConfig,
    Build,
    DependsOn,
    Deploy,
    Develop,
    Healthcheck,
    Logging,
    ProcessSettings,
    Restart,
    ServiceHook,
    parse_depends_on,
    parse_restart,
)
from stackr.runtime.spec import DEVICE_CGROUP_RULE

CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
CPU_LIST = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")
SERVICE_REFERENCE = "service:"
CONTAINER_REFERENCE = "container:"


def _names_a_service_or_container(mode: str) -> bool:
    """``service:NAME`` (a service of the stack) or ``container:NAME`` (any container
    the engine has, by name or id): whose namespace a network/ipc/pid mode joins."""
    if mode.startswith(SERVICE_REFERENCE):
        return bool(mode[len(SERVICE_REFERENCE):])
    return mode.startswith(CONTAINER_REFERENCE) and bool(
        CONTAINER_NAME.match(mode[len(CONTAINER_REFERENCE):]))


class Service(ProcessSettings):
    """One service. Lists are tuples, mappings dicts; sizes in bytes, durations in seconds;
    host paths absolute. ``None`` means "not set" (the image's or the engine's default)."""

    # what to run
    image: str | None = None
    build: Build | None = None
    pull_policy: Literal["always", "never", "missing", "build"] | None = None
    platform: str | None = None
    command: tuple[str, ...] | None = None  # None: the image's CMD; () clears it
    entrypoint: tuple[str, ...] | None = None
    working_dir: str | None = None
    user: str | None = None
    group_add: tuple[str, ...] = ()
    environment: dict[str, str | None] = Field(default_factory=dict)  # None: "KEY" without a value
    env_file: tuple[EnvFile, ...] = ()
    init: bool | None = None
    stdin_open: bool = False
    tty: bool = False
    attach: bool = True  # false: an attached `up` does not stream its logs
    stop_signal: str | None = None
    stop_grace_period: Seconds | None = None  # seconds
    restart: Restart = Restart()
    healthcheck: Healthcheck | None = None
    depends_on: dict[str, DependsOn] = Field(default_factory=dict)
    profiles: tuple[str, ...] = ()
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    logging: Logging | None = None
    runtime: str | None = None
    develop: Develop | None = None

    # identity and name resolution
    container_name: str | None = None
    hostname: str | None = None
    domainname: str | None = None
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_opt: tuple[str, ...] = ()

    # network
    networks: dict[str, ServiceNetwork] = Field(default_factory=dict)
    network_mode: str | None = None  # "host", "none" or "service:NAME"
    ports: tuple[PortMapping, ...] = ()
    expose: tuple[str, ...] = ()
    links: tuple[ServiceLink, ...] = ()

    # storage
    volumes: tuple[ServiceVolume, ...] = ()
    volumes_from: tuple[VolumesFrom, ...] = ()
    tmpfs: tuple[str, ...] = ()  # "PATH[:OPTIONS]"
    secrets: tuple[ServiceSecret, ...] = ()
    configs: tuple[ServiceSecret, ...] = ()
    devices: tuple[Device, ...] = ()
    read_only: bool = False

    # privileges and isolation
    privileged: bool = False
    cap_add: tuple[str, ...] = ()  # upper case, without "CAP_"
    cap_drop: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    ipc: str | None = None
    pid: str | None = None
    uts: str | None = None  # "host": the host's UTS namespace (hostname)
    mac_address: str | None = None  # of the interface on its first network
    device_cgroup_rules: tuple[str, ...] = ()  # "c 188:* rmw": devices cgroup (v1) rules
    blkio_config: BlkioConfig | None = None
    # commands run in the container after it starts, and before it is stopped
    post_start: tuple[ServiceHook, ...] = ()
    pre_stop: tuple[ServiceHook, ...] = ()
    cgroup: str | None = None  # cgroup namespace: "private" (stackr's default) or "host"
    userns_mode: str | None = None  # "host" only: stackr makes no user namespaces yet
    sysctls: dict[str, str] = Field(default_factory=dict)
    oom_score_adj: int | None = Field(default=None, ge=-1000, le=1000)

    # resources
    mem_limit: int | None = None  # bytes
    mem_reservation: int | None = None
    memswap_limit: int | None = None  # bytes, -1: unlimited swap
    mem_swappiness: int | None = Field(default=None, ge=0, le=100)
    oom_kill_disable: bool | None = None
    cpus: float | None = Field(default=None, ge=0)
    cpu_shares: int | None = Field(default=None, ge=0)
    cpu_quota: int | None = Field(default=None, ge=1000)  # µs per cpu_period: the cpus ratio
    cpu_period: int | None = Field(default=None, ge=1000, le=1_000_000)  # µs, default 100 ms
    cpuset: str | None = None  # the CPUs it may run on: "0-1,3"
    pids_limit: int | None = None  # -1: unlimited
    deploy: Deploy | None = None
    scale: int | None = Field(default=None, ge=0)  # replicas; deploy.replicas wins

    # -- short → long ---------------------------------------------------------------------

    @field_validator("build", mode="before", json_schema_input_type=str | Build | None)
    @classmethod
    def _build(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        return Build.model_validate(value, context=info.context)

    @field_validator(
        "command", "entrypoint", mode="before", json_schema_input_type=StringOrListIn | None
    )
    @classmethod
    def _command(cls, value: Any) -> Any:
        return command_list(value)

    @field_validator("environment", mode="before", json_schema_input_type=ListOrDictIn | None)
    @classmethod
    def _environment(cls, value: Any) -> Any:
        return key_value_mapping(value, missing=None)

    @field_validator(
        "env_file", mode="before", json_schema_input_type=str | list[str | EnvFile] | None
    )
    @classmethod
    def _env_file(cls, value: Any, info: ValidationInfo) -> Any:
        return parse_env_files(value, info)

    @field_validator(
        "labels",
        "annotations",
        "sysctls",
        mode="before",
        json_schema_input_type=ListOrDictIn | None,
    )
    @classmethod
    def _text_mapping(cls, value: Any) -> Any:
        return text_mapping(value)

    @field_validator(
        "group_add",
        "profiles",
        "dns_opt",
        "security_opt",
        "expose",
        mode="before",
        json_schema_input_type=ListIn | None,
    )
    @classmethod
    def _text_list(cls, value: Any) -> Any:
        return text_list(value)

    @field_validator(
        "dns", "dns_search", mode="before", json_schema_input_type=StringOrListIn | None
    )
    @classmethod
    def _string_list(cls, value: Any) -> Any:
        return string_list(value)

    @field_validator("tmpfs", mode="before", json_schema_input_type=StringOrListIn | None)
    @classmethod
    def _tmpfs(cls, value: Any) -> Any:
        return parse_tmpfs_list(value)

    @field_validator("cap_add", "cap_drop", mode="before", json_schema_input_type=ListIn | None)
    @classmethod
    def _capabilities(cls, value: Any) -> Any:
        names = text_list(value)
        return tuple(name.upper().removeprefix("CAP_") for name in names)

    @field_validator(
        "ports", mode="before", json_schema_input_type=list[int | str | PortMapping] | None
    )
    @classmethod
    def _ports(cls, value: Any) -> Any:
        return () if value is None else parse_ports(value)

    @field_validator(
        "volumes", mode="before", json_schema_input_type=list[str | ServiceVolume] | None
    )
    @classmethod
    def _volumes(cls, value: Any, info: ValidationInfo) -> Any:
        return () if value is None else parse_volumes(value, info)

    @field_validator(
        "depends_on", mode="before", json_schema_input_type=list[str] | dict[str, DependsOn] | None
    )
    @classmethod
    def _depends_on(cls, value: Any) -> Any:
        return parse_depends_on(value)

    @field_validator(
        "networks",
        mode="before",
        json_schema_input_type=list[str] | dict[str, ServiceNetwork | None] | None,
    )
    @classmethod
    def _networks(cls, value: Any) -> Any:
        return parse_service_networks(value)

    @field_validator("restart", mode="before", json_schema_input_type=str | None)
    @classmethod
    def _restart(cls, value: Any) -> Any:
        return Restart() if value is None else parse_restart(value)

    @field_validator(
        "secrets", "configs", mode="before", json_schema_input_type=list[str | ServiceSecret] | None
    )
    @classmethod
    def _secrets(cls, value: Any) -> Any:
        return () if value is None else parse_service_secrets(value)

    @field_validator("links", mode="before", json_schema_input_type=list[str | ServiceLink] | None)
    @classmethod
    def _links(cls, value: Any) -> Any:
        return () if value is None else value

    @field_validator(
        "volumes_from", mode="before", json_schema_input_type=list[str | VolumesFrom] | None
    )
    @classmethod
    def _volumes_from(cls, value: Any) -> Any:
        return () if value is None else value

    @field_validator("devices", mode="before", json_schema_input_type=list[str | Device] | None)
    @classmethod
    def _devices(cls, value: Any) -> Any:
        return () if value is None else value

    @field_validator(
        "mem_limit",
        "mem_reservation",
        mode="before",
        json_schema_input_type=ByteSizeIn | None,
    )
    @classmethod
    def _bytes(cls, value: Any) -> Any:
        return bytes_or_none(value)

    @field_validator("memswap_limit", mode="before", json_schema_input_type=ByteSizeIn | None)
    @classmethod
    def _swap(cls, value: Any) -> Any:
        if value in (-1, "-1"):
            return -1
        return bytes_or_none(value)

    @field_validator("stop_grace_period", mode="before", json_schema_input_type=DurationIn | None)
    @classmethod
    def _grace(cls, value: Any) -> Any:
        return None if value is None else duration(value)

    @field_validator("pull_policy", mode="before")
    @classmethod
    def _pull_policy(cls, value: Any) -> Any:
        if value == "if_not_present":
            return "missing"
        if isinstance(value, str) and (
            value in ("daily", "weekly") or value.startswith("every_") or value == "refresh"
        ):
            fail(f'pull_policy "{value}" is not supported by stackr yet')
        return value

    @field_validator("platform")
    @classmethod
    def _platform(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if normalise_platform(value) != HOST_PLATFORM:
            fail(f"{show(value)} is not this host's platform ({HOST_PLATFORM})")
        return HOST_PLATFORM

    @field_validator("runtime")
    @classmethod
    def _runtime(cls, value: str | None) -> str | None:
        if value not in (None, "runc"):
            fail(f"runtime {show(value)} is not supported by stackr (it runs containers itself)")
        return value

    @field_validator("network_mode")
    @classmethod
    def _network_mode(cls, value: str | None) -> str | None:
        if value is None or value in ("host", "none"):
            return value
        if _names_a_service_or_container(value):
            return value
        if value == "bridge":
            fail(f"network_mode {show(value)} is not supported by stackr yet (Docker's "
                 "default bridge: leave network_mode out to use the project's network)")
        fail(f"{show(value)} is not a network mode (host, none, service:NAME, container:NAME)")

    @field_validator("ipc")
    @classmethod
    def _ipc(cls, value: str | None) -> str | None:
        if value is None or value in ("private", "shareable", "host", "none"):
            return value
        if _names_a_service_or_container(value):
            return value
        fail(f"{show(value)} is not an ipc mode (private, shareable, host, none, service:NAME, "
             "container:NAME)")

    @field_validator("pid")
    @classmethod
    def _pid(cls, value: str | None) -> str | None:
        if value is None or value == "host":
            return value
        if _names_a_service_or_container(value):
            return value
        fail(f"{show(value)} is not a pid mode (host, service:NAME, container:NAME)")

    @field_validator("device_cgroup_rules")
    @classmethod
    def _device_cgroup_rules(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for index, rule in enumerate(value):
            if not DEVICE_CGROUP_RULE.match(rule):  # (the runtime's own check)
                fail(f"{show(rule)} is not a device cgroup rule (type major:minor access, "
                     "e.g. c 188:* rmw)", (index,))
        return value

    @field_validator("mac_address")
    @classmethod
    def _mac_address(cls, value: str | None) -> str | None:
        return check_mac_address(value) if value is not None else None

    @field_validator("uts")
    @classmethod
    def _uts(cls, value: str | None) -> str | None:
        if value is not None and value != "host":
            fail(f"{show(value)} is not a uts mode (host)")
        return value

    @field_validator("cgroup")
    @classmethod
    def _cgroup(cls, value: str | None) -> str | None:
        if value is not None and value not in ("host", "private"):
            fail(f"{show(value)} is not a cgroup namespace mode (host, private)")
        return value

    @field_validator("userns_mode")
    @classmethod
    def _userns_mode(cls, value: str | None) -> str | None:
        if value is not None and value != "host":
            fail(f"userns_mode {show(value)} is not supported by stackr yet (its containers "
                 "run in the host's user namespace: host)")
        return value

    @field_validator("cpuset")
    @classmethod
    def _cpuset(cls, value: str | None) -> str | None:
        if value is not None and not CPU_LIST.match(value):
            fail(f"{show(value)} is not a list of CPUs (e.g. 0-1,3)")
        return value

    @field_validator("container_name")
    @classmethod
    def _container_name(cls, value: str | None) -> str | None:
        if value is not None and not CONTAINER_NAME.match(value):
            fail(f"{show(value)} is not a container name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)")
        return value

    _working_dir = field_validator("working_dir")(container_path)

    # -- the whole service ----------------------------------------------------------------

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.image is None and self.build is None:
            fail('needs "image" or "build"')
        if self.network_mode is not None and self.networks:
            fail('"network_mode" and "networks" cannot be combined', ("network_mode",))
        if self.mac_address and self.network_mode is not None:
            # host, none, service:x, container:x: no interface of its own to give it to
            fail(f'"mac_address" needs a network of the service\'s own (network_mode is '
                 f'{show(self.network_mode)})', ("mac_address",))
        if self.uts == "host" and (self.hostname or self.domainname):
            # Setting it would set the host's (Docker refuses the two together too).
            fail('"hostname" and "domainname" cannot be combined with uts: host', ("uts",))
        return self

    # -- what later stages ask ------------------------------------------------------------

    @property
    def replicas(self) -> int:
        if self.deploy is not None and self.deploy.replicas is not None:
            return self.deploy.replicas
        if self.scale is not None:
            return self.scale
        return 1

    @property
    def memory_limit(self) -> int | None:
        """``mem_limit``, or ``deploy.resources.limits.memory``."""
        if self.mem_limit is not None:
            return self.mem_limit
        return self.deploy.resources.limits.memory if self.deploy else None

    @property
    def cpu_limit(self) -> float | None:
        if self.cpus is not None:
            return self.cpus
        return self.deploy.resources.limits.cpus if self.deploy else None

    @property
    def pids_max(self) -> int | None:
        if self.pids_limit is not None:
            return self.pids_limit
        return self.deploy.resources.limits.pids if self.deploy else None

    @property
    def tmpfs_mounts(self) -> tuple[ServiceVolume, ...]:
        """``tmpfs:`` entries as ``tmpfs`` mounts (like ``volumes`` of type tmpfs)."""
        return tuple(parse_tmpfs(entry) for entry in self.tmpfs)

    @property
    def network_mode_service(self) -> str | None:
        """``network_mode: service:db`` → ``"db"``."""
        if self.network_mode and self.network_mode.startswith(SERVICE_REFERENCE):
            return self.network_mode[len(SERVICE_REFERENCE) :]
        return None

    @property
    def effective_restart(self) -> Restart:
        """``restart``, else ``deploy.restart_policy`` translated as Compose does."""
        if self.restart.condition != "no" or self.deploy is None:
            return self.restart
        policy = self.deploy.restart_policy
        if policy is None:
            return self.restart
        if policy.condition == "any":
            return Restart(condition="always")
        if policy.condition == "on-failure":
            return Restart(condition="on-failure", max_retries=policy.max_attempts)
        return Restart(condition="no")
