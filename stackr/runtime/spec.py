"""The frozen description of a container that the runtime consumes (runc's configs.Config).

The engine translates its model into a ``ContainerSpec``; the runtime never sees
pydantic models or compose syntax. Everything here is plain data: sizes in bytes,
paths absolute, users as Docker writes them (``"name"``, ``"uid"``, ``"uid:gid"``,
``"name:group"``) and resolved *inside* the container from the image's /etc/passwd and
/etc/group. ``to_json``/``from_json`` carry a spec to the re-executed init process.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

from stackr.errors import UsageError
from stackr.record import as_plain, frozen_record, record_field, record_names

TYPE_CHECKING = False  # mypy reads True: typing is not imported at run time
if TYPE_CHECKING:
    from typing import Any, Literal

# Docker's default masked and read-only paths (moby oci/defaults.go).
DEFAULT_MASKED_PATHS: tuple[str, ...] = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
DEFAULT_READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)

# Docker's default capability set (moby oci/caps/defaults.go).
DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

DEFAULT_SHM_SIZE = 64 * 1024 * 1024  # Docker's default /dev/shm
DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# runc's validateID: the id becomes a path component and a cgroup name.
_CONTAINER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$")

if TYPE_CHECKING:
    MountKind = Literal["bind", "volume", "tmpfs"]
    NetworkMode = Literal["none", "host", "join"]
    SeccompMode = Literal["default", "unconfined"]


def validate_container_id(container_id: str) -> str:
    """Refuse ids that could escape the state directory or be an odd cgroup name."""
    if not _CONTAINER_ID.match(container_id) or container_id in (".", ".."):
        raise UsageError(
            f"invalid container id {container_id!r}: use 1-128 of [A-Za-z0-9_.+-], "
            "starting with a letter or digit"
        )
    return container_id


@frozen_record
class MountSpec:
    """One mount in the container, made after the root and before pivot_root.

    ``bind`` and ``volume`` mount the host directory or file ``source`` (a volume is a
    directory the engine owns; both are bind mounts to the kernel), recursively and with
    private propagation. ``tmpfs`` mounts a fresh tmpfs (``tmpfs_size`` bytes,
    ``tmpfs_mode`` octal permissions). The target is created if it is missing.
    """

    target: str
    kind: MountKind = "bind"
    source: str = ""
    read_only: bool = False
    options: tuple[str, ...] = ()  # extra flags: "nosuid", "nodev", "noexec"
    tmpfs_size: int | None = None
    tmpfs_mode: int | None = None


# One rule of the devices cgroup (v1): type, major:minor (or *), access.
DEVICE_CGROUP_RULE = re.compile(r"^[abc] (\d+|\*):(\d+|\*) [rwm]{1,3}$")


@frozen_record
class Resources:
    """cgroup limits; ``None`` means "no limit" (the kernel default)."""

    memory: int | None = None  # bytes (mem_limit)
    memory_swap: int | None = None  # bytes of memory+swap as Docker; -1 unlimited
    memory_reservation: int | None = None  # bytes (soft limit)
    cpus: float | None = None  # CPUs worth of time per period (cpus: 1.5)
    cpu_shares: int | None = None  # relative weight, Docker's 2..262144 (default 1024)
    cpuset_cpus: str | None = None  # "0-1"
    pids_limit: int | None = None  # max tasks; <= 0 unlimited as Docker
    memory_swappiness: int | None = None  # 0-100 (cgroup v1 only, as Docker)
    disable_oom_killer: bool = False  # cgroup v1 only, as Docker
    blkio_weight: int | None = None  # 10-1000, relative (a proportional I/O scheduler's)
    # "MAJOR:MINOR WEIGHT" per device; "read_bps|write_bps|read_iops|write_iops
    # MAJOR:MINOR RATE" limits per device
    blkio_weight_devices: tuple[str, ...] = ()
    blkio_limits: tuple[str, ...] = ()


@frozen_record
class DeviceSpec:
    """A host device node made inside the container (compose's ``devices``), and
    allowed by the device cgroup (v1) with ``permissions`` (r, w, m)."""

    path: str  # where, in the container
    kind: str  # "c" (character) or "b" (block)
    major: int
    minor: int
    file_mode: int = 0o666
    permissions: str = "rwm"

    @property
    def cgroup_rule(self) -> str:
        return f"{self.kind} {self.major}:{self.minor} {self.permissions}"


@frozen_record
class Ulimit:
    """One resource limit (``ulimits``), soft and hard."""

    name: str  # Docker's names: "nofile", "nproc", "core", "memlock", "stack", ...
    soft: int
    hard: int


@frozen_record
class NetworkSpec:
    """Which network namespace the container lives in.

    ``none``: a new namespace with only loopback (up). ``host``: the host's namespace.
    ``join``: the namespace bound at ``netns_path`` (prepared by the network code).
    """

    mode: NetworkMode = "none"
    netns_path: str | None = None


@frozen_record
class RootfsSpec:
    """The root filesystem: image layers under a per-container writable layer, or a dir.

    ``layer_dirs`` are unpacked image layers, **base first** (manifest order); they become
    the overlay ``lowerdir`` (top first) and are never written. The upper and work dirs
    belong to the container (``container.rw_layer_dir``); they survive stop and re-create
    and go with ``delete``. ``rootfs_dir`` instead uses a plain directory as the root,
    written in place (as runc does with a bundle's ``root.path``).
    """

    layer_dirs: tuple[str, ...] = ()
    rootfs_dir: str | None = None


@frozen_record
class ContainerSpec:
    """Everything the runtime needs to build one container."""

    container_id: str
    rootfs: RootfsSpec
    args: tuple[str, ...]
    env: tuple[str, ...] = (DEFAULT_PATH_ENV,)  # "KEY=value"
    cwd: str = "/"
    user: str = ""  # "" = root; "name", "uid", "uid:gid", "name:group"
    group_add: tuple[str, ...] = ()  # supplementary groups, names or numbers
    umask: int = 0o022
    hostname: str = ""
    domainname: str = ""
    mounts: tuple[MountSpec, ...] = ()
    read_only: bool = False
    shm_size: int = DEFAULT_SHM_SIZE
    network: NetworkSpec = NetworkSpec()
    # IPC and PID namespaces: "" a new one, "host" the host's, or a path to join
    # (/proc/PID/ns/ipc of another container: compose's ipc/pid: service:x)
    ipc_namespace: str = ""
    pid_namespace: str = ""
    # UTS and cgroup namespaces: "" a new one, "host" the host's
    uts_namespace: str = ""
    cgroup_namespace: str = ""
    resources: Resources = Resources()
    devices: tuple[DeviceSpec, ...] = ()
    device_cgroup_rules: tuple[str, ...] = ()  # more of the devices cgroup (v1): c 188:* rmw
    cap_add: tuple[str, ...] = ()  # "NET_ADMIN" or "CAP_NET_ADMIN"; "ALL"
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    no_new_privileges: bool = False
    seccomp: SeccompMode = "default"
    sysctls: Mapping[str, str] = record_field(default_factory=dict)
    ulimits: tuple[Ulimit, ...] = ()
    oom_score_adj: int | None = None
    init: bool = False  # a reaping, signal-forwarding PID 1 in front of args
    tty: bool = False  # stdin/out/err are the given terminal, made controlling
    stop_signal: str = "SIGTERM"  # recorded for the engine; the runtime never stops by itself
    masked_paths: tuple[str, ...] = DEFAULT_MASKED_PATHS
    readonly_paths: tuple[str, ...] = DEFAULT_READONLY_PATHS
    hosts_file: str | None = None  # host file bind-mounted at /etc/hosts
    hostname_file: str | None = None  # ... at /etc/hostname
    resolv_conf_file: str | None = None  # ... at /etc/resolv.conf
    labels: Mapping[str, str] = record_field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_container_id(self.container_id)
        if not self.args:
            raise UsageError(f"container {self.container_id}: no command to run")
        if bool(self.rootfs.layer_dirs) == bool(self.rootfs.rootfs_dir):
            raise UsageError(
                f"container {self.container_id}: give either image layers or a rootfs dir"
            )
        for device in self.devices:
            if not device.path.startswith("/") or device.kind not in ("b", "c") or not (
                    device.permissions and set(device.permissions) <= set("rwm")):
                raise UsageError(f"container {self.container_id}: device {device.path!r}: "
                                 "needs an absolute path, kind b or c, permissions of rwm")
        for kind, namespace in (("ipc", self.ipc_namespace), ("pid", self.pid_namespace)):
            if namespace not in ("", "host") and not namespace.startswith("/"):
                raise UsageError(f"container {self.container_id}: {kind} namespace "
                                 f"{namespace!r}: give host or a path to join")
        for kind, namespace in (("uts", self.uts_namespace), ("cgroup", self.cgroup_namespace)):
            if namespace not in ("", "host"):
                raise UsageError(f"container {self.container_id}: {kind} namespace "
                                 f"{namespace!r}: give host or nothing")
        if self.uts_namespace == "host" and (self.hostname or self.domainname):
            raise UsageError(f"container {self.container_id}: a hostname in the host's "
                             "UTS namespace would be the host's")
        for rule in self.device_cgroup_rules:
            if not DEVICE_CGROUP_RULE.match(rule):
                raise UsageError(f"container {self.container_id}: device cgroup rule {rule!r}: "
                                 "give type major:minor access (c 188:* rmw)")
        if self.network.mode == "join" and not self.network.netns_path:
            raise UsageError(f"container {self.container_id}: network join needs a netns path")
        if not self.cwd.startswith("/"):
            raise UsageError(f"container {self.container_id}: working dir {self.cwd!r} is relative")
        for mount in self.mounts:
            if not mount.target.startswith("/"):
                raise UsageError(
                    f"container {self.container_id}: mount target {mount.target!r} is relative"
                )
            if mount.kind != "tmpfs" and not mount.source:
                raise UsageError(
                    f"container {self.container_id}: {mount.kind} mount at {mount.target} "
                    "has no source"
                )

    def to_json(self) -> str:
        return json.dumps(as_plain(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ContainerSpec:
        return spec_from_dict(json.loads(text))


def _tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value)


def spec_from_dict(data: dict[str, Any]) -> ContainerSpec:
    """Rebuild a spec from ``as_plain`` or ``asdict`` output (lists back to tuples,
    nested records)."""
    values = dict(data)
    values["rootfs"] = RootfsSpec(
        layer_dirs=_tuple(data["rootfs"]["layer_dirs"]), rootfs_dir=data["rootfs"]["rootfs_dir"]
    )
    values["network"] = NetworkSpec(**data["network"])
    resources: dict[str, Any] = {
        name: tuple(value) if isinstance(value, list) else value
        for name, value in data["resources"].items()
    }
    values["resources"] = Resources(**resources)
    values["mounts"] = tuple(
        MountSpec(**{**m, "options": _tuple(m["options"])}) for m in data["mounts"]
    )
    values["ulimits"] = tuple(Ulimit(**u) for u in data["ulimits"])
    values["devices"] = tuple(DeviceSpec(**d) for d in data.get("devices", ()))
    for name in record_names(ContainerSpec):
        if isinstance(values.get(name), list):
            values[name] = tuple(values[name])
    return ContainerSpec(**values)


@frozen_record
class ContainerStdio:
    """The host file descriptors that become the container's fds 0, 1 and 2.

    They are handed to the container process as they are (runc's pass-through mode): a
    pipe's write end, a log file opened with O_APPEND, or a pty slave (``tty: true``;
    the same fd three times). ``None`` is /dev/null. The caller keeps its copies and
    closes them when it wants to.

    ``console_socket`` (with ``tty: true``): a connected AF_UNIX socket. The runtime then
    makes the terminal inside the container (its own devpts, so ``tty`` and ``ttyname``
    work), makes it the command's stdin/out/err, and sends the pty master over this
    socket (SCM_RIGHTS, one byte of data) before ``create`` returns: runc's
    ``--console-socket``. Receive it with ``socket.recv_fds(sock, 1, 1)``.
    """

    stdin: int | None = None
    stdout: int | None = None
    stderr: int | None = None
    console_socket: int | None = None


def rw_layer_paths(base: Path) -> tuple[Path, Path]:
    """The overlay upper and work dirs inside a container's writable-layer dir."""
    return base / "upper", base / "work"
