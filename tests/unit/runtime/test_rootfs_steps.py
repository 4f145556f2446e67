"""The mount steps, checked against a recording fake of ``stackr.syscalls`` (no root).

youki's ``TestHelperSyscall`` idea: replace the syscalls, call the step, and assert the
ordered list of what would have been done.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from stackr import syscalls
from stackr.runtime import rootfs
from stackr.runtime.spec import MountSpec


@dataclass(frozen=True)
class MountCall:
    source: str
    target: str
    fstype: str | None
    flags: int
    data: str | None


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[MountCall]:
    calls: list[MountCall] = []

    def fake_mount(
        source: str, target: str, fstype: str | None, flags: int, data: str | None = None
    ) -> None:
        calls.append(MountCall(source, target, fstype, flags, data))

    monkeypatch.setattr(syscalls, "mount", fake_mount)
    return calls


def test_overlay_root(recorded: list[MountCall], tmp_path: Path) -> None:
    rootfs.mount_root(str(tmp_path), ("/l/base", "/l/top"), "/c/up", "/c/work", None)
    assert recorded == [
        MountCall("overlay", str(tmp_path), "overlay", 0,
                  "lowerdir=/l/top:/l/base,upperdir=/c/up,workdir=/c/work"),
    ]  # fmt: skip


def test_plain_rootfs_is_bound_onto_the_mountpoint(recorded: list[MountCall]) -> None:
    rootfs.mount_root("/run/c/rootfs", (), "", "", "/bundle/rootfs")
    assert recorded == [
        MountCall("/bundle/rootfs", "/run/c/rootfs", None, syscalls.MS_BIND | syscalls.MS_REC, None)
    ]


def test_read_only_bind_is_remounted_then_made_private(
    recorded: list[MountCall], tmp_path: Path
) -> None:
    source = tmp_path / "data"
    source.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    rootfs.mount_user(str(root), MountSpec(target="/srv/data", source=str(source), read_only=True,
                                           options=("noexec",)))  # fmt: skip
    target = str(root / "srv" / "data")
    assert (root / "srv" / "data").is_dir()  # the mount point was made
    bind, remount, private = recorded
    assert (bind.source, bind.target, bind.flags) == (
        str(source),
        target,
        syscalls.MS_BIND | syscalls.MS_REC,
    )
    assert remount.target == target
    assert remount.flags & syscalls.MS_REMOUNT and remount.flags & syscalls.MS_RDONLY
    assert remount.flags & syscalls.MS_NOEXEC
    assert private.flags == syscalls.MS_REC | syscalls.MS_PRIVATE


def test_missing_bind_source_is_a_clear_error(recorded: list[MountCall], tmp_path: Path) -> None:
    with pytest.raises(rootfs.MountError, match="bind mount source /nope does not exist"):
        rootfs.mount_user(str(tmp_path), MountSpec(target="/x", source="/nope"))
    assert recorded == []


def test_tmpfs_mount_options(recorded: list[MountCall], tmp_path: Path) -> None:
    rootfs.mount_user(str(tmp_path), MountSpec(target="/run", kind="tmpfs", tmpfs_size=1 << 20,
                                               tmpfs_mode=0o750, read_only=True))  # fmt: skip
    (call,) = recorded
    assert call.fstype == "tmpfs" and call.data == "size=1048576,mode=750"
    assert call.flags & syscalls.MS_RDONLY and call.flags & syscalls.MS_NOSUID


def test_mount_targets_follow_symlinks_inside_the_root(
    recorded: list[MountCall], tmp_path: Path
) -> None:
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    os.symlink("/real", root / "link")
    rootfs.mount_user(str(root), MountSpec(target="/link/cache", kind="tmpfs"))
    assert recorded[0].target == str(root / "real" / "cache")


def test_masked_paths_hide_files_and_directories(recorded: list[MountCall], tmp_path: Path) -> None:
    secret_file = tmp_path / "keys"
    secret_file.write_text("k")
    secret_dir = tmp_path / "firmware"
    secret_dir.mkdir()
    rootfs.mask_paths((str(secret_file), str(secret_dir), str(tmp_path / "absent")))
    assert recorded == [
        MountCall("/dev/null", str(secret_file), None, syscalls.MS_BIND, None),
        MountCall("tmpfs", str(secret_dir), "tmpfs", syscalls.MS_RDONLY, None),
    ]
