from __future__ import annotations

import os
from pathlib import Path

import pytest

from stackr.build.context import SourceError, SourceTree
from stackr.build.copier import CopyRequest, Owner, copy_sources, parse_chmod, resolve_user


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/:/bin/sh\n"
                                     "num:x:2000:2001::/:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\nstaff:x:50:\n")
    (root / "usr/bin").mkdir(parents=True)
    os.symlink("/usr/bin", root / "bin")
    os.symlink("/", root / "escape")
    return root


@pytest.fixture
def context(tmp_path: Path) -> SourceTree:
    directory = tmp_path / "ctx"
    (directory / "dir/sub").mkdir(parents=True)
    (directory / "dir/a").write_text("a")
    (directory / "dir/sub/b").write_text("b")
    (directory / "file").write_text("f")
    os.chmod(directory / "file", 0o600)
    return SourceTree(directory)


def copy(context: SourceTree, root: Path, sources: list[str], dest: str,
         workdir: str = "/", **request: object) -> None:
    selections = [s for source in sources for s in context.select(source)]
    copy_sources(context, selections, root, CopyRequest(dest, workdir, **request),  # type: ignore[arg-type]
                 several=len(selections) > 1)


def test_file_to_a_new_name_and_into_a_directory(context: SourceTree, root: Path) -> None:
    copy(context, root, ["file"], "/opt/renamed")
    assert (root / "opt/renamed").read_text() == "f"
    assert (root / "opt/renamed").stat().st_mode & 0o777 == 0o600
    copy(context, root, ["file"], "/opt/")
    assert (root / "opt/file").read_text() == "f"
    copy(context, root, ["file"], "/etc")  # an existing directory
    assert (root / "etc/file").is_file()


def test_directory_source_copies_its_contents(context: SourceTree, root: Path) -> None:
    copy(context, root, ["dir"], "/app")
    assert (root / "app/a").read_text() == "a"
    assert (root / "app/sub/b").read_text() == "b"
    assert not (root / "app/dir").exists()


def test_relative_dest_uses_workdir(context: SourceTree, root: Path) -> None:
    copy(context, root, ["file"], "conf/", workdir="/srv")
    assert (root / "srv/conf/file").is_file()
    copy(context, root, ["file"], ".", workdir="/srv")
    assert (root / "srv/file").is_file()


def test_several_sources_need_a_directory_dest(context: SourceTree, root: Path) -> None:
    with pytest.raises(SourceError, match="must be a directory and end with /"):
        copy(context, root, ["file", "dir/a"], "/x")
    copy(context, root, ["file", "dir/a"], "/x/")
    assert sorted(p.name for p in (root / "x").iterdir()) == ["a", "file"]


def test_writes_stay_inside_the_root(context: SourceTree, root: Path) -> None:
    copy(context, root, ["file"], "/bin/")  # /bin -> /usr/bin inside the image
    assert (root / "usr/bin/file").is_file()
    copy(context, root, ["file"], "/escape/tmp/")  # "/" of the image, not the host's
    assert (root / "tmp/file").is_file()


def test_chmod_and_symlink_replacement(context: SourceTree, root: Path) -> None:
    os.symlink("/etc/passwd", root / "target")
    copy(context, root, ["file"], "/target", mode=0o744)
    assert not (root / "target").is_symlink()
    assert (root / "target").stat().st_mode & 0o777 == 0o744
    assert (root / "etc/passwd").read_text().startswith("root")


def test_resolve_user(root: Path) -> None:
    assert resolve_user(root, "app") == Owner(1000, 1001)
    assert resolve_user(root, "app:staff") == Owner(1000, 50)
    assert resolve_user(root, "2000") == Owner(2000, 2001)
    assert resolve_user(root, "3000") == Owner(3000, 3000)
    assert resolve_user(root, "3000:7") == Owner(3000, 7)
    with pytest.raises(SourceError, match="unknown user 'ghost'"):
        resolve_user(root, "ghost")
    with pytest.raises(SourceError, match="unknown group 'ghosts'"):
        resolve_user(root, "app:ghosts")


def test_parse_chmod() -> None:
    assert parse_chmod("755") == 0o755
    assert parse_chmod("0644") == 0o644
    with pytest.raises(SourceError, match="not an octal mode"):
        parse_chmod("u+x")


def test_chown_applies_to_new_directories_too(context: SourceTree, root: Path) -> None:
    copy(context, root, ["file"], "/srv/new/", owner=Owner(1000, 1001))
    if os.geteuid() != 0:
        pytest.skip("setting owners needs root")
    assert (root / "srv/new").stat().st_uid == 1000
    assert (root / "srv/new/file").stat().st_gid == 1001
