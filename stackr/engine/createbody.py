"""The body of ``POST /containers/create`` (Docker's shape), checked and turned into the
runtime's ``ContainerSpec``.

Only keys stackr implements are accepted; any other key is a 400 naming it, never
silently ignored. stackr extensions: ``RootfsDir`` (a directory used as the root, as a
runc bundle's ``root.path``) and ``LayerDirs`` (unpacked image layers, base first) —
what the CLI passes until the image store resolves ``Image`` itself.
"""

from __future__ import annotations

import os
import signal as signals
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stackr.engine.attach import is_terminal_size
from stackr.engine.records import is_valid_name
from stackr.engine.restart import PolicyError, RestartPolicy
from stackr.engine.routing import bad_request

if TYPE_CHECKING:
    from stackr.runtime.spec import ContainerSpec

JsonObject = dict[str, Any]

CONFIG_KEYS = {
    "Image", "Cmd", "Entrypoint", "Env", "Labels", "WorkingDir", "User", "Hostname",
    "Domainname", "Tty", "StopSignal", "StopTimeout", "Healthcheck", "ExposedPorts",
    "HostConfig", "NetworkingConfig", "RootfsDir", "LayerDirs", "AttachStdin",
    "AttachStdout", "AttachStderr", "OpenStdin", "StdinOnce",
}
HOST_CONFIG_KEYS = {
    "Binds", "Mounts", "RestartPolicy", "Memory", "MemorySwap", "MemoryReservation",
    "MemorySwappiness", "OomKillDisable", "BlkioWeight", "BlkioWeightDevice",
    "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps",
    "NanoCpus", "CpuShares", "CpusetCpus", "PidsLimit", "NetworkMode", "ReadonlyRootfs",
    "CapAdd", "CapDrop", "Privileged", "Init", "ShmSize", "Sysctls", "Ulimits",
    "OomScoreAdj", "GroupAdd", "SecurityOpt", "Tmpfs", "LogConfig", "AutoRemove",
    "PortBindings", "ExtraHosts", "Dns", "DnsSearch", "DnsOptions", "ConsoleSize",
    "IpcMode", "PidMode", "UTSMode", "CgroupnsMode", "UsernsMode", "Devices",
    "DeviceCgroupRules",
}
HEALTH_KEYS = {"Test", "Interval", "Timeout", "Retries", "StartPeriod", "StartInterval"}


def _check_type(container: JsonObject, key: str, kind: type | tuple[type, ...], where: str
                ) -> None:
    value = container.get(key)
    if value is None:
        return
    if isinstance(value, bool) and kind in (int, (int, float)):
        raise bad_request(f"{where}.{key} must be a number")
    if not isinstance(value, kind):
        raise bad_request(f"{where}.{key} has the wrong type ({type(value).__name__})")


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_request(f"{where} must be a list of strings")
    return list(value)


def _string_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise bad_request(f"{where} must be an object of strings")
    return dict(value)


def signal_number(value: str | int, where: str = "signal") -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.isdigit():
        number = int(value)
    elif isinstance(value, str):
        name = value.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        try:
            number = int(signals.Signals[name])
        except KeyError:
            raise bad_request(f"{where}: unknown signal {value!r}") from None
    else:
        raise bad_request(f"{where}: unknown signal {value!r}")
    if not 0 < number < signals.NSIG:
        raise bad_request(f"{where}: signal {value!r} out of range")
    return number


def check_create_body(body: JsonObject) -> JsonObject:
    """Validate the create body; returns it with defaults filled in (what is recorded)."""
    unknown = set(body) - CONFIG_KEYS
    if unknown:
        raise bad_request(f"unknown field(s) in container config: {', '.join(sorted(unknown))}")
    for key in ("Image", "WorkingDir", "User", "Hostname", "Domainname", "StopSignal",
                "RootfsDir"):
        _check_type(body, key, str, "config")
    _check_type(body, "StopTimeout", int, "config")
    _check_type(body, "Tty", bool, "config")
    for key in ("OpenStdin", "StdinOnce", "AttachStdin", "AttachStdout", "AttachStderr"):
        _check_type(body, key, bool, "config")
    cmd = _strings(body.get("Cmd"), "config.Cmd")
    entrypoint = _strings(body.get("Entrypoint"), "config.Entrypoint")
    if not cmd and not entrypoint and not body.get("Image"):
        raise bad_request("config: no command (give Cmd and/or Entrypoint)")
    env = _strings(body.get("Env"), "config.Env")
    for item in env:
        if "=" not in item or item.startswith("="):
            raise bad_request(f"config.Env: {item!r} is not KEY=value")
    labels = _string_map(body.get("Labels"), "config.Labels")
    layer_dirs = _strings(body.get("LayerDirs"), "config.LayerDirs")
    rootfs_dir = body.get("RootfsDir")
    if layer_dirs and rootfs_dir:
        raise bad_request("config: give at most one of RootfsDir or LayerDirs")
    if not layer_dirs and not rootfs_dir and not body.get("Image"):
        raise bad_request("config: give Image (or RootfsDir or LayerDirs)")
    for path in [*layer_dirs, *([rootfs_dir] if rootfs_dir else [])]:
        if not path.startswith("/"):
            raise bad_request(f"config: rootfs path {path!r} is not absolute")
    if body.get("StopSignal"):
        signal_number(body["StopSignal"], "config.StopSignal")
    host_config = body.get("HostConfig") or {}
    if not isinstance(host_config, dict):
        raise bad_request("HostConfig must be an object")
    unknown = set(host_config) - HOST_CONFIG_KEYS
    if unknown:
        raise bad_request(f"unknown field(s) in HostConfig: {', '.join(sorted(unknown))}")
    for key in ("Memory", "MemorySwap", "MemoryReservation", "NanoCpus", "CpuShares",
                "PidsLimit", "ShmSize", "OomScoreAdj", "BlkioWeight"):
        _check_type(host_config, key, int, "HostConfig")
    for key, field in (("BlkioWeightDevice", "Weight"), *(
            (key, "Rate") for key in BLKIO_LIMIT_KEYS)):
        for entry in host_config.get(key) or []:
            if not (isinstance(entry, dict) and isinstance(entry.get("Path"), str)
                    and type(entry.get(field)) is int and entry[field] >= 0):
                raise bad_request(f"HostConfig.{key}: each needs Path and {field} (an "
                                  "integer)")
    swappiness = host_config.get("MemorySwappiness")
    if swappiness is not None and (type(swappiness) is not int or not -1 <= swappiness <= 100):
        raise bad_request("HostConfig.MemorySwappiness must be an integer from 0 to 100 "
                          "(-1: the host's)")
    for key in ("ReadonlyRootfs", "Privileged", "Init", "AutoRemove", "OomKillDisable"):
        _check_type(host_config, key, bool, "HostConfig")
    for key in ("CapAdd", "CapDrop", "GroupAdd", "SecurityOpt", "Binds", "ExtraHosts", "Dns",
                "DnsSearch", "DnsOptions"):
        _strings(host_config.get(key), f"HostConfig.{key}")
    _string_map(host_config.get("Sysctls"), "HostConfig.Sysctls")
    size = host_config.get("ConsoleSize")
    if size is not None and not is_terminal_size(size):
        raise bad_request("HostConfig.ConsoleSize must be [rows, columns]")
    _string_map(host_config.get("Tmpfs"), "HostConfig.Tmpfs")
    from stackr.engine.networks import check_networking, network_names, port_specs

    check_networking(body)
    if port_specs(host_config) and not network_names(host_config,
                                                    body.get("NetworkingConfig")):
        raise bad_request("HostConfig.PortBindings: publishing ports needs a network")
    log_config = host_config.get("LogConfig") or {}
    if not isinstance(log_config, dict) or set(log_config) - {"Type", "Config"}:
        raise bad_request("HostConfig.LogConfig must be {\"Type\": ..., \"Config\": {...}}")
    if (log_config.get("Type") or "json-file") not in ("json-file", "local"):
        raise bad_request(f"HostConfig.LogConfig.Type {log_config['Type']!r}: only json-file "
                          "is supported")
    unknown = set(_string_map(log_config.get("Config"), "HostConfig.LogConfig.Config")) - {
        "max-size", "max-file"}
    if unknown:
        raise bad_request(f"HostConfig.LogConfig.Config: unsupported {', '.join(sorted(unknown))}")
    options = log_config.get("Config") or {}
    try:
        if options.get("max-size"):
            parse_size(options["max-size"])
        if options.get("max-file") and int(options["max-file"]) < 1:
            raise ValueError
    except ValueError:
        raise bad_request(f"HostConfig.LogConfig.Config: bad size or count {options}") from None
    try:
        RestartPolicy.from_docker(host_config.get("RestartPolicy"))
    except PolicyError as error:
        raise bad_request(f"HostConfig.RestartPolicy: {error}") from None
    network_mode = host_config.get("NetworkMode") or "none"
    if not isinstance(network_mode, str) or not (
        network_mode in ("none", "host") or network_mode.startswith("ns:/")
        or is_valid_name(network_mode)
        or (network_mode.startswith("container:") and is_valid_name(network_mode[10:]))
    ):
        raise bad_request(
            f"HostConfig.NetworkMode {network_mode!r}: use none, host, ns:/path, "
            "container:NAME or a network name"
        )
    from stackr.runtime import spec as runtime_spec

    rules = host_config.get("DeviceCgroupRules") or []
    if not isinstance(rules, list) or not all(
            isinstance(rule, str) and runtime_spec.DEVICE_CGROUP_RULE.match(rule)
            for rule in rules):
        raise bad_request("HostConfig.DeviceCgroupRules: each is type major:minor access "
                          "(c 188:* rmw)")
    for device in host_config.get("Devices") or []:
        if not (isinstance(device, dict) and isinstance(device.get("PathOnHost"), str)
                and str(device["PathOnHost"]).startswith("/")):
            raise bad_request("HostConfig.Devices: each needs PathOnHost (an absolute path), "
                              "PathInContainer and CgroupPermissions")
    for key in ("IpcMode", "PidMode"):
        mode = host_config.get(key) or ""
        if not isinstance(mode, str) or not (
            mode in ("", "private", "shareable", "host")
            or (mode.startswith("container:") and is_valid_name(mode[10:]))
        ):
            raise bad_request(f"HostConfig.{key} {mode!r}: use private, shareable, host or "
                              "container:NAME")
    for key, allowed in (("UTSMode", ("", "host")), ("CgroupnsMode", ("", "private", "host")),
                         ("UsernsMode", ("", "host"))):
        if host_config.get(key, "") not in allowed:
            raise bad_request(f"HostConfig.{key} {host_config[key]!r}: use "
                              f"{' or '.join(repr(mode) for mode in allowed)}")
    if host_config.get("UTSMode") == "host" and (
            body.get("Hostname") or body.get("Domainname")):
        raise bad_request("conflicting options: Hostname and UTSMode host")
    if network_mode.startswith("container:") and host_config.get("PortBindings"):
        raise bad_request("HostConfig.PortBindings: a container that shares another "
                          "container's network publishes its ports there")
    health = body.get("Healthcheck")
    if health is not None:
        check_healthcheck(health)
    return {
        **body, "Cmd": cmd, "Entrypoint": entrypoint, "Env": env, "Labels": labels,
        "HostConfig": host_config,
    }


def check_healthcheck(health: Any) -> None:
    if not isinstance(health, dict):
        raise bad_request("config.Healthcheck must be an object")
    unknown = set(health) - HEALTH_KEYS
    if unknown:
        raise bad_request(f"unknown field(s) in Healthcheck: {', '.join(sorted(unknown))}")
    test = _strings(health.get("Test"), "config.Healthcheck.Test")
    if test and test[0] not in ("NONE", "CMD", "CMD-SHELL"):
        raise bad_request("config.Healthcheck.Test must start with NONE, CMD or CMD-SHELL")
    if test and test[0] in ("CMD", "CMD-SHELL") and len(test) < 2:
        raise bad_request("config.Healthcheck.Test has no command")
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"):
        _check_type(health, key, int, "config.Healthcheck")
        if (health.get(key) or 0) < 0:
            raise bad_request(f"config.Healthcheck.{key} must not be negative")


def parse_size(text: str) -> int:
    """``10m``, ``512k``, ``1g``, ``1024`` (Docker's units are powers of 1024)."""
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    text = text.strip().lower().rstrip("b")
    multiplier = units.get(text[-1:], 1)
    size = int(float(text[:-1]) * multiplier) if multiplier > 1 else int(text)
    if size <= 0:
        raise ValueError(f"size {text!r} must be positive")
    return size


def host_device(device: JsonObject) -> Any:
    """A ``HostConfig.Devices`` entry as the runtime's device: the host node's numbers."""
    import stat

    from stackr.runtime import spec as runtime_spec

    host_path = str(device["PathOnHost"])
    try:
        info = os.stat(host_path)
    except OSError as error:
        raise bad_request(f"HostConfig.Devices: {host_path}: {error.strerror}") from None
    if not (stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)):
        raise bad_request(f"HostConfig.Devices: {host_path} is not a device")
    return runtime_spec.DeviceSpec(
        path=str(device.get("PathInContainer") or host_path),
        kind="c" if stat.S_ISCHR(info.st_mode) else "b",
        major=os.major(info.st_rdev), minor=os.minor(info.st_rdev),
        file_mode=stat.S_IMODE(info.st_mode),
        permissions=str(device.get("CgroupPermissions") or "rwm"),
    )


# Docker's per-device limits, and the cgroup files' words for them.
BLKIO_LIMIT_KEYS = {"BlkioDeviceReadBps": "read_bps", "BlkioDeviceWriteBps": "write_bps",
                    "BlkioDeviceReadIOps": "read_iops", "BlkioDeviceWriteIOps": "write_iops"}


def block_device(path: str, key: str) -> str:
    """``MAJOR:MINOR`` of the host's block device at ``path`` (a cgroup names it so)."""
    import stat

    try:
        status = os.stat(path)
    except OSError as error:
        raise bad_request(f"HostConfig.{key}: {path}: {error.strerror}") from None
    if not stat.S_ISBLK(status.st_mode):
        raise bad_request(f"HostConfig.{key}: {path} is not a block device")
    return f"{os.major(status.st_rdev)}:{os.minor(status.st_rdev)}"


def to_runtime_spec(
    container_id: str, config: JsonObject, volume_path: Callable[[str], str]
) -> ContainerSpec:
    """The runtime's spec of a recorded container (``config`` passed ``check_create_body``)."""
    from stackr.runtime import spec as runtime_spec

    host = config.get("HostConfig") or {}
    uts_host = host.get("UTSMode") == "host"
    mounts: list[runtime_spec.MountSpec] = []
    for bind in host.get("Binds") or []:
        parts = bind.split(":")
        if len(parts) not in (2, 3):
            raise bad_request(f"HostConfig.Binds: {bind!r} is not source:target[:mode]")
        source, target = parts[0], parts[1]
        read_only = len(parts) == 3 and "ro" in parts[2].split(",")
        kind: runtime_spec.MountKind = "bind" if source.startswith("/") else "volume"
        mounts.append(runtime_spec.MountSpec(
            target=target, kind=kind,
            source=source if kind == "bind" else volume_path(source), read_only=read_only,
        ))
    for mount in host.get("Mounts") or []:
        if not isinstance(mount, dict):
            raise bad_request("HostConfig.Mounts items must be objects")
        mount_kind = mount.get("Type", "volume")
        target = mount.get("Target")
        if mount_kind not in ("bind", "volume", "tmpfs") or not isinstance(target, str):
            raise bad_request(f"HostConfig.Mounts: bad mount {mount!r}")
        source = mount.get("Source") or ""
        tmpfs = mount.get("TmpfsOptions") or {}
        mounts.append(runtime_spec.MountSpec(
            target=target, kind=mount_kind,
            source=volume_path(source) if mount_kind == "volume" else source,
            read_only=bool(mount.get("ReadOnly")),
            tmpfs_size=tmpfs.get("SizeBytes"), tmpfs_mode=tmpfs.get("Mode"),
        ))
    for target, options in (host.get("Tmpfs") or {}).items():
        size = None
        for option in options.split(","):
            if option.startswith("size="):
                size = parse_size(option[5:])
        mounts.append(runtime_spec.MountSpec(target=target, kind="tmpfs", tmpfs_size=size))
    network_mode = host.get("NetworkMode") or "none"
    # A network name becomes "join the sandbox" at start, once the sandbox exists.
    network = (
        runtime_spec.NetworkSpec("join", network_mode[3:])
        if network_mode.startswith("ns:")
        else runtime_spec.NetworkSpec("host" if network_mode == "host" else "none")
    )
    nano_cpus = host.get("NanoCpus")
    resources = runtime_spec.Resources(
        memory=host.get("Memory") or None,
        memory_swap=host.get("MemorySwap") or None,
        memory_reservation=host.get("MemoryReservation") or None,
        cpus=nano_cpus / 1e9 if nano_cpus else None,
        cpu_shares=host.get("CpuShares") or None,
        cpuset_cpus=host.get("CpusetCpus") or None,
        pids_limit=host.get("PidsLimit") or None,
        # -1 is Docker's "the host's value", as leaving it out is.
        memory_swappiness=None if host.get("MemorySwappiness") in (None, -1)
        else host["MemorySwappiness"],
        disable_oom_killer=bool(host.get("OomKillDisable")),
        blkio_weight=host.get("BlkioWeight") or None,
        blkio_weight_devices=tuple(
            f"{block_device(entry['Path'], 'BlkioWeightDevice')} {entry['Weight']}"
            for entry in host.get("BlkioWeightDevice") or []),
        blkio_limits=tuple(
            f"{kind} {block_device(entry['Path'], key)} {entry['Rate']}"
            for key, kind in BLKIO_LIMIT_KEYS.items() for entry in host.get(key) or []),
    )
    security = host.get("SecurityOpt") or []
    env = list(config.get("Env") or [])
    if not any(item.startswith("PATH=") for item in env):
        env.insert(0, runtime_spec.DEFAULT_PATH_ENV)
    rootfs = runtime_spec.RootfsSpec(
        layer_dirs=tuple(config.get("LayerDirs") or ()), rootfs_dir=config.get("RootfsDir")
    )
    try:
        return runtime_spec.ContainerSpec(
            container_id=container_id,
            rootfs=rootfs,
            args=tuple([*config.get("Entrypoint", []), *config.get("Cmd", [])]),
            env=tuple(env),
            cwd=config.get("WorkingDir") or "/",
            user=config.get("User") or "",
            group_add=tuple(host.get("GroupAdd") or ()),
            # The host's UTS namespace keeps the host's names (refused above to change).
            hostname="" if uts_host else config.get("Hostname") or container_id[:12],
            domainname="" if uts_host else config.get("Domainname") or "",
            mounts=tuple(mounts),
            read_only=bool(host.get("ReadonlyRootfs")),
            shm_size=host.get("ShmSize") or runtime_spec.DEFAULT_SHM_SIZE,
            network=network,
            # container:NAME is joined at start, by the owner's pid (containers.py)
            devices=tuple(host_device(d) for d in host.get("Devices") or []),
            device_cgroup_rules=tuple(host.get("DeviceCgroupRules") or ()),
            ipc_namespace="host" if host.get("IpcMode") == "host" else "",
            pid_namespace="host" if host.get("PidMode") == "host" else "",
            uts_namespace="host" if uts_host else "",
            cgroup_namespace="host" if host.get("CgroupnsMode") == "host" else "",
            resources=resources,
            cap_add=tuple(host.get("CapAdd") or ()),
            cap_drop=tuple(host.get("CapDrop") or ()),
            privileged=bool(host.get("Privileged")),
            no_new_privileges="no-new-privileges" in security
            or "no-new-privileges:true" in security,
            seccomp="unconfined" if "seccomp=unconfined" in security else "default",
            sysctls=dict(host.get("Sysctls") or {}),
            ulimits=tuple(
                runtime_spec.Ulimit(u["Name"], int(u["Soft"]), int(u["Hard"]))
                for u in host.get("Ulimits") or []
            ),
            oom_score_adj=host.get("OomScoreAdj"),
            init=bool(host.get("Init")),
            tty=bool(config.get("Tty")),
            stop_signal=config.get("StopSignal") or "SIGTERM",
            labels=dict(config.get("Labels") or {}),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise bad_request(f"container config: {error}") from None
