"""The OCI runtime-spec ``config.json`` of a container: its persisted description.

``config_from_spec`` writes what a standard OCI runtime (runc) needs to run the same
container from the same bundle. The image layers are an OverlayFS that stackr mounts
inside the container's mount namespace, so ``root.path`` names the mount point and the
overlay is listed as the first mount, as containerd does for runc.
"""

from __future__ import annotations

from pathlib import Path

from stackr.errors import UsageError
from stackr.runtime import security
from stackr.runtime.spec import (
    ContainerSpec,
    MountSpec,
    NetworkSpec,
    Resources,
    RootfsSpec,
    Ulimit,
)

TYPE_CHECKING = False  # mypy reads True: typing is not imported at run time
if TYPE_CHECKING:
    from typing import Any

OCI_VERSION = "1.0.2"


def _mount_entry(spec_mount: Any) -> dict[str, Any]:
    options = list(spec_mount.options)
    if spec_mount.kind == "tmpfs":
        options += ["nosuid", "nodev"]
        if spec_mount.tmpfs_size is not None:
            options.append(f"size={spec_mount.tmpfs_size}")
        if spec_mount.tmpfs_mode is not None:
            options.append(f"mode={spec_mount.tmpfs_mode:o}")
        entry = {"destination": spec_mount.target, "type": "tmpfs", "source": "tmpfs"}
    else:
        options += ["rbind", "rprivate"]
        entry = {"destination": spec_mount.target, "type": "bind", "source": spec_mount.source}
    options.append("ro" if spec_mount.read_only else "rw")
    entry["options"] = options
    return entry


def _namespaces(spec: ContainerSpec) -> list[dict[str, str]]:
    namespaces = [{"type": "mount"}]
    for kind, mode in (("pid", spec.pid_namespace), ("ipc", spec.ipc_namespace),
                       ("uts", spec.uts_namespace), ("cgroup", spec.cgroup_namespace)):
        if mode == "":
            namespaces.append({"type": kind})
        elif mode != "host":
            namespaces.append({"type": kind, "path": mode})
    if spec.network.mode == "none":
        namespaces.append({"type": "network"})
    elif spec.network.mode == "join":
        namespaces.append({"type": "network", "path": spec.network.netns_path or ""})
    return namespaces


def config_from_spec(spec: ContainerSpec) -> dict[str, Any]:
    capabilities = sorted(security.effective_capability_names(spec))
    resources = spec.resources
    linux_resources: dict[str, Any] = {}
    memory: dict[str, Any] = {}
    if resources.memory is not None:
        memory["limit"] = resources.memory
        if resources.memory_swap is not None:
            memory["swap"] = resources.memory_swap
    if resources.memory_swappiness is not None:
        memory["swappiness"] = resources.memory_swappiness
    if resources.disable_oom_killer:
        memory["disableOOMKiller"] = True
    if memory:
        linux_resources["memory"] = memory
    cpu: dict[str, Any] = {}
    if resources.cpus is not None:
        cpu.update(period=100_000, quota=int(resources.cpus * 100_000))
    if resources.cpu_shares is not None:
        cpu["shares"] = resources.cpu_shares
    if resources.cpuset_cpus is not None:
        cpu["cpus"] = resources.cpuset_cpus
    if cpu:
        linux_resources["cpu"] = cpu
    if resources.pids_limit is not None:
        linux_resources["pids"] = {"limit": resources.pids_limit}
    standard_mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={spec.shm_size}"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
    ]
    for target, source in (
        ("/etc/hosts", spec.hosts_file),
        ("/etc/hostname", spec.hostname_file),
        ("/etc/resolv.conf", spec.resolv_conf_file),
    ):
        if source:
            standard_mounts.append(
                {"destination": target, "type": "bind", "source": source, "options": ["rbind"]}
            )
    process: dict[str, Any] = {
        "terminal": spec.tty,
        "args": list(spec.args),
        "env": list(spec.env),
        "cwd": spec.cwd,
        "capabilities": {key: capabilities for key in ("bounding", "effective", "permitted")},
        "noNewPrivileges": spec.no_new_privileges,
        "rlimits": [
            {"type": f"RLIMIT_{u.name.upper()}", "soft": u.soft, "hard": u.hard}
            for u in spec.ulimits
        ],
    }
    if spec.oom_score_adj is not None:
        process["oomScoreAdj"] = spec.oom_score_adj
    config: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": "rootfs", "readonly": spec.read_only},
        "hostname": spec.hostname,
        "mounts": standard_mounts + [_mount_entry(m) for m in spec.mounts],
        "annotations": dict(spec.labels),
        "linux": {
            "namespaces": _namespaces(spec),
            "resources": linux_resources,
            "sysctl": dict(spec.sysctls),
            "maskedPaths": list(spec.masked_paths),
            "readonlyPaths": list(spec.readonly_paths),
            "cgroupsPath": f"stackr/{spec.container_id}",
        },
    }
    if spec.domainname:
        config["domainname"] = spec.domainname
    if spec.user:
        config["annotations"]["io.stackr.user"] = spec.user  # resolved in the rootfs
    return config


_STANDARD_MOUNTS = {"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"}
_RLIMIT_PREFIX = "RLIMIT_"


def _oci_mounts(config: dict[str, Any]) -> tuple[MountSpec, ...]:
    """User mounts of a config.json; the standard ones are made by the runtime anyway."""
    result = []
    for entry in config.get("mounts", []):
        destination = entry["destination"]
        options = entry.get("options", [])
        kind = entry.get("type", "bind" if "bind" in options or "rbind" in options else "")
        if destination in _STANDARD_MOUNTS or kind in ("cgroup", "cgroup2", "proc", "sysfs"):
            continue
        flags = tuple(o for o in options if o in ("nosuid", "nodev", "noexec"))
        read_only = "ro" in options
        if kind == "tmpfs":
            size = next((o[5:] for o in options if o.startswith("size=")), None)
            mode = next((o[5:] for o in options if o.startswith("mode=")), None)
            result.append(
                MountSpec(
                    target=destination,
                    kind="tmpfs",
                    read_only=read_only,
                    options=flags,
                    tmpfs_size=_parse_size(size) if size else None,
                    tmpfs_mode=int(mode, 8) if mode else None,
                )
            )
        elif kind == "bind" or "bind" in options or "rbind" in options:
            result.append(
                MountSpec(
                    target=destination,
                    source=entry["source"],
                    read_only=read_only,
                    options=flags,
                )
            )
        else:
            raise UsageError(f"mount at {destination}: type {kind!r} is not supported")
    return tuple(result)


def _parse_size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    if text[-1:].lower() in units:
        return int(text[:-1]) * units[text[-1].lower()]
    return int(text)


def _oci_network(config: dict[str, Any]) -> NetworkSpec:
    for namespace in config.get("linux", {}).get("namespaces", []):
        if namespace.get("type") == "network":
            if namespace.get("path"):
                return NetworkSpec(mode="join", netns_path=namespace["path"])
            return NetworkSpec(mode="none")
    return NetworkSpec(mode="host")


def _oci_namespace(config: dict[str, Any], kind: str) -> str:
    """"" (new), a path to join, or "host" when the config does not list it."""
    for namespace in config.get("linux", {}).get("namespaces", []):
        if namespace.get("type") == kind:
            return str(namespace.get("path") or "")
    return "host"


def _oci_resources(config: dict[str, Any]) -> Resources:
    resources = config.get("linux", {}).get("resources", {}) or {}
    memory = resources.get("memory", {}) or {}
    cpu = resources.get("cpu", {}) or {}
    cpus = None
    if cpu.get("quota") and cpu.get("period"):
        cpus = cpu["quota"] / cpu["period"]
    return Resources(
        memory=memory.get("limit"),
        memory_swap=memory.get("swap"),
        memory_reservation=memory.get("reservation"),
        cpus=cpus,
        cpu_shares=cpu.get("shares"),
        cpuset_cpus=cpu.get("cpus"),
        pids_limit=(resources.get("pids") or {}).get("limit"),
        memory_swappiness=memory.get("swappiness"),
        disable_oom_killer=bool(memory.get("disableOOMKiller")),
    )


def spec_from_config(config: dict[str, Any], bundle: Path, container_id: str) -> ContainerSpec:
    """Read a bundle's config.json as the runtime's spec (``stackr runtime`` follows it).

    Differences from runc: mount, UTS and cgroup namespaces are always new (a config
    without them is not honoured); PID and IPC follow the config (new, joined by path,
    or the host's when absent); a config with a ``seccomp`` section gets
    stackr's default filter rather than the one described; user namespaces and
    hooks are not supported (refused).
    """
    linux = config.get("linux", {})
    if any(n.get("type") == "user" for n in linux.get("namespaces", [])):
        raise UsageError("config.json: user namespaces are not supported")
    if config.get("hooks"):
        raise UsageError("config.json: hooks are not supported")
    process = config.get("process") or {}
    if not process.get("args"):
        raise UsageError("config.json: process.args is empty")
    root = config.get("root") or {}
    root_path = Path(root.get("path", "rootfs"))
    if not root_path.is_absolute():
        root_path = bundle / root_path
    user = process.get("user") or {}
    capabilities = (process.get("capabilities") or {}).get("bounding")
    rlimits = tuple(
        Ulimit(r["type"].removeprefix(_RLIMIT_PREFIX).lower(), r["soft"], r["hard"])
        for r in process.get("rlimits", [])
    )
    return ContainerSpec(
        container_id=container_id,
        rootfs=RootfsSpec(rootfs_dir=str(root_path)),
        args=tuple(process["args"]),
        env=tuple(process.get("env", [])),
        cwd=process.get("cwd", "/"),
        user=f"{user.get('uid', 0)}:{user.get('gid', 0)}",
        group_add=tuple(str(g) for g in user.get("additionalGids", [])),
        umask=user.get("umask", 0o022),
        hostname=config.get("hostname", ""),
        domainname=config.get("domainname", ""),
        mounts=_oci_mounts(config),
        read_only=bool(root.get("readonly", False)),
        network=_oci_network(config),
        pid_namespace=_oci_namespace(config, "pid"),
        ipc_namespace=_oci_namespace(config, "ipc"),
        uts_namespace=_oci_namespace(config, "uts"),
        cgroup_namespace=_oci_namespace(config, "cgroup"),
        resources=_oci_resources(config),
        cap_add=tuple(capabilities) if capabilities is not None else (),
        cap_drop=("ALL",) if capabilities is not None else (),
        no_new_privileges=bool(process.get("noNewPrivileges", False)),
        seccomp="default" if linux.get("seccomp") else "unconfined",
        sysctls=dict(linux.get("sysctl") or {}),
        ulimits=rlimits,
        oom_score_adj=process.get("oomScoreAdj"),
        tty=bool(process.get("terminal", False)),
        masked_paths=tuple(linux.get("maskedPaths", [])),
        readonly_paths=tuple(linux.get("readonlyPaths", [])),
        labels=dict(config.get("annotations") or {}),
    )
