"""The OCI runtime-spec ``config.json`` of a container: its persisted description.

``config_from_spec`` writes what a standard OCI runtime (runc) needs to run the same
container from the same bundle. The image layers are an OverlayFS that stackr mounts
inside the container's mount namespace, so ``root.path`` names the mount point and the
overlay is listed as the first mount, as containerd does for runc.
"""

from __future__ import annotations

from typing import Any

from stackr.runtime import security
from stackr.runtime.spec import ContainerSpec

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
    namespaces = [{"type": kind} for kind in ("pid", "mount", "ipc", "uts", "cgroup")]
    if spec.network.mode == "none":
        namespaces.append({"type": "network"})
    elif spec.network.mode == "join":
        namespaces.append({"type": "network", "path": spec.network.netns_path or ""})
    return namespaces


def config_from_spec(spec: ContainerSpec) -> dict[str, Any]:
    capabilities = sorted(security.effective_capability_names(spec))
    resources = spec.resources
    linux_resources: dict[str, Any] = {}
    if resources.memory is not None:
        linux_resources["memory"] = {"limit": resources.memory}
        if resources.memory_swap is not None:
            linux_resources["memory"]["swap"] = resources.memory_swap
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
