"""Models of the parts of a service: ports, volumes, dependencies, healthcheck, build, …

Each model's ``mode="before"`` validators accept every syntax Compose accepts and store
the long form. Messages name the value and the expected syntax.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from stackr.config.models_base import (
    ByteSizeIn,
    DurationIn,
    ListIn,
    ListOrDictIn,
    Model,
    ScalarIn,
    StringOrListIn,
    command_list,
    each_item,
    fail,
    key_value_mapping,
    resolve_path,
    scalar_text,
    show,
    string_list,
    text_list,
    text_mapping,
)
from stackr.config.units import parse_byte_size, parse_duration

# -- ports ----------------------------------------------------------------------------------

PORT_SYNTAX = "[HOST_IP:][HOST:]CONTAINER[/PROTOCOL]"
SUPPORTED_PROTOCOLS = ("tcp", "udp")


def parse_port_number(value: Any, what: str = "port") -> int:
    try:
        number = int(str(value).strip()) if not isinstance(value, bool) else -1
    except ValueError:
        number = -1
    if not 1 <= number <= 65535:
        fail(f"{show(value)} is not a {what} (1-65535)")
    return number


def parse_port_range(text: str) -> tuple[int, int]:
    start, dash, end = text.partition("-")
    first = parse_port_number(start)
    last = parse_port_number(end) if dash else first
    if last < first:
        fail(f"{show(text)} is not a port range (START-END)")
    return first, last


def check_ip(text: str, what: str = "an IP address") -> str:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        fail(f"{show(text)} is not {what}")
    return text


class PortMapping(Model):
    """One container port, published on the host or not (long syntax)."""

    target: int
    published: int | None = None  # None: not published (or a free port if host_ip is set)
    published_end: int | None = None  # "8000-8010:80": any free host port of the range
    host_ip: str | None = None
    protocol: Literal["tcp", "udp"] = "tcp"
    app_protocol: str | None = None
    mode: Literal["ingress", "host"] = "ingress"
    name: str | None = None

    @field_validator("target", mode="before", json_schema_input_type=int | str)
    @classmethod
    def _target(cls, value: Any) -> int:
        return parse_port_number(value, "container port")

    @field_validator("published", mode="before", json_schema_input_type=int | str | None)
    @classmethod
    def _published(cls, value: Any) -> Any:
        return value  # "8000-8010" is split by _published_range (it sets two fields)

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.lower()
            if value == "sctp":
                fail('protocol "sctp" is not supported by stackr yet')
        return value

    @field_validator("host_ip", mode="before")
    @classmethod
    def _host_ip(cls, value: Any) -> Any:
        if isinstance(value, str):
            return check_ip(value.strip("[]"), "an IP address (host_ip)")
        return value

    @model_validator(mode="before")
    @classmethod
    def _published_range(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "published" in data and "published_end" not in data:
            published = data["published"]
            if published is None or published == "":
                return {k: v for k, v in data.items() if k != "published"}
            first, last = parse_port_range(scalar_text(published, ("published",)))
            return {**data, "published": first, "published_end": last if last != first else None}
        return data


def parse_ports(value: Any) -> list[PortMapping]:
    """Every entry of ``ports``, short ones expanded: ``8000-8001:80-81`` gives two."""

    def parse(item: Any, index: int) -> list[PortMapping]:
        if isinstance(item, Mapping):
            return [PortMapping.model_validate(item)]
        if isinstance(item, bool) or not isinstance(item, str | int):
            fail(f"{show(item)} is not a port mapping ({PORT_SYNTAX})")
        return parse_short_port(str(item))

    return each_item(value, parse)


def parse_short_port(text: str) -> list[PortMapping]:
    bad = f"{show(text)} is not a port mapping ({PORT_SYNTAX})"
    spec, slash, protocol = text.strip().partition("/")
    if slash and protocol.lower() not in (*SUPPORTED_PROTOCOLS, "sctp"):
        fail(bad)
    host_ip: str | None = None
    if spec.startswith("["):  # [::1]:8080:80
        closing = spec.find("]")
        if closing < 0 or spec[closing + 1 : closing + 2] != ":":
            fail(bad)
        host_ip, spec = spec[1:closing], spec[closing + 2 :]
        parts = ["", *spec.split(":")] if spec.count(":") == 1 else ["", "", *spec.split(":")]
        parts[0] = host_ip
    else:
        parts = spec.split(":")
    if len(parts) == 1:
        host, container = "", parts[0]
    elif len(parts) == 2:
        host, container = parts
    elif len(parts) == 3:
        host_ip, host, container = parts
    else:
        fail(bad)
    try:
        first, last = parse_port_range(container)
        host_first, host_last = parse_port_range(host) if host else (None, None)
    except Exception:
        fail(bad)
    if host_ip is not None:
        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            fail(bad)
    count = last - first + 1
    common: dict[str, Any] = {"protocol": protocol.lower() if slash else "tcp"}
    if host_ip:
        common["host_ip"] = host_ip
    if host_first is None or host_last is None:
        return [
            PortMapping.model_validate({"target": port, **common})
            for port in range(first, last + 1)
        ]
    host_count = host_last - host_first + 1
    if count == 1:
        published: dict[str, Any] = {"published": host_first}
        if host_count > 1:
            published["published_end"] = host_last
        return [PortMapping.model_validate({"target": first, **published, **common})]
    if host_count != count:
        fail(f"{show(text)}: the host and container port ranges differ in length")
    return [
        PortMapping.model_validate({"target": first + i, "published": host_first + i, **common})
        for i in range(count)
    ]


# -- volumes --------------------------------------------------------------------------------

VOLUME_SYNTAX = "[SOURCE:]TARGET[:MODE]"
_PROPAGATIONS = ("shared", "rshared", "slave", "rslave", "private", "rprivate")


class BindOptions(Model):
    create_host_path: bool = False
    propagation: Literal["shared", "rshared", "slave", "rslave", "private", "rprivate"] | None = (
        None
    )
    selinux: Literal["z", "Z"] | None = None


class VolumeOptions(Model):
    nocopy: bool = False
    subpath: str | None = None


class TmpfsOptions(Model):
    size: int | None = None  # bytes
    mode: int | None = None  # permission bits

    @field_validator("size", mode="before", json_schema_input_type=ByteSizeIn | None)
    @classmethod
    def _size(cls, value: Any) -> Any:
        return None if value is None else byte_size(value)

    @field_validator("mode", mode="before", json_schema_input_type=int | str | None)
    @classmethod
    def _mode(cls, value: Any) -> Any:
        return file_mode(value)


class ServiceVolume(Model):
    """A mount of the service: ``bind`` (host path), ``volume`` (named/anonymous), ``tmpfs``."""

    type: Literal["bind", "volume", "tmpfs"]
    source: str | None = None  # bind: absolute host path; volume: name (None: anonymous)
    target: str
    read_only: bool = False
    consistency: str | None = None
    bind: BindOptions | None = None
    volume: VolumeOptions | None = None
    tmpfs: TmpfsOptions | None = None

    @model_validator(mode="before")
    @classmethod
    def _long(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, Mapping):
            return data
        kind = data.get("type")
        if kind in ("npipe", "cluster", "image"):
            fail(f'volume type "{kind}" is not supported by stackr yet', ("type",))
        source = data.get("source")
        if kind == "bind":
            if not source:
                fail('a "bind" mount needs a "source"')
            if isinstance(source, str):
                data = {**data, "source": resolve_path(source, info)}
        if kind == "tmpfs" and source:
            fail('a "tmpfs" mount has no "source"', ("source",))
        return data

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        if not value.startswith("/"):
            fail(f"{show(value)} is not an absolute path in the container")
        return value


def looks_like_path(text: str) -> bool:
    return text.startswith((".", "/", "~", "$"))


def parse_short_volume(text: str, info: ValidationInfo) -> ServiceVolume:
    bad = f"{show(text)} is not a volume ({VOLUME_SYNTAX})"
    parts = text.split(":")
    if len(parts) == 1:
        source, target, modes = "", parts[0], ""
    elif len(parts) == 2:
        source, target, modes = parts[0], parts[1], ""
        if not target.startswith("/") and source.startswith("/"):
            fail(bad)
    elif len(parts) == 3:
        source, target, modes = parts
    else:
        fail(bad)
    if not target.startswith("/"):
        fail(bad)
    read_only = False
    bind: dict[str, Any] = {}
    volume: dict[str, Any] = {}
    for mode in filter(None, modes.split(",")):
        if mode in ("ro", "rw"):
            read_only = mode == "ro"
        elif mode in ("z", "Z"):
            bind["selinux"] = mode
        elif mode in _PROPAGATIONS:
            bind["propagation"] = mode
        elif mode == "nocopy":
            volume["nocopy"] = True
        elif mode in ("consistent", "cached", "delegated"):
            pass  # macOS-only hints, meaningless on Linux (Compose ignores them too)
        else:
            fail(f"{show(text)}: unknown volume mode {show(mode)} (ro, rw, z, Z, nocopy, …)")
    if not source:
        return ServiceVolume(type="volume", target=target, read_only=read_only)
    if looks_like_path(source):
        return ServiceVolume.model_validate(
            {
                "type": "bind",
                "source": source,
                "target": target,
                "read_only": read_only,
                "bind": {"create_host_path": True, **bind},
            },
            context=info.context,
        )
    if bind:
        fail(f"{show(text)}: z, Z and propagation modes apply to bind mounts only")
    return ServiceVolume.model_validate(
        {
            "type": "volume",
            "source": source,
            "target": target,
            "read_only": read_only,
            **({"volume": volume} if volume else {}),
        }
    )


def parse_volumes(value: Any, info: ValidationInfo) -> list[ServiceVolume]:
    def parse(item: Any, index: int) -> ServiceVolume:
        if isinstance(item, Mapping):
            return ServiceVolume.model_validate(item, context=info.context)
        if not isinstance(item, str):
            fail(f"{show(item)} is not a volume ({VOLUME_SYNTAX})")
        return parse_short_volume(item, info)

    return each_item(value, parse)


# -- small parts ----------------------------------------------------------------------------


def byte_size(value: Any) -> int:
    try:
        return parse_byte_size(value)
    except ValueError:
        fail(f"{show(value)} is not a byte size (e.g. 512m, 1g)")


def duration(value: Any) -> float:
    try:
        return parse_duration(value)
    except ValueError:
        fail(f"{show(value)} is not a duration (e.g. 30s, 1m30s, 500ms)")


def file_mode(value: Any) -> int | None:
    """``0440`` (octal text) or a number: Compose reads mode strings as octal."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value, 8)
        except ValueError:
            pass
    fail(f"{show(value)} is not a file mode (e.g. 0440)")


class DependsOn(Model):
    condition: Literal["service_started", "service_healthy", "service_completed_successfully"] = (
        "service_started"
    )
    required: bool = True
    restart: bool = False


def parse_depends_on(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, list | tuple):
        names = text_list(value)
        return {name: DependsOn() for name in names}
    if isinstance(value, Mapping):
        return {str(k): ({} if v is None else v) for k, v in value.items()}
    fail(f"{show(value)} is not a list of services or a mapping")


HEALTHCHECK_KINDS = ("NONE", "CMD", "CMD-SHELL")


class Healthcheck(Model):
    """``test`` is ``("CMD", …)``, ``("CMD-SHELL", command)`` or ``("NONE",)`` (disabled)."""

    test: tuple[str, ...] | None = None  # None: the image's healthcheck
    interval: float | None = None  # seconds
    timeout: float | None = None
    retries: int | None = Field(default=None, ge=0)
    start_period: float | None = None
    start_interval: float | None = None
    disable: bool = False

    @field_validator("test", mode="before", json_schema_input_type=StringOrListIn | None)
    @classmethod
    def _test(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            return ("CMD-SHELL", value)
        words = text_list(value)
        if not words or words[0] not in HEALTHCHECK_KINDS:
            fail(
                f"{show(value)} is not a healthcheck test (a string, or a list starting with "
                "CMD, CMD-SHELL or NONE)"
            )
        if words[0] == "CMD-SHELL" and len(words) != 2:
            fail("CMD-SHELL takes exactly one command string")
        return words

    @field_validator(
        "interval",
        "timeout",
        "start_period",
        "start_interval",
        mode="before",
        json_schema_input_type=DurationIn | None,
    )
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else duration(value)

    @model_validator(mode="before")
    @classmethod
    def _disabled(cls, data: Any) -> Any:
        # `disable: true` and `test: [NONE]` mean the same; store both spellings.
        if isinstance(data, Mapping):
            if data.get("disable") in (True, "true"):
                return {**data, "test": ["NONE"], "disable": True}
            if data.get("test") in (["NONE"], ("NONE",)):
                return {**data, "disable": True}
        return data


RESTART_SYNTAX = "no, always, on-failure[:N], unless-stopped"


class Restart(Model):
    """``restart:``: ``on-failure:3`` is ``Restart(condition="on-failure", max_retries=3)``."""

    condition: Literal["no", "always", "on-failure", "unless-stopped"] = "no"
    max_retries: int | None = None


def parse_restart(value: Any) -> Any:
    if value is None or isinstance(value, Mapping | Restart):
        return value
    if value is False:
        return Restart(condition="no")  # YAML 1.1 `no` read as false
    text = scalar_text(value)
    name, colon, count = text.partition(":")
    if name in ("no", "always", "unless-stopped") and not colon:
        return Restart.model_validate({"condition": name})
    if name == "on-failure":
        if not colon:
            return Restart(condition="on-failure")
        if count.isdigit():
            return Restart(condition="on-failure", max_retries=int(count))
    fail(f"{show(text)} is not one of {RESTART_SYNTAX}")


class Build(Model):
    context: str = "."  # absolute path, or a URL (git, https)
    dockerfile: str | None = None  # relative to the context
    dockerfile_inline: str | None = None
    args: dict[str, str | None] = Field(default_factory=dict)
    target: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, str):
            data = {"context": data}
        if isinstance(data, Mapping):
            context = data.get("context", ".")
            if isinstance(context, str) and not is_url(context):
                data = {**data, "context": resolve_path(context, info)}
            if data.get("dockerfile") and data.get("dockerfile_inline"):
                fail('"dockerfile" and "dockerfile_inline" exclude each other')
        return data

    @field_validator("args", mode="before", json_schema_input_type=ListOrDictIn | None)
    @classmethod
    def _args(cls, value: Any) -> Any:
        return key_value_mapping(value, missing=None)

    @field_validator("labels", mode="before", json_schema_input_type=ListOrDictIn | None)
    @classmethod
    def _labels(cls, value: Any) -> Any:
        return text_mapping(value)


def is_url(text: str) -> bool:
    return "://" in text or text.startswith(("git@", "github.com/"))


class ServiceNetwork(Model):
    """The service's attachment to one network."""

    aliases: tuple[str, ...] = ()
    ipv4_address: str | None = None
    priority: int = 0
    gw_priority: int = 0

    @field_validator("aliases", mode="before", json_schema_input_type=ListIn | None)
    @classmethod
    def _aliases(cls, value: Any) -> Any:
        return text_list(value)

    @field_validator("ipv4_address", mode="before")
    @classmethod
    def _ipv4(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                ipaddress.IPv4Address(value)
            except ValueError:
                fail(f"{show(value)} is not an IPv4 address")
        return value


def parse_service_networks(value: Any) -> Any:
    if value is None:
        return {}
    if isinstance(value, list | tuple):
        return {name: ServiceNetwork() for name in text_list(value)}
    if isinstance(value, Mapping):
        return {str(k): ServiceNetwork() if v is None else v for k, v in value.items()}
    fail(f"{show(value)} is not a list of networks or a mapping")


class Ulimit(Model):
    soft: int
    hard: int

    @model_validator(mode="before")
    @classmethod
    def _single(cls, data: Any) -> Any:
        if isinstance(data, int | str) and not isinstance(data, bool):
            return {"soft": data, "hard": data}
        return data

    @model_validator(mode="after")
    def _order(self) -> Ulimit:
        if self.soft > self.hard and self.hard != -1:
            fail(f"soft limit {self.soft} is above the hard limit {self.hard}")
        return self


class ServiceSecret(Model):
    """A secret or config granted to the service (``source`` names the top-level entry)."""

    source: str
    target: str | None = None
    uid: str | None = None
    gid: str | None = None
    mode: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return {"source": data} if isinstance(data, str) else data

    @field_validator("mode", mode="before", json_schema_input_type=int | str | None)
    @classmethod
    def _mode(cls, value: Any) -> Any:
        return file_mode(value)


def parse_service_secrets(value: Any) -> list[ServiceSecret]:
    return each_item(value, lambda item, index: ServiceSecret.model_validate(item))


class EnvFile(Model):
    path: str  # absolute
    required: bool = True

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, str):
            data = {"path": data}
        if isinstance(data, Mapping) and isinstance(data.get("path"), str):
            data = {**data, "path": resolve_path(data["path"], info)}
        return data


def parse_env_files(value: Any, info: ValidationInfo) -> list[EnvFile]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    return each_item(value, lambda item, index: EnvFile.model_validate(item, context=info.context))


class Device(Model):
    source: str
    target: str | None = None  # None: same as source
    permissions: str = "rwm"

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        if isinstance(data, str):
            parts = data.split(":")
            if len(parts) > 3 or not parts[0]:
                fail(f"{show(data)} is not a device (HOST_PATH[:CONTAINER_PATH[:PERMISSIONS]])")
            keys = ("source", "target", "permissions")
            return dict(zip(keys, parts, strict=False))
        return data

    @field_validator("permissions")
    @classmethod
    def _permissions(cls, value: str) -> str:
        if not value or set(value) - set("rwm"):
            fail(f"{show(value)} is not a set of device permissions (r, w, m)")
        return value


class ServiceLink(Model):
    """``links: [db:database]``: reach service ``db`` as ``database`` (and depend on it)."""

    service: str
    alias: str

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        if isinstance(data, str):
            service, _, alias = data.partition(":")
            if not service or ":" in alias:
                fail(f"{show(data)} is not a link (SERVICE[:ALIAS])")
            return {"service": service, "alias": alias or service}
        return data


class VolumesFrom(Model):
    """``volumes_from: [app:ro]``: mount every volume of service ``app``."""

    service: str
    read_only: bool = False

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        if isinstance(data, str):
            parts = data.split(":")
            if parts[0] == "container":
                fail(f'{show(data)}: "container:" sources are not supported by stackr yet')
            if len(parts) > 2 or not parts[0] or parts[1:] not in ([], ["ro"], ["rw"]):
                fail(f"{show(data)} is not a volumes_from entry (SERVICE[:ro|rw])")
            return {"service": parts[0], "read_only": parts[1:] == ["ro"]}
        return data


LOCAL_LOG_DRIVERS = ("json-file", "local")


class Logging(Model):
    """Logs are always kept locally by the engine; the rotation options are honoured."""

    driver: str | None = None
    options: dict[str, str] = Field(default_factory=dict)

    @field_validator(
        "options", mode="before", json_schema_input_type=dict[str, ScalarIn | None] | None
    )
    @classmethod
    def _options(cls, value: Any) -> Any:
        if value is None:
            return {}
        options = key_value_mapping(value, missing="")
        if "max-size" in options and options["max-size"] not in (None, "-1"):
            byte_size(options["max-size"])
        if "max-file" in options:
            count = options["max-file"] or ""
            if not count.isdigit() or int(count) < 1:
                fail(f"{show(count)} is not a number of files (1 or more)", ("max-file",))
        return {k: v or "" for k, v in options.items()}

    @property
    def max_size(self) -> int | None:
        text = self.options.get("max-size")
        return None if text in (None, "", "-1") else parse_byte_size(text)

    @property
    def max_file(self) -> int | None:
        text = self.options.get("max-file")
        return int(text) if text else None


class WatchRule(Model):
    path: str  # absolute host path
    action: Literal["sync", "rebuild", "restart", "sync+restart"]
    target: str | None = None
    ignore: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    initial_sync: bool = False

    @model_validator(mode="before")
    @classmethod
    def _paths(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, Mapping):
            if data.get("action") == "sync+exec":
                fail('watch action "sync+exec" is not supported by stackr yet', ("action",))
            if isinstance(data.get("path"), str):
                data = {**data, "path": resolve_path(data["path"], info)}
            if str(data.get("action", "")).startswith("sync") and not data.get("target"):
                fail(f'watch action "{data["action"]}" needs a "target"')
        return data

    @field_validator(
        "ignore", "include", mode="before", json_schema_input_type=StringOrListIn | None
    )
    @classmethod
    def _patterns(cls, value: Any) -> Any:
        return string_list(value)


class Develop(Model):
    watch: tuple[WatchRule, ...] = ()

    @field_validator("watch", mode="before")
    @classmethod
    def _watch(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return ()
        return each_item(
            value, lambda item, index: WatchRule.model_validate(item, context=info.context)
        )


class ResourceLimits(Model):
    cpus: float | None = Field(default=None, ge=0)
    memory: int | None = None  # bytes
    pids: int | None = None

    @field_validator("memory", mode="before", json_schema_input_type=ByteSizeIn | None)
    @classmethod
    def _memory(cls, value: Any) -> Any:
        return None if value is None else byte_size(value)


class ResourceReservations(Model):
    cpus: float | None = Field(default=None, ge=0)
    memory: int | None = None

    @field_validator("memory", mode="before", json_schema_input_type=ByteSizeIn | None)
    @classmethod
    def _memory(cls, value: Any) -> Any:
        return None if value is None else byte_size(value)


class Resources(Model):
    limits: ResourceLimits = ResourceLimits()
    reservations: ResourceReservations = ResourceReservations()


class DeployRestartPolicy(Model):
    condition: Literal["none", "on-failure", "any"] = "any"
    delay: float | None = None  # seconds
    max_attempts: int | None = None
    window: float | None = None

    @field_validator("delay", "window", mode="before", json_schema_input_type=DurationIn | None)
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else duration(value)


class Deploy(Model):
    mode: Literal["replicated"] = "replicated"
    replicas: int | None = Field(default=None, ge=0)
    resources: Resources = Resources()
    restart_policy: DeployRestartPolicy | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> Any:
        if value == "global":
            fail('deploy mode "global" is not supported by stackr yet')
        return value

    @field_validator("labels", mode="before", json_schema_input_type=ListOrDictIn | None)
    @classmethod
    def _labels(cls, value: Any) -> Any:
        return text_mapping(value)


def parse_extra_hosts(value: Any) -> dict[str, tuple[str, ...]]:
    """``["db:10.0.0.2", "db=10.0.0.3"]`` or ``{db: [10.0.0.2]}`` → ``{"db": (ips…)}``."""
    hosts: dict[str, tuple[str, ...]] = {}
    if value is None:
        return hosts
    if isinstance(value, Mapping):
        for name, ips in value.items():
            for ip in string_list(ips):
                check_ip(ip.strip("[]"), f"an IP address (extra_hosts {name})")
            hosts[str(name)] = hosts.get(str(name), ()) + tuple(
                ip.strip("[]") for ip in string_list(ips)
            )
        return hosts

    def parse(item: Any, index: int) -> tuple[str, str]:
        text = scalar_text(item)
        name, found, ip = text.partition("=")
        if not found:
            name, found, ip = text.partition(":")
        if not found or not name:
            fail(f"{show(text)} is not a host entry (HOSTNAME:IP or HOSTNAME=IP)")
        ip = ip.strip("[]")
        check_ip(ip, f"an IP address (in {show(text)})")
        return name, ip

    for name, ip in each_item(value, parse):
        hosts[name] = (*hosts.get(name, ()), ip)
    return hosts


__all__ = [
    "Build",
    "DependsOn",
    "Deploy",
    "DeployRestartPolicy",
    "Develop",
    "Device",
    "EnvFile",
    "Healthcheck",
    "Logging",
    "PortMapping",
    "ResourceLimits",
    "ResourceReservations",
    "Resources",
    "Restart",
    "ServiceLink",
    "ServiceNetwork",
    "ServiceSecret",
    "ServiceVolume",
    "Ulimit",
    "VolumesFrom",
    "WatchRule",
    "command_list",
]
