"""Network parts of a service: published ports, network attachments, links, extra hosts."""

import ipaddress
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import field_validator, model_validator
from pydantic_core import PydanticCustomError

from stackr import naming
from stackr.config.models_base import (
    ListIn,
    Model,
    SubPath,
    each_item,
    fail,
    problems_error,
    scalar_text,
    show,
    string_list,
    text_list,
    under,
)

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
            try:
                if isinstance(published, int) and not isinstance(published, bool):
                    first = last = parse_port_number(published, "host port")
                else:
                    first, last = parse_port_range(scalar_text(published))
            except PydanticCustomError as error:
                raise under(("published",), error) from None
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


class ServiceNetwork(Model):
    """The service's attachment to one network."""

    aliases: tuple[str, ...] = ()
    ipv4_address: str | None = None
    mac_address: str | None = None
    priority: int = 0
    gw_priority: int = 0

    @field_validator("aliases", mode="before", json_schema_input_type=ListIn | None)
    @classmethod
    def _aliases(cls, value: Any) -> Any:
        return text_list(value)

    @field_validator("mac_address")
    @classmethod
    def _mac(cls, value: str | None) -> str | None:
        return check_mac_address(value) if value is not None else None

    @field_validator("ipv4_address", mode="before")
    @classmethod
    def _ipv4(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                ipaddress.IPv4Address(value)
            except ValueError:
                fail(f"{show(value)} is not an IPv4 address")
        return value


def check_mac_address(value: str) -> str:
    """An Ethernet address a container's interface can have (lower case)."""
    if not naming.is_unicast_mac(value):
        fail(f"{show(value)} is not a unicast MAC address (six hex pairs, the first "
             "even: 02:42:ac:11:00:02)")
    return value.lower()


def parse_service_networks(value: Any) -> Any:
    if value is None:
        return {}
    if isinstance(value, list | tuple):
        return {name: ServiceNetwork() for name in text_list(value)}
    if isinstance(value, Mapping):
        return {str(k): ServiceNetwork() if v is None else v for k, v in value.items()}
    fail(f"{show(value)} is not a list of networks or a mapping")


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


HOST_GATEWAY = "host-gateway"  # Docker's stand-in for the host's address on the network


def check_host_ip(text: str, what: str) -> str:
    return text if text == HOST_GATEWAY else check_ip(text, what)


def parse_extra_hosts(value: Any) -> dict[str, tuple[str, ...]]:
    """``["db:10.0.0.2", "db=10.0.0.3"]`` or ``{db: [10.0.0.2]}`` → ``{"db": (ips…)}``;
    ``host-gateway`` is kept as is (the engine puts the host's address there)."""
    hosts: dict[str, tuple[str, ...]] = {}
    if value is None:
        return hosts
    if isinstance(value, Mapping):
        problems: list[tuple[SubPath, str]] = []
        for name, ips in value.items():
            try:
                addresses = tuple(ip.strip("[]") for ip in string_list(ips))
                for ip in addresses:
                    check_host_ip(ip, "an IP address")
            except PydanticCustomError as error:
                assert error.context is not None
                problems.extend(((str(name), *sub), m) for sub, m in error.context["problems"])
                continue
            hosts[str(name)] = hosts.get(str(name), ()) + addresses
        if problems:
            raise problems_error(problems)
        return hosts

    def parse(item: Any, index: int) -> tuple[str, str]:
        text = scalar_text(item)
        name, found, ip = text.partition("=")
        if not found:
            name, found, ip = text.partition(":")
        if not found or not name:
            fail(f"{show(text)} is not a host entry (HOSTNAME:IP or HOSTNAME=IP)")
        ip = ip.strip("[]")
        check_host_ip(ip, f"an IP address (in {show(text)})")
        return name, ip

    for name, ip in each_item(value, parse):
        hosts[name] = (*hosts.get(name, ()), ip)
    return hosts
