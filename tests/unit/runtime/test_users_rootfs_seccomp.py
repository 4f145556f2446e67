"""Pure parts of the init: user lookup, path resolution in the root, the seccomp program."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from stackr.runtime import rootfs, seccomp
from stackr.runtime.users import ExecUser, UserLookupError, resolve_user

PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
GROUP = "root:x:0:\naudio:x:29:app\napp:x:1000:\nstaff:x:50:app,other\n"


@pytest.mark.parametrize(
    ("user", "group_add", "expected"),
    [
        ("", (), ExecUser(0, 0, (), "/root")),
        ("app", (), ExecUser(1000, 1000, (29, 50), "/home/app")),
        ("1000", (), ExecUser(1000, 1000, (29, 50), "/home/app")),
        ("app:staff", (), ExecUser(1000, 50, (), "/home/app")),
        ("4321", ("audio", "77"), ExecUser(4321, 0, (29, 77), "/")),
        ("0:1000", (), ExecUser(0, 1000, (), "/root")),
    ],
)
def test_resolve_user(user: str, group_add: tuple[str, ...], expected: ExecUser) -> None:
    assert resolve_user(user, group_add, PASSWD, GROUP) == expected


def test_unknown_names_are_errors() -> None:
    with pytest.raises(UserLookupError, match="unable to find user ghost"):
        resolve_user("ghost", (), PASSWD, GROUP)
    with pytest.raises(UserLookupError, match="unable to find group nope"):
        resolve_user("app:nope", (), PASSWD, GROUP)


def test_resolve_in_root_keeps_symlinks_inside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "var").mkdir()
    os.symlink("/etc", root / "var" / "abs")  # absolute: relative to the container root
    os.symlink("../../../../../..", root / "var" / "up")  # cannot climb above the root
    assert rootfs.resolve_in_root(str(root), "/var/abs/hosts") == str(root / "etc" / "hosts")
    assert rootfs.resolve_in_root(str(root), "/var/up/etc") == str(root / "etc")
    assert rootfs.resolve_in_root(str(root), "/new/dir") == str(root / "new" / "dir")


def test_symlink_loops_are_refused(tmp_path: Path) -> None:
    os.symlink("loop", tmp_path / "loop")
    with pytest.raises(rootfs.MountError, match="too many levels of symbolic links"):
        rootfs.resolve_in_root(str(tmp_path), "/loop/x")


def test_overlay_options_put_the_top_layer_first() -> None:
    options = rootfs.overlay_options(("/l/base", "/l/mid", "/l/top"), "/c/upper", "/c/work")
    assert options == "lowerdir=/l/top:/l/mid:/l/base,upperdir=/c/upper,workdir=/c/work"


def _instructions(program: bytes) -> list[tuple[int, int, int, int]]:
    return [struct.unpack("=HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]


def test_seccomp_program_denies_mount_unless_sys_admin() -> None:
    default = _instructions(seccomp.build_default_filter(0xA80425FB))
    compared = {k for code, _, _, k in default if code == 0x15}
    assert 165 in compared and 272 in compared  # mount, unshare
    assert default[0] == (0x20, 0, 0, 4)  # load the arch first
    assert default[-1] == (0x06, 0, 0, 0x7FFF0000)  # allow what is not listed
    with_admin = _instructions(seccomp.build_default_filter(0xA80425FB | (1 << 21)))
    compared_admin = {k for code, _, _, k in with_admin if code == 0x15}
    assert 165 not in compared_admin and 435 not in compared_admin
    assert 246 in compared_admin  # kexec_load still needs CAP_SYS_BOOT
    assert len(default) < 4096  # the kernel's BPF_MAXINSNS
