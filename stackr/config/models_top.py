"""Top-level models: networks, volumes, secrets, configs, and the ``Stack`` itself."""

import ipaddress
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from stackr.config.models_base import (
    ListOrDictIn,
    Model,
    fail,
    invalid,
    problems_error,
    resolve_path,
    show,
    text_mapping,
)
from stackr.config.models_net import (
    check_ip,
)
from stackr.config.models_service import Service

RESOURCE_NAME = re.compile(r"^[a-zA-Z0-9._-]+$")
DEFAULT_NETWORK = "default"


def external_flag(data: Any) -> Any:
    """``external: {name: x}`` (the old spelling) → ``external: true, name: x``."""
    if isinstance(data, Mapping) and isinstance(data.get("external"), Mapping):
        old = data["external"]
        extra = set(old) - {"name"}
        if extra:
            fail(f'unknown key "{sorted(extra)[0]}"', ("external",))
        data = {**data, "external": True}
        if "name" in old:
            if "name" in data and data["name"] != old["name"]:
                fail('"external.name" and "name" differ', ("external",))
            data["name"] = old["name"]
    return data


def external_conflicts(data: Any, allowed: tuple[str, ...]) -> None:
    if isinstance(data, Mapping) and data.get("external") in (True, "true"):
        for key in sorted(data):
            if key not in (*allowed, "external") and not str(key).startswith("x-"):
                fail(f'"{key}" cannot be combined with "external: true"', (key,))


ExternalIn = bool | str | dict[str, str]  # `external: {name: x}`: the old spelling


class IpamPool(Model):
    subnet: str | None = None
    gateway: str | None = None
    ip_range: str | None = None
    aux_addresses: dict[str, str] = Field(default_factory=dict)

    @field_validator("subnet", "ip_range")
    @classmethod
    def _cidr(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(ipaddress.ip_network(value, strict=True))
        except ValueError:
            fail(f"{show(value)} is not a subnet in CIDR notation (e.g. 172.28.0.0/16)")

    @field_validator("gateway")
    @classmethod
    def _gateway(cls, value: str | None) -> str | None:
        return None if value is None else check_ip(value)

    @model_validator(mode="after")
    def _inside(self) -> Self:
        if self.subnet is None:
            return self
        subnet = ipaddress.ip_network(self.subnet)
        if self.gateway is not None and ipaddress.ip_address(self.gateway) not in subnet:
            fail(f"gateway {self.gateway} is outside subnet {self.subnet}", ("gateway",))
        if self.ip_range is not None and not ipaddress.ip_network(self.ip_range).subnet_of(
            subnet  # type: ignore[arg-type]
        ):
            fail(f"ip_range {self.ip_range} is outside subnet {self.subnet}", ("ip_range",))
        return self


class Ipam(Model):
    driver: Literal["default"] | None = None
    config: tuple[IpamPool, ...] = ()
    options: dict[str, str] = Field(default_factory=dict)

    @field_validator("driver", mode="before")
    @classmethod
    def _driver(cls, value: Any) -> Any:
        if isinstance(value, str) and value != "default":
            fail(f'IPAM driver "{value}" is not supported by stackr yet')
        return value


class NamedResource(Model):
    """What networks, volumes, secrets and configs share: a host-side name, ``external``
    (also in the old ``external: {name: x}`` spelling) and labels."""

    name: str | None = None  # the host-side name; None: "<project>_<key>"
    external: bool = False
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("external", mode="before", json_schema_input_type=ExternalIn)
    @classmethod
    def _external_flag(cls, value: Any) -> Any:
        return value  # the mapping form is turned into `name:` by the model validator

    @field_validator("labels", mode="before", json_schema_input_type=ListOrDictIn | None)
    @classmethod
    def _labels(cls, value: Any) -> Any:
        return text_mapping(value)


class DriverResource(NamedResource):
    """Networks and volumes: made by a driver (stackr has one of each)."""

    SUPPORTED_DRIVER: ClassVar[str]
    driver_opts: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _external(cls, data: Any) -> Any:
        data = external_flag(data)
        external_conflicts(data, ("name", "labels"))
        return data

    @field_validator("driver", mode="before", check_fields=False)
    @classmethod
    def _driver(cls, value: Any) -> Any:
        if isinstance(value, str) and value != cls.SUPPORTED_DRIVER:
            kind = cls.__name__.lower()
            fail(
                f'{kind} driver "{value}" is not supported by stackr yet '
                f"({cls.SUPPORTED_DRIVER} only)"
            )
        return value

    @field_validator("driver_opts", mode="before", json_schema_input_type=ListOrDictIn | None)
    @classmethod
    def _driver_opts(cls, value: Any) -> Any:
        return text_mapping(value)


class Network(DriverResource):
    SUPPORTED_DRIVER: ClassVar[str] = "bridge"
    driver: Literal["bridge"] | None = None
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool = False
    ipam: Ipam | None = None

    @field_validator("enable_ipv6")
    @classmethod
    def _ipv6(cls, value: bool) -> bool:
        if value:
            fail('"enable_ipv6: true" is not supported by stackr yet')
        return value


class Volume(DriverResource):
    SUPPORTED_DRIVER: ClassVar[str] = "local"
    driver: Literal["local"] | None = None


def secret_source(data: Any, info: ValidationInfo, sources: tuple[str, ...]) -> Any:
    if not isinstance(data, Mapping):
        return data
    data = external_flag(data)
    given = [key for key in sources if data.get(key) not in (None, False)]
    if len(given) != 1:
        choices = ", ".join(f'"{key}"' for key in sources)
        fail(f"needs exactly one of {choices}")
    if isinstance(data.get("file"), str):
        data = {**data, "file": resolve_path(data["file"], info)}
    return data


class Secret(NamedResource):
    file: str | None = None  # absolute host path
    environment: str | None = None  # the name of a variable of the environment

    @model_validator(mode="before")
    @classmethod
    def _source(cls, data: Any, info: ValidationInfo) -> Any:
        return secret_source(data, info, ("file", "environment", "external"))


class Config(NamedResource):
    file: str | None = None
    environment: str | None = None
    content: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _source(cls, data: Any, info: ValidationInfo) -> Any:
        return secret_source(data, info, ("file", "environment", "content", "external"))


def named_entries(value: Any, *, null_is_empty: bool) -> Any:
    """A top-level mapping: names checked, ``name:`` (null) → ``{}`` where Compose allows."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        return value
    problems = [
        ((str(key),), f"{show(key)} is not a valid name ([a-zA-Z0-9._-]+)")
        for key in value
        if not RESOURCE_NAME.match(str(key))
    ]
    if problems:
        raise problems_error(problems)
    if null_is_empty:
        return {str(k): {} if v is None else v for k, v in value.items()}
    return {str(k): v for k, v in value.items()}


class Stack(Model):
    """The whole stack file, validated and canonical."""

    name: str  # the project name
    version: str | None = None  # obsolete; accepted and ignored
    services: dict[str, Service] = Field(default_factory=dict)
    networks: dict[str, Network] = Field(default_factory=dict)
    volumes: dict[str, Volume] = Field(default_factory=dict)
    secrets: dict[str, Secret] = Field(default_factory=dict)
    configs: dict[str, Config] = Field(default_factory=dict)

    @field_validator("services", mode="before")
    @classmethod
    def _services(cls, value: Any) -> Any:
        # `web:` with nothing under it: the service's own check says what is missing.
        return named_entries(value, null_is_empty=True)

    @field_validator("networks", "volumes", "secrets", "configs", mode="before")
    @classmethod
    def _entries(cls, value: Any) -> Any:
        return named_entries(value, null_is_empty=True)

    @model_validator(mode="before")
    @classmethod
    def _default_network(cls, data: Any) -> Any:
        """As Compose: a service that names no network and has no ``network_mode`` joins
        the project's ``default`` network, which exists then even if not declared (as
        it does when a service names it among others)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("services"), Mapping):
            return data
        services = dict(data["services"])
        attached = False
        for service_name, service in services.items():
            if not isinstance(service, Mapping):
                continue
            named = service.get("networks")
            if not named and service.get("network_mode") is None:
                services[service_name] = {**service, "networks": [DEFAULT_NETWORK]}
                attached = True
            elif isinstance(named, list | Mapping) and DEFAULT_NETWORK in named:
                attached = True
        if not attached:
            return data
        networks = data.get("networks")
        if networks is None:
            networks = {}
        if isinstance(networks, Mapping) and DEFAULT_NETWORK not in networks:
            networks = {**networks, DEFAULT_NETWORK: {}}
        return {**data, "services": services, "networks": networks}

    def service_names(self) -> tuple[str, ...]:
        return tuple(sorted(self.services))


__all__ = [
    "DEFAULT_NETWORK",
    "Config",
    "Ipam",
    "IpamPool",
    "Network",
    "Secret",
    "Stack",
    "Volume",
    "invalid",
]
