"""Networks: the engine's side of ``stackr.network`` (bridges, sandboxes, DNS, ports).

A network is a bridge made by ``stackr.network.bridge``; the engine adds a record with
its labels (``io.stackr.project``, ``io.stackr.network``) and serves DNS on its gateway.
A container on networks gets a sandbox (a netns file) before its first start, one
attachment per network (aliases become DNS names), its published ports, and
``/etc/resolv.conf`` and ``/etc/hosts`` files written by the engine and bind-mounted
by the runtime. The sandbox outlives restarts of the container (its address is kept);
``remove`` takes it all down. pyroute2 is imported only when a network is used.
"""

from __future__ import annotations

import builtins
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from stackr import naming
from stackr.engine.events import EventBus
from stackr.engine.records import RecordStore, is_valid_name
from stackr.engine.routing import ApiError, bad_request, conflict, not_found
from stackr.engine.volumes import labels_match
from stackr.errors import StackrError, UsageError
from stackr.paths import run_root

JsonObject = dict[str, Any]
NON_NETWORK_MODES = ("none", "host")


def network_names(host_config: JsonObject, networking: JsonObject | None) -> list[str]:
    """The networks a container config asks for (NetworkMode + EndpointsConfig)."""
    mode = host_config.get("NetworkMode") or "none"
    names = (
        [] if mode in NON_NETWORK_MODES or mode.startswith(("ns:", "container:")) else [mode]
    )
    endpoints = (networking or {}).get("EndpointsConfig") or {}
    for name in sorted(endpoints):
        if name not in names:
            names.append(name)
    return names


def check_networking(body: JsonObject) -> None:
    networking = body.get("NetworkingConfig")
    if networking is None:
        return
    if not isinstance(networking, dict) or set(networking) - {"EndpointsConfig"}:
        raise bad_request("NetworkingConfig must be {\"EndpointsConfig\": {...}}")
    endpoints = networking.get("EndpointsConfig") or {}
    if not isinstance(endpoints, dict):
        raise bad_request("NetworkingConfig.EndpointsConfig must be an object")
    for name, endpoint in endpoints.items():
        if not is_valid_name(name):
            raise bad_request(f"NetworkingConfig: invalid network name {name!r}")
        if endpoint is None:
            continue
        if not isinstance(endpoint, dict) or set(endpoint) - {"Aliases", "IPAMConfig",
                                                               "MacAddress"}:
            raise bad_request(f"NetworkingConfig.EndpointsConfig.{name}: only Aliases, "
                              "IPAMConfig and MacAddress are supported")
        mac_address = endpoint.get("MacAddress")
        if mac_address is not None and not (
                isinstance(mac_address, str) and naming.is_unicast_mac(mac_address)):
            raise bad_request(f"EndpointsConfig.{name}.MacAddress {mac_address!r} is not a "
                              "unicast MAC address")
        aliases = endpoint.get("Aliases") or []
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise bad_request(f"EndpointsConfig.{name}.Aliases must be a list of strings")
        ipam = endpoint.get("IPAMConfig") or {}
        if not isinstance(ipam, dict) or set(ipam) - {"IPv4Address"}:
            raise bad_request(f"EndpointsConfig.{name}.IPAMConfig: only IPv4Address")


def port_specs(host_config: JsonObject) -> list[Any]:
    """``HostConfig.PortBindings`` (``{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}``)."""
    bindings = host_config.get("PortBindings") or {}
    if not isinstance(bindings, dict):
        raise bad_request("HostConfig.PortBindings must be an object")
    if not bindings:  # not the network package (firewall, subprocess...) for nothing
        return []
    from stackr.network.ports import PortSpec

    specs = []
    for key, targets in sorted(bindings.items()):
        port_text, _, protocol = str(key).partition("/")
        protocol = protocol or "tcp"
        if not port_text.isdigit() or protocol not in ("tcp", "udp"):
            raise bad_request(f"HostConfig.PortBindings: {key!r} is not PORT[/tcp|udp]")
        for target in targets or [{}]:
            if not isinstance(target, dict):
                raise bad_request(f"HostConfig.PortBindings.{key} items must be objects")
            host_port = str(target.get("HostPort") or "")
            first, _, last = host_port.partition("-")  # "8000-8010": the first free one
            if host_port and not (first.isdigit() and (not last or last.isdigit())):
                raise bad_request(f"HostConfig.PortBindings.{key}: HostPort {host_port!r}")
            specs.append(PortSpec(
                container_port=int(port_text), protocol=protocol,
                host_ip=target.get("HostIp") or "0.0.0.0",
                host_port=int(first) if first else None,
                host_port_end=int(last) if last else None,
            ))
    return specs


@dataclass(frozen=True)
class Wiring:
    """What the runtime needs of a networked container."""

    netns_path: str
    resolv_conf_file: str
    hosts_file: str
    addresses: dict[str, str]  # network name -> IPv4 address
    ports: list[JsonObject]


# Names of dying veths the engine remembers before it looks which are gone.
DYING_KEPT = 64


class NetworkManager:
    def __init__(self, events: EventBus,
                 while_stopped: Callable[[str, Callable[[], None] | None], bool] | None = None
                 ) -> None:
        self.events = events
        # Runs an action under a container's lock if it is not running (see remove).
        self.while_stopped = while_stopped or (lambda container_id, action: False)
        self.records = RecordStore("networks")
        self._resolver: Any = None
        self._lock = threading.RLock()
        self._dying: set[str] = set()  # host ends of veths going with released sandboxes
        # A network's removal and the starts wiring containers to it exclude each other:
        # the removal waits for the starts under way, and later ones find it gone.
        self._removing: set[str] = set()
        self._connecting: dict[str, int] = {}  # network -> starts wiring to it now
        self._connections_done = threading.Condition(self._lock)

    def resolver(self) -> Any:
        with self._lock:
            if self._resolver is None:
                from stackr.network.dns import Resolver

                self._resolver = Resolver()
            return self._resolver

    def start(self) -> None:
        """Engine start: re-make recorded bridges, serve their DNS, re-register names."""
        if not self.records.ids():
            return
        from stackr.network import recovery

        recovery.restore(self.resolver())

    def close(self) -> None:
        with self._lock:
            if self._resolver is not None:
                self._resolver.close()
                self._resolver = None
            dying, self._dying = sorted(self._dying), set()
        if dying:
            from stackr.network.netlink import host_netlink, settle_links

            settle_links(host_netlink(), dying)

    # -- the noun -------------------------------------------------------------------

    def _view(self, name: str, record: JsonObject, state: Any, *, attached: bool = True
              ) -> JsonObject:
        """``attached``: with ``Containers`` (inspect); a list leaves it empty, as
        Docker's does (API 1.28 and up), and reads no attachment record."""
        from stackr.network import attach

        containers = {
            a.container_id: {"IPv4Address": f"{a.ipv4_address}/{a.prefixlen}",
                             "Aliases": list(a.names)}
            for a in attach.list_attachments() if a.network_id == name
        } if attached else {}
        return {
            "Name": name, "Id": name, "Driver": "bridge", "Scope": "local",
            "Created": record.get("Created", ""), "Internal": state.internal,
            "Labels": record.get("Labels", {}),
            "IPAM": {"Driver": "default",
                     "Config": [{"Subnet": state.subnet, "Gateway": state.gateway}]},
            "Options": {"com.docker.network.bridge.name": state.bridge_ifname},
            "Containers": containers,
        }

    def create(self, body: JsonObject) -> JsonObject:
        from stackr.engine.containers import now_text
        from stackr.network import bridge
        from stackr.network.ipam import SubnetRequest

        unknown = set(body) - {"Name", "Driver", "Internal", "Labels", "IPAM", "CheckDuplicate",
                               "Attachable", "EnableIPv6", "Options"}
        if unknown:
            raise bad_request(f"unknown field(s) in network create: {', '.join(sorted(unknown))}")
        name = body.get("Name")
        if not isinstance(name, str) or not is_valid_name(name):
            raise bad_request(f"invalid network name {name!r}")
        if (body.get("Driver") or "bridge") != "bridge":
            raise bad_request(f"network {name}: only the bridge driver is supported")
        if body.get("EnableIPv6") or body.get("Options"):
            raise bad_request(f"network {name}: IPv6 and driver options are not supported yet")
        labels = body.get("Labels") or {}
        if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise bad_request("Labels must be an object of strings")
        configs = ((body.get("IPAM") or {}).get("Config") or [{}]) if isinstance(
            body.get("IPAM"), dict | None) else None
        if not isinstance(configs, list) or len(configs) > 1 or not isinstance(configs[0], dict):
            raise bad_request(f"network {name}: IPAM.Config takes one subnet entry")
        subnet = configs[0]
        with self._lock:
            if self.records.get(name) is not None:
                raise conflict(f"network {name} already exists")
            self.records.put(name, {"Created": now_text(), "Labels": labels})
            try:
                state = bridge.ensure_network(bridge.NetworkSpec(
                    network_id=name, name=name, internal=bool(body.get("Internal")),
                    ipam=SubnetRequest(subnet=subnet.get("Subnet"),
                                       gateway=subnet.get("Gateway"),
                                       ip_range=subnet.get("IPRange")),
                ))
                self.resolver().serve_network(name, state.gateway, state.internal)
            except StackrError as error:
                self.records.delete(name)
                raise ApiError(400 if isinstance(error, UsageError) else 500,
                               f"network {name}: {error}") from None
        self.events.publish("network", "create", name, {"name": name, **labels})
        return {"Id": name, "Warning": ""}

    def _state(self, name: str) -> tuple[JsonObject, Any]:
        from stackr.network import bridge

        if not is_valid_name(name):
            raise not_found(f"no such network: {name!r}")
        record = self.records.get(name)
        state = bridge.load_network(name) if record is not None else None
        if record is None or state is None:
            raise not_found(f"no such network: {name}")
        return record, state

    def inspect(self, name: str) -> JsonObject:
        record, state = self._state(name)
        return self._view(name, record, state)

    def require(self, name: str) -> None:
        """404 unless the network exists (not ``inspect``, whose view reads every
        attachment record: each create of a stack asked, its cost growing with it)."""
        self._state(name)

    def list(self, filters: dict[str, list[str]]) -> list[JsonObject]:
        unknown = set(filters) - {"name", "label", "id"}
        if unknown:
            raise bad_request(f"unknown network filter(s): {', '.join(sorted(unknown))}")
        views = []
        for name, record in self.records.items():
            if "label" in filters and not labels_match(record.get("Labels", {}),
                                                       filters["label"]):
                continue
            wanted = filters.get("name", []) + filters.get("id", [])
            if wanted and not any(w in name for w in wanted):
                continue
            try:
                _, state = self._state(name)
            except ApiError:
                continue  # its bridge record vanished
            views.append(self._view(name, record, state, attached=False))
        return views

    def remove(self, name: str) -> None:
        """Remove the network; refused while a running container is on it.

        A stopped container lets go of its attachment (its address, its name in DNS,
        its published ports; a created one its preparation), as in Docker, where a
        stopped container has no endpoint: starting it again then fails, its network
        being gone. So ``down`` removes a network once its containers have stopped,
        beside their removals. Starts wiring a container to the network finish first;
        those that come meanwhile find it gone.
        """
        from stackr.network import bridge

        self._state(name)
        with self._lock:
            if name in self._removing:
                raise conflict(f"network {name} is being removed")
            self._removing.add(name)
            self._connections_done.wait_for(lambda: not self._connecting.get(name))
        try:
            attached = bridge.attached_containers(name)
            # All asked before any lets go: a refusal changes nothing.
            for container_id in attached:
                if not self.while_stopped(container_id, None):
                    raise conflict(f"network {name}: container {container_id} is running on it")
            for container_id in attached:
                if not self.while_stopped(container_id, partial(self._let_go, container_id, name)):
                    raise conflict(f"network {name}: container {container_id} is running on it")
            with self._lock:
                try:
                    bridge.remove_network(name)
                except bridge.NetworkInUseError as error:
                    raise conflict(f"network {name}: {error}") from None
                if self._resolver is not None:
                    self._resolver.stop_network(name)
                self.records.delete(name)
        finally:
            with self._lock:
                self._removing.discard(name)
        self.events.publish("network", "destroy", name, {"name": name})

    def _let_go(self, container_id: str, name: str) -> None:
        """A stopped container's attachment to a network being removed: its veth stays,
        a port of the bridge that goes with it."""
        from stackr.network import attach, ports

        if self._resolver is not None:
            self._resolver.unregister(container_id, name)
        ports.unpublish(container_id)  # it cannot start again without the network
        attach.detach(container_id, name, keep_link=True)

    # -- containers on networks -----------------------------------------------------

    def connect(self, container_id: str, container_name: str, hostname: str,
                names: builtins.list[str], endpoints: JsonObject, host_config: JsonObject
                ) -> Wiring:
        """Sandbox + attachments + DNS names + ports for a container start (idempotent)."""
        wanted = network_names(host_config, {"EndpointsConfig": endpoints})
        with self._lock:
            gone = [name for name in wanted if name in self._removing]
            if gone:
                raise not_found(f"no such network: {gone[0]} (being removed)")
            for name in wanted:
                self._connecting[name] = self._connecting.get(name, 0) + 1
        try:
            return self._connect(container_id, container_name, hostname, names, endpoints,
                                 host_config, wanted)
        finally:
            with self._lock:
                for name in wanted:
                    self._connecting[name] -= 1
                    if not self._connecting[name]:
                        del self._connecting[name]
                self._connections_done.notify_all()

    def _connect(self, container_id: str, container_name: str, hostname: str,
                 names: builtins.list[str], endpoints: JsonObject, host_config: JsonObject,
                 wanted: builtins.list[str]) -> Wiring:
        from stackr.network import attach, etcfiles, ports

        states = []
        for name in wanted:
            _, state = self._state(name)
            states.append(state)
        try:
            sandbox = attach.create_sandbox(container_id)
            addresses: dict[str, str] = {}
            for state in states:
                endpoint = endpoints.get(state.network_id) or {}
                dns_names = [*(endpoint.get("Aliases") or []), *names]
                attachment = attach.attach(
                    container_id, sandbox, state,
                    ipv4_address=(endpoint.get("IPAMConfig") or {}).get("IPv4Address"),
                    names=dns_names, owner=container_name,
                    mac_address=endpoint.get("MacAddress"),
                )
                addresses[state.network_id] = attachment.ipv4_address
                self.resolver().register(container_id, state.network_id,
                                         attachment.ipv4_address, dns_names,
                                         upstreams=host_config.get("Dns") or ())
            published: builtins.list[JsonObject] = []
            specs = port_specs(host_config)
            if specs and states:
                ports.unpublish(container_id)
                first_address = addresses[states[0].network_id]
                published = [p.to_json() for p in ports.publish(container_id, specs,
                                                                 first_address)]
        except (ApiError, StackrError) as error:
            # Nothing half-made stays: the sandbox, attachments and ports go again.
            with contextlib.suppress(Exception):
                self.disconnect(container_id)
            if isinstance(error, ApiError):
                raise
            raise ApiError(409 if "InUse" in type(error).__name__ else 500,
                           f"container {container_name}: networking: {error}") from None
        directory = run_root() / "engine" / "etc" / container_id
        directory.mkdir(parents=True, exist_ok=True)
        resolv = directory / "resolv.conf"
        hosts = directory / "hosts"
        resolv.write_text(etcfiles.render_resolv_conf(
            [states[0].gateway] if states else [],
            search=host_config.get("DnsSearch") or (),
            options=host_config.get("DnsOptions") or (),
        ))
        try:
            extra_hosts = [etcfiles.parse_extra_host(entry)
                           for entry in host_config.get("ExtraHosts") or ()]
            hosts.write_text(etcfiles.render_hosts(
                hostname, list(addresses.values())[:1], extra_hosts,
                gateway=states[0].gateway if states else None,
            ))
        except ValueError as error:
            raise ApiError(400, f"container {container_name}: ExtraHosts: {error}") from None
        return Wiring(str(sandbox), str(resolv), str(hosts), addresses, published)

    def disconnect(self, container_id: str) -> None:
        from stackr.network import attach, ports

        ports.unpublish(container_id)
        for attachment in attach.list_attachments(container_id):
            if self._resolver is not None:
                self._resolver.unregister(container_id, attachment.network_id)
        # The veths go with the namespace in the kernel's own time: the network's
        # removal deletes those still on its bridge (see attach.release_sandbox), the
        # engine's stop waits for the rest.
        dying = attach.release_sandbox(container_id)
        with self._lock:
            if len(self._dying) > DYING_KEPT:  # forget those long gone
                from stackr.network.netlink import host_netlink

                self._dying = {name for name in self._dying if host_netlink().link_exists(name)}
            self._dying.update(dying)
        import shutil

        shutil.rmtree(run_root() / "engine" / "etc" / container_id, ignore_errors=True)

