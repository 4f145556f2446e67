"""The container's root filesystem, built inside its own mount namespace.

Called by the container's PID 1 (``stackr.runtime.init``) in this order:

1. ``make_mounts_private``: nothing mounted from here on propagates to the host;
2. ``mount_root``: OverlayFS of the image layers (or a bind of a plain dir);
3. ``mount_standard``: /proc, /dev (tmpfs + nodes, devpts, shm, mqueue), /sys read-only;
4. ``mount_user``: bind/volume/tmpfs mounts, then /etc/hosts, hostname, resolv.conf;
5. ``enter_root``: pivot_root and detach the old root;
6. ``mask_paths`` / ``readonly_paths``: Docker's /proc and /sys protections;
7. ``remount_root_readonly`` for ``read_only: true`` (last: mount points exist by then).

Mount targets are resolved inside the new root with symlinks followed *within* it
(``resolve_in_root``), so an image's symlink cannot send a mount onto the host.
The overlay needs no unmount: it lives in the container's mount namespace and
disappears with it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from stackr import rootpath, syscalls
from stackr.runtime.spec import DeviceSpec, MountSpec

_MOUNT_DATA_LIMIT = 4096  # the kernel copies one page of mount data

# (name, major, minor): Docker's minimal /dev
DEVICE_NODES = (
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
)
DEV_SYMLINKS = (
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
)
_FLAG_OPTIONS = {
    "nosuid": syscalls.MS_NOSUID,
    "nodev": syscalls.MS_NODEV,
    "noexec": syscalls.MS_NOEXEC,
}


class MountError(Exception):
    """A mount step failed; the message names the target and the cause."""


def _mount(
    source: str, target: str, fstype: str | None, flags: int, data: str | None = None
) -> None:
    try:
        syscalls.mount(source, target, fstype, flags, data)
    except OSError as error:
        kind = fstype or "bind"
        raise MountError(f"mount {kind} {source} on {target}: {error.strerror}") from error


def resolve_in_root(root: str, path: str) -> str:
    """The host path of container path ``path``, following symlinks as if ``root`` were /.

    Missing trailing components are kept as they are (the caller creates them).
    """
    try:
        return str(rootpath.resolve_in_root(Path(root), path))
    except OSError as error:
        raise MountError(f"resolving {path} in the container: {error.strerror}") from error


def _ensure_target(host_path: str, is_dir: bool) -> None:
    if os.path.lexists(host_path):
        return
    os.makedirs(os.path.dirname(host_path), exist_ok=True)
    if is_dir:
        os.mkdir(host_path, 0o755)
    else:
        os.close(os.open(host_path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))


def make_mounts_private() -> None:
    # Mount events must not propagate back to the host's (often shared) root.
    _mount("none", "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)


def overlay_options(layer_dirs: tuple[str, ...], upper_dir: str, work_dir: str) -> str:
    """OverlayFS data: ``lowerdir`` lists the *top* layer first; layers are base first."""
    lower = ":".join(reversed(layer_dirs))
    return f"lowerdir={lower},upperdir={upper_dir},workdir={work_dir}"


def mount_root(
    mountpoint: str,
    layer_dirs: tuple[str, ...],
    upper_dir: str,
    work_dir: str,
    rootfs_dir: str | None,
) -> None:
    if rootfs_dir:
        # pivot_root needs the new root to be a mount point: bind the dir onto itself.
        _mount(rootfs_dir, mountpoint, None, syscalls.MS_BIND | syscalls.MS_REC)
        return
    options = overlay_options(layer_dirs, upper_dir, work_dir)
    if len(options) < _MOUNT_DATA_LIMIT:
        _mount("overlay", mountpoint, "overlay", 0, options)
        return
    # Mount data is one page: with many layers, name them relative to their common
    # parent (overlay resolves relative paths against the mounter's cwd).
    common = os.path.commonpath(layer_dirs)
    relative = tuple(os.path.relpath(layer, common) for layer in layer_dirs)
    options = overlay_options(relative, upper_dir, work_dir)
    if len(options) >= _MOUNT_DATA_LIMIT:
        raise MountError(f"too many image layers ({len(layer_dirs)}) for one overlay mount")
    os.chdir(common)
    try:
        _mount("overlay", mountpoint, "overlay", 0, options)
    finally:
        os.chdir("/")


def make_devices(root: str, devices: Iterable[DeviceSpec]) -> None:
    """compose's ``devices``: nodes with the host device's numbers (after /dev is ours)."""
    for device in devices:
        node = resolve_in_root(root, device.path)
        os.makedirs(os.path.dirname(node), mode=0o755, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(node)  # a standard node of the same name: the device asked for wins
        kind = stat.S_IFCHR if device.kind == "c" else stat.S_IFBLK
        os.mknod(node, device.file_mode | kind, os.makedev(device.major, device.minor))
        os.chmod(node, device.file_mode)  # mknod honours the umask


def mount_standard(root: str, shm_size: int) -> None:
    nosuid_nodev_noexec = syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC
    proc = resolve_in_root(root, "/proc")
    _ensure_target(proc, True)
    _mount("proc", proc, "proc", nosuid_nodev_noexec)

    dev = resolve_in_root(root, "/dev")
    _ensure_target(dev, True)
    _mount(
        "tmpfs", dev, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_STRICTATIME, "mode=755,size=65536k"
    )
    for name, major, minor in DEVICE_NODES:
        node = os.path.join(dev, name)
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(node, 0o666)  # mknod honours the umask
    for name, target in DEV_SYMLINKS:
        os.symlink(target, os.path.join(dev, name))
    if os.path.exists(os.path.join(proc, "kcore")):  # as runc: only where the kernel has one
        os.symlink("/proc/kcore", os.path.join(dev, "core"))
    for name in ("pts", "shm", "mqueue"):
        os.mkdir(os.path.join(dev, name), 0o755)
    _mount(
        "devpts",
        os.path.join(dev, "pts"),
        "devpts",
        syscalls.MS_NOSUID | syscalls.MS_NOEXEC,
        "newinstance,ptmxmode=0666,mode=0620,gid=5",
    )
    _mount(
        "shm", os.path.join(dev, "shm"), "tmpfs", nosuid_nodev_noexec, f"mode=1777,size={shm_size}"
    )
    _mount("mqueue", os.path.join(dev, "mqueue"), "mqueue", nosuid_nodev_noexec)

    # A fresh sysfs, read-only, also with the host's network: a recursive bind of the
    # host's /sys would bring its cgroup mounts along, and only the top of a bind
    # becomes read-only. Real root may mount sysfs for the host's network namespace.
    sys_dir = resolve_in_root(root, "/sys")
    _ensure_target(sys_dir, True)
    _mount("sysfs", sys_dir, "sysfs", nosuid_nodev_noexec | syscalls.MS_RDONLY)


def mount_cgroups(root: str, hierarchies: list[str] | None) -> None:
    """/sys/fs/cgroup read-only, showing the container's own cgroup (Docker's view).

    Called after the cgroup namespace is made, so each hierarchy's root is the
    container's cgroup. ``hierarchies`` are v1 mount options ("memory", "cpu",
    "cpu,cpuacct"); None means cgroup v2 (one mount).
    """
    read_only = syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC | syscalls.MS_RDONLY
    target = os.path.join(root, "sys", "fs", "cgroup")
    if hierarchies is None:
        _mount("cgroup2", target, "cgroup2", read_only)
        return
    _mount("tmpfs", target, "tmpfs", read_only & ~syscalls.MS_RDONLY, "mode=755")
    for hierarchy in hierarchies:
        directory = os.path.join(target, hierarchy)
        os.mkdir(directory, 0o755)
        _mount("cgroup", directory, "cgroup", read_only, hierarchy)
    _mount("", target, None, syscalls.MS_REMOUNT | read_only, "mode=755")


def _mount_flags(options: tuple[str, ...]) -> int:
    flags = 0
    for option in options:
        flags |= _FLAG_OPTIONS.get(option, 0)
    return flags


def mount_user(root: str, mount: MountSpec) -> None:
    target = resolve_in_root(root, mount.target)
    flags = _mount_flags(mount.options)
    if mount.kind == "tmpfs":
        _ensure_target(target, True)
        data = []
        if mount.tmpfs_size is not None:
            data.append(f"size={mount.tmpfs_size}")
        data.append(f"mode={mount.tmpfs_mode if mount.tmpfs_mode is not None else 0o1777:o}")
        if mount.read_only:
            flags |= syscalls.MS_RDONLY
        _mount(
            "tmpfs", target, "tmpfs", flags | syscalls.MS_NOSUID | syscalls.MS_NODEV, ",".join(data)
        )
        return
    bind_mount(mount.source, target, mount.read_only, flags)


def bind_mount(source: str, target: str, read_only: bool, flags: int = 0) -> None:
    try:
        is_dir = os.path.isdir(source)
    except OSError:
        is_dir = False
    if not os.path.exists(source):
        raise MountError(f"bind mount source {source} does not exist")
    _ensure_target(target, is_dir)
    _mount(source, target, None, syscalls.MS_BIND | syscalls.MS_REC)
    # Flags of a bind mount only change on a remount of that bind.
    if read_only or flags:
        remount_flags = syscalls.MS_BIND | syscalls.MS_REMOUNT | flags
        if read_only:
            remount_flags |= syscalls.MS_RDONLY
        _mount("", target, None, remount_flags | _locked_flags(target))
    _mount("", target, None, syscalls.MS_REC | syscalls.MS_PRIVATE)


def _locked_flags(target: str) -> int:
    """nosuid/nodev/noexec already on the mount: a remount that drops them gets EPERM."""
    flags = 0
    stats = os.statvfs(target)
    for bit, mount_flag in (
        (os.ST_NOSUID, syscalls.MS_NOSUID),
        (os.ST_NODEV, syscalls.MS_NODEV),
        (os.ST_NOEXEC, syscalls.MS_NOEXEC),
    ):
        if stats.f_flag & bit:
            flags |= mount_flag
    return flags


def bind_etc_files(root: str, files: dict[str, str | None]) -> None:
    """/etc/hosts, /etc/hostname, /etc/resolv.conf from files the engine writes."""
    for container_path, host_file in sorted(files.items()):
        if host_file:
            bind_mount(host_file, resolve_in_root(root, container_path), False)


def enter_root(root: str) -> None:
    """pivot_root(".", "."): the old root is stacked under the new one, then detached.

    runc's trick: no put_old directory is needed inside the image, and the lazy
    unmount drops every host mount from the container's view.
    """
    os.chdir(root)
    try:
        syscalls.pivot_root(".", ".")
        syscalls.umount2(".", syscalls.MNT_DETACH)
    except OSError as error:
        raise MountError(f"pivot_root to {root}: {error.strerror}") from error
    os.chdir("/")


def mask_paths(paths: tuple[str, ...]) -> None:
    """Hide each path: /dev/null over files, an empty read-only tmpfs over directories."""
    for path in paths:
        try:
            is_dir = os.path.isdir(path)
            if not os.path.lexists(path):
                continue
        except OSError:
            continue
        try:
            if is_dir:
                syscalls.mount("tmpfs", path, "tmpfs", syscalls.MS_RDONLY, None)
            else:
                syscalls.mount("/dev/null", path, None, syscalls.MS_BIND, None)
        except OSError as error:
            if error.errno not in (errno.ENOENT, errno.ENOTDIR):
                raise MountError(f"mask {path}: {error.strerror}") from error


def readonly_paths(paths: tuple[str, ...]) -> None:
    for path in paths:
        if not os.path.exists(path):
            continue
        try:
            syscalls.mount(path, path, None, syscalls.MS_BIND | syscalls.MS_REC, None)
            syscalls.mount(
                "",
                path,
                None,
                syscalls.MS_BIND | syscalls.MS_REMOUNT | syscalls.MS_RDONLY | _locked_flags(path),
                None,
            )
        except OSError as error:
            if error.errno != errno.ENOENT:
                raise MountError(f"make {path} read-only: {error.strerror}") from error


def remount_root_readonly() -> None:
    _mount(
        "",
        "/",
        None,
        syscalls.MS_BIND | syscalls.MS_REMOUNT | syscalls.MS_RDONLY | _locked_flags("/"),
    )


def make_workdir(cwd: str) -> None:
    Path(cwd).mkdir(parents=True, exist_ok=True)
