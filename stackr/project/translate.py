"""A service replica → the engine's ``POST /containers/create`` body (Docker's shape).

One small function per concern (process, environment, mounts, resources, network
attachments, ports, healthcheck, restart), as compose's ``create.go``. Compose's
override rules with the image config hold because the engine applies them: keys left
out here (``Cmd``, ``Entrypoint``, ``WorkingDir``, ``User``, ``Healthcheck``) take the
image's values; an ``entrypoint`` given without a ``command`` drops the image's ``Cmd``.
Pure: no engine, no host.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from stackr import naming
from stackr.errors import NotImplementedYetError, UsageError
from stackr.graph import ResourceId
from stackr.project import names
from stackr.project.desired import DesiredStack
from stackr.project.secrets import SecretFile

if TYPE_CHECKING:
    from stackr.config.models import Service, ServiceHook, Stack

JsonObject = dict[str, Any]
NANOSECONDS = 1_000_000_000
DEFAULT_CPU_PERIOD_US = 100_000


def unsupported_keys(service: Service) -> list[str]:
    """Keys the engine cannot honour yet: refused, never silently ignored."""
    keys = []
    if service.runtime is not None:
        keys.append("runtime")
    if any(link.alias != link.service for link in service.links):
        keys.append("links (with an alias)")
    return keys


def hook_exec_body(hook: ServiceHook) -> JsonObject:
    """The engine's exec body of a hook (``post_start``, ``pre_stop``, a watch rule's
    ``sync+exec``). The engine runs every exec with its own capabilities and without
    the container's seccomp filter (``engine/nsexec.py``): ``privileged`` asks for
    nothing more."""
    body: JsonObject = {
        "Cmd": list(hook.command),
        "Env": [f"{key}={value}" for key, value in sorted(hook.environment.items())
                if value is not None],
        "AttachStdout": True,
        "AttachStderr": True,
    }
    if hook.user:
        body["User"] = hook.user
    if hook.working_dir:
        body["WorkingDir"] = hook.working_dir
    return body


def devices(service: Service) -> JsonObject:
    """``devices``: the host's nodes made in the container (Docker's HostConfig.Devices);
    ``device_cgroup_rules``: what else its devices cgroup allows."""
    body: JsonObject = {}
    if service.devices:
        body["Devices"] = [
            {"PathOnHost": device.source, "PathInContainer": device.target or device.source,
             "CgroupPermissions": device.permissions}
            for device in service.devices
        ]
    if service.device_cgroup_rules:
        body["DeviceCgroupRules"] = list(service.device_cgroup_rules)
    return body


def shared_namespaces(service: Service, desired: DesiredStack) -> JsonObject:
    """``ipc``/``pid``: ``host``, or ``service:x`` (its first replica's namespace); the
    other ipc modes (private, shareable, none) are a namespace of the container's own."""
    body: JsonObject = {}
    for key, mode in (("IpcMode", service.ipc), ("PidMode", service.pid)):
        if mode == "host":
            body[key] = "host"
        elif mode and mode.startswith("service:"):
            body[key] = _owner_container(mode, desired)
        elif mode and mode.startswith("container:"):
            body[key] = mode  # a container outside the stack, by name or id
    if service.uts == "host":
        body["UTSMode"] = "host"
    if service.cgroup is not None:
        body["CgroupnsMode"] = service.cgroup
    if service.userns_mode is not None:
        body["UsernsMode"] = service.userns_mode
    return body


def _owner_container(mode: str, desired: DesiredStack) -> str:
    """``service:x`` → ``container:<x's first replica>``, whose namespace is joined."""
    owner = ResourceId("service", mode.removeprefix("service:"), 1)
    return f"container:{desired.engine_names[owner]}"


def name_resolution(service: Service) -> JsonObject:
    """``extra_hosts`` (``host-gateway`` is the network's gateway), ``dns`` (the
    upstreams the network's resolver asks for names outside the stack), ``dns_search``,
    ``dns_opt``."""
    body: JsonObject = {}
    if service.extra_hosts:
        body["ExtraHosts"] = [
            f"{name}:{address}"
            for name, addresses in sorted(service.extra_hosts.items())
            for address in addresses
        ]
    for key, values in (
        ("Dns", service.dns), ("DnsSearch", service.dns_search), ("DnsOptions", service.dns_opt)
    ):
        if values:
            body[key] = list(values)
    return body


def process_config(service: Service) -> JsonObject:
    body: JsonObject = {}
    if service.command is not None and service.command:
        body["Cmd"] = list(service.command)
    if service.entrypoint is not None:
        body["Entrypoint"] = list(service.entrypoint)
    if service.working_dir:
        body["WorkingDir"] = service.working_dir
    if service.user:
        body["User"] = service.user
    if service.tty:
        body["Tty"] = True
    if service.stdin_open:
        body["OpenStdin"] = True
    if service.stop_signal:
        body["StopSignal"] = service.stop_signal
    if service.stop_grace_period is not None:
        body["StopTimeout"] = int(service.stop_grace_period)
    return body


def environment(service: Service) -> list[str]:
    # A key without a value that the loader could not fill stays unset, as in Compose.
    return [f"{key}={value}" for key, value in sorted(service.environment.items())
            if value is not None]


def mounts(stack: Stack, service: Service, desired: DesiredStack, replica: ResourceId
           ) -> JsonObject:
    """Its volumes, binds and tmpfs mounts, then ``volumes_from``: the volumes and binds
    of the first replica of each service named (read-only with ``:ro``; a target the
    container mounts itself stays its own), as Docker copies a container's mounts."""
    host: JsonObject = {}
    items = _mount_items(service, desired, replica)
    targets = {item["Target"] for item in items}
    for source in service.volumes_from:
        owner = ResourceId("service", source.service, 1)
        for item in _mount_items(stack.services[source.service], desired, owner):
            if item["Type"] == "tmpfs" or item["Target"] in targets:
                continue
            targets.add(item["Target"])
            items.append({**item, "ReadOnly": item["ReadOnly"] or source.read_only})
    if items:
        host["Mounts"] = items
    if service.tmpfs:
        host["Tmpfs"] = {path: options for path, _, options in
                         (entry.partition(":") for entry in service.tmpfs)}
    if service.read_only:
        host["ReadonlyRootfs"] = True
    if service.shm_size is not None:
        host["ShmSize"] = service.shm_size
    return host


def _mount_items(service: Service, desired: DesiredStack, replica: ResourceId
                 ) -> list[JsonObject]:
    items = []
    for mount in service.volumes:
        item: JsonObject = {"Type": mount.type, "Target": mount.target,
                            "ReadOnly": mount.read_only}
        if mount.type == "volume":
            key = mount.source or naming.anonymous_volume_key(
                replica.name, replica.replica, mount.target
            )
            item["Source"] = desired.engine_names[ResourceId("volume", key)]
        elif mount.type == "bind":
            item["Source"] = mount.source
        elif mount.tmpfs is not None:
            options = {"SizeBytes": mount.tmpfs.size, "Mode": mount.tmpfs.mode}
            item["TmpfsOptions"] = {k: v for k, v in options.items() if v is not None}
        items.append(item)
    return items


def resources(service: Service) -> JsonObject:
    limits = service.deploy.resources.limits if service.deploy else None
    reservations = service.deploy.resources.reservations if service.deploy else None
    memory = service.mem_limit or (limits.memory if limits else None)
    cpus = service.cpus or (limits.cpus if limits else None)
    if cpus is None and service.cpu_quota:
        # Docker's CFS quota per period, as the ratio the runtime applies (its period).
        cpus = service.cpu_quota / (service.cpu_period or DEFAULT_CPU_PERIOD_US)
    pids = service.pids_limit or (limits.pids if limits else None)
    reservation = service.mem_reservation or (reservations.memory if reservations else None)
    host: JsonObject = {
        "Memory": memory,
        "MemorySwap": service.memswap_limit,
        "MemorySwappiness": service.mem_swappiness,
        "OomKillDisable": service.oom_kill_disable or None,
        "MemoryReservation": reservation,
        "NanoCpus": int(cpus * NANOSECONDS) if cpus else None,
        "CpuShares": service.cpu_shares,
        "CpusetCpus": service.cpuset,
        "PidsLimit": pids,
        **blkio(service),
    }
    return {key: value for key, value in host.items() if value is not None}


def blkio(service: Service) -> JsonObject:
    """``blkio_config`` as Docker's HostConfig.Blkio* fields."""
    config = service.blkio_config
    if config is None:
        return {}
    body: JsonObject = {"BlkioWeight": config.weight}
    if config.weight_device:
        body["BlkioWeightDevice"] = [{"Path": device.path, "Weight": device.weight}
                                     for device in config.weight_device]
    for key, limits in (("BlkioDeviceReadBps", config.device_read_bps),
                        ("BlkioDeviceWriteBps", config.device_write_bps),
                        ("BlkioDeviceReadIOps", config.device_read_iops),
                        ("BlkioDeviceWriteIOps", config.device_write_iops)):
        if limits:
            body[key] = [{"Path": limit.path, "Rate": limit.rate} for limit in limits]
    return body


def privileges(service: Service) -> JsonObject:
    host: JsonObject = {
        "Privileged": service.privileged or None,
        "CapAdd": list(service.cap_add) or None,
        "CapDrop": list(service.cap_drop) or None,
        "SecurityOpt": list(service.security_opt) or None,
        "GroupAdd": list(service.group_add) or None,
        "Sysctls": dict(service.sysctls) or None,
        "OomScoreAdj": service.oom_score_adj,
        "Init": service.init,
        "Ulimits": [{"Name": name, "Soft": limit.soft, "Hard": limit.hard}
                    for name, limit in sorted(service.ulimits.items())] or None,
    }
    return {key: value for key, value in host.items() if value is not None}


def network_attachments(service_name: str, service: Service, desired: DesiredStack
                        ) -> tuple[JsonObject, JsonObject | None]:
    """(HostConfig part, NetworkingConfig): the first network is the NetworkMode, every
    network an endpoint whose aliases make the service name resolvable."""
    network_mode = service.network_mode or ""
    if network_mode in ("host", "none") or network_mode.startswith("container:"):
        return {"NetworkMode": network_mode}, None
    if network_mode.startswith("service:"):
        # Share the first replica's network namespace (as Compose does); the plan
        # recreates this service whenever that one is recreated.
        return {"NetworkMode": _owner_container(network_mode, desired)}, None
    endpoints: JsonObject = {}
    ordered = sorted(service.networks.items(), key=lambda item: (-item[1].priority, item[0]))
    if service.replicas > 1 and (service.mac_address or any(
            attachment.mac_address for _, attachment in ordered)):
        raise UsageError(f"service {service_name}: a MAC address is one interface's, and "
                         f"the service has {service.replicas} replicas")
    for index, (key, attachment) in enumerate(ordered):
        engine_name = desired.engine_names[ResourceId("network", key)]
        endpoint: JsonObject = {"Aliases": [service_name, *attachment.aliases]}
        if attachment.ipv4_address:
            endpoint["IPAMConfig"] = {"IPv4Address": attachment.ipv4_address}
        # The service's own mac_address is its first network's (Compose's rule).
        mac_address = attachment.mac_address or (service.mac_address if index == 0 else None)
        if index == 0 and service.mac_address and mac_address != service.mac_address:
            raise UsageError(f"service {service_name}: mac_address {service.mac_address} "
                             f"and networks.{key}.mac_address {attachment.mac_address} differ")
        if mac_address:
            endpoint["MacAddress"] = mac_address
        endpoints[engine_name] = endpoint
    if not endpoints:
        return {"NetworkMode": "none"}, None
    return {"NetworkMode": next(iter(endpoints))}, {"EndpointsConfig": endpoints}


def ports(service: Service) -> tuple[JsonObject, JsonObject]:
    """(ExposedPorts, HostConfig.PortBindings)."""
    exposed: JsonObject = {}
    bindings: dict[str, list[JsonObject]] = {}
    for entry in service.expose:
        port, _, protocol = entry.partition("/")
        exposed[f"{port}/{protocol or 'tcp'}"] = {}
    for mapping in service.ports:
        key = f"{mapping.target}/{mapping.protocol}"
        exposed[key] = {}
        if mapping.published is None and mapping.host_ip is None:
            continue
        host_port = str(mapping.published) if mapping.published is not None else ""
        if mapping.published_end is not None:  # "8000-8010:80": the first free one
            host_port += f"-{mapping.published_end}"
        bindings.setdefault(key, []).append({"HostIp": mapping.host_ip or "",
                                             "HostPort": host_port})
    return exposed, bindings


def healthcheck(service: Service) -> JsonObject | None:
    """None: the image's healthcheck (the engine applies it)."""
    check = service.healthcheck
    if check is None:
        return None
    if check.disable or check.test == ("NONE",):
        return {"Test": ["NONE"]}
    if check.test is None:
        return None  # only timings given: the image's test with the engine's timings

    def nanoseconds(seconds: float | None) -> int | None:
        return None if seconds is None else int(seconds * NANOSECONDS)

    body: JsonObject = {
        "Test": list(check.test),
        "Interval": nanoseconds(check.interval),
        "Timeout": nanoseconds(check.timeout),
        "StartPeriod": nanoseconds(check.start_period),
        "StartInterval": nanoseconds(check.start_interval),
        "Retries": check.retries,
    }
    return {key: value for key, value in body.items() if value is not None}


def restart_policy(service: Service) -> JsonObject:
    policy = service.deploy.restart_policy if service.deploy else None
    if policy is not None and service.restart.condition == "no":
        name = {"none": "no", "on-failure": "on-failure", "any": "always"}[policy.condition]
        return {"Name": name, "MaximumRetryCount": policy.max_attempts or 0}
    return {"Name": service.restart.condition,
            "MaximumRetryCount": service.restart.max_retries or 0}


def secret_mounts(files: list[SecretFile]) -> list[JsonObject]:
    return [{"Type": "bind", "Source": secret.mount_source, "Target": secret.target,
             "ReadOnly": True} for secret in files]


def container_body(stack: Stack, resource: ResourceId, desired: DesiredStack,
                   secret_files: list[SecretFile] | None = None) -> JsonObject:
    """The create body of replica ``resource`` (``service:NAME:N``); ``secret_files``:
    its secrets and configs (``secrets.plan_files``)."""
    service_name = resource.name
    service = stack.services[service_name]
    refused = unsupported_keys(service)
    if refused:
        raise NotImplementedYetError(
            f"service {service_name}: {', '.join(refused)} not supported by stackr yet"
        )
    from stackr.graph import image_reference

    image = image_reference(desired.project, service_name, service)
    if image is None:
        raise UsageError(f"service {service_name}: no image and no build")
    wanted = desired.resources[resource]
    labels = {**service.labels,
              **(service.deploy.labels if service.deploy else {}),
              **names.resource_labels(desired.project, resource, wanted.config,
                                      wanted.config_hash, desired.needs.get(resource, ()))}
    if service.build is not None:
        labels[names.LABEL_IMAGE_BUILT] = "1"
    if service.post_start or service.pre_stop:
        # Recorded with the container: stop, start and down run them from the records.
        labels[names.LABEL_HOOKS] = json.dumps({
            "post_start": [hook_exec_body(hook) for hook in service.post_start],
            "pre_stop": [hook_exec_body(hook) for hook in service.pre_stop],
        }, sort_keys=True)
    exposed, bindings = ports(service)
    network_host, networking = network_attachments(service_name, service, desired)
    if bindings and (service.network_mode or "bridge").split(":")[0] in (
            "host", "none", "service", "container"):
        raise UsageError(f"service {service_name}: ports need a network of the service's "
                         f"own (network_mode is {service.network_mode})")
    if (service.secrets or service.configs) and secret_files is None:
        raise NotImplementedYetError(f"service {service_name}: secrets and configs need "
                                     "their files planned (secrets.plan_files)")
    host_config: JsonObject = {
        **shared_namespaces(service, desired),
        **devices(service),
        **mounts(stack, service, desired, resource),
        **resources(service),
        **privileges(service),
        **network_host,
        **name_resolution(service),
        "RestartPolicy": restart_policy(service),
    }
    if bindings:
        host_config["PortBindings"] = bindings
    if secret_files:
        host_config["Mounts"] = [*host_config.get("Mounts", []), *secret_mounts(secret_files)]
    body: JsonObject = {
        "Image": image,
        **process_config(service),
        "Env": environment(service),
        "Labels": labels,
        "HostConfig": host_config,
    }
    hostname = service.hostname
    if hostname:
        body["Hostname"] = hostname
    if service.domainname:
        body["Domainname"] = service.domainname
    if exposed:
        body["ExposedPorts"] = exposed
    if networking is not None:
        body["NetworkingConfig"] = networking
    check = healthcheck(service)
    if check is not None:
        body["Healthcheck"] = check
    return body


def network_body(stack: Stack, resource: ResourceId, desired: DesiredStack) -> JsonObject:
    network = stack.networks[resource.name]
    wanted = desired.resources[resource]
    body: JsonObject = {
        "Name": desired.engine_names[resource],
        "Internal": network.internal,
        "Labels": {**network.labels, **names.resource_labels(
            desired.project, resource, wanted.config, wanted.config_hash)},
    }
    if network.ipam is not None and network.ipam.config:
        pool = network.ipam.config[0]
        entry = {"Subnet": pool.subnet, "Gateway": pool.gateway, "IPRange": pool.ip_range}
        body["IPAM"] = {"Config": [{k: v for k, v in entry.items() if v is not None}]}
    return body


def volume_body(stack: Stack, resource: ResourceId, desired: DesiredStack) -> JsonObject:
    volume = stack.volumes.get(resource.name)  # None: an anonymous volume
    wanted = desired.resources[resource]
    return {
        "Name": desired.engine_names[resource],
        "Labels": {**(volume.labels if volume else {}), **names.resource_labels(
            desired.project, resource, wanted.config, wanted.config_hash)},
    }
