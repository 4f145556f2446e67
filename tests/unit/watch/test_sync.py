"""The sync engine against a directory standing in for a container's root."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest

from stackr.errors import HostError
from stackr.watch.sync import ContainerRoot, Owner, SyncItem


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    host = tmp_path / "host"
    root = tmp_path / "root"
    host.mkdir()
    (root / "app").mkdir(parents=True)
    (root / "etc").mkdir()
    return host, root


def me() -> Owner:
    return Owner(os.getuid(), os.getgid())


def item(host: Path, name: str, target: str = "/app") -> SyncItem:
    return SyncItem(host / name, PurePosixPath(target) / name)


def test_new_changed_deleted_renamed(dirs: tuple[Path, Path]) -> None:
    host, root = dirs
    container = ContainerRoot(root)
    (host / "new.txt").write_text("new")
    (host / "run.sh").write_text("#!/bin/sh\n")
    (host / "run.sh").chmod(0o751)
    report = container.sync([item(host, "new.txt"), item(host, "run.sh")], me())
    assert report.copied == ("/app/new.txt", "/app/run.sh") and not report.failed
    assert (root / "app/new.txt").read_text() == "new"
    assert (root / "app/run.sh").stat().st_mode & 0o777 == 0o751
    assert report.bytes_copied == 13

    (host / "new.txt").write_text("changed")
    container.sync([item(host, "new.txt")], me())
    assert (root / "app/new.txt").read_text() == "changed"

    (host / "new.txt").rename(host / "renamed.txt")  # a rename: two events
    report = container.sync([item(host, "new.txt"), item(host, "renamed.txt")], me())
    assert report.deleted == ("/app/new.txt",) and report.copied == ("/app/renamed.txt",)
    assert not (root / "app/new.txt").exists()
    assert (root / "app/renamed.txt").read_text() == "changed"

    (host / "run.sh").unlink()
    report = container.sync([item(host, "run.sh")], me())
    assert report.deleted == ("/app/run.sh",)
    assert sorted(p.name for p in (root / "app").iterdir()) == ["renamed.txt"]  # no temp


def test_directory_tree_with_filter_and_parents_made(dirs: tuple[Path, Path]) -> None:
    host, root = dirs
    (host / "pkg/sub").mkdir(parents=True)
    (host / "pkg/a.py").write_text("a")
    (host / "pkg/sub/b.py").write_text("b")
    (host / "pkg/sub/b.log").write_text("log")
    (host / "pkg/link").symlink_to("a.py")
    items = [SyncItem(host / "pkg", PurePosixPath("/srv/deep/pkg"),
                      keep=lambda p: p.suffix != ".log"),
             SyncItem(host / "pkg/a.py", PurePosixPath("/srv/deep/pkg/a.py"))]
    report = ContainerRoot(root).sync(items, me())
    assert not report.failed
    assert (root / "srv/deep/pkg/sub/b.py").read_text() == "b"
    assert not (root / "srv/deep/pkg/sub/b.log").exists()
    assert os.readlink(root / "srv/deep/pkg/link") == "a.py"
    assert report.copied.count("/srv/deep/pkg/a.py") == 1  # collapsed under the tree
    # the whole directory deleted on the host
    for path in sorted((host / "pkg").rglob("*"), reverse=True):
        path.unlink() if not path.is_dir() or path.is_symlink() else path.rmdir()
    (host / "pkg").rmdir()
    report = ContainerRoot(root).sync([SyncItem(host / "pkg", PurePosixPath("/srv/deep/pkg")),
                                       SyncItem(host / "pkg/a.py",
                                                PurePosixPath("/srv/deep/pkg/a.py"))], me())
    assert report.deleted == ("/srv/deep/pkg",)
    assert not (root / "srv/deep/pkg").exists()


def test_file_replaces_directory_and_link_not_followed(dirs: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    host, root = dirs
    outside = tmp_path / "outside.txt"
    outside.write_text("host secret")
    (root / "app/conf").mkdir()
    (root / "app/conf/x").write_text("x")
    (root / "app/data").symlink_to(outside)  # a link the container made, to a host path
    (host / "conf").write_text("now a file")
    (host / "data").write_text("replaces the link")
    report = ContainerRoot(root).sync([item(host, "conf"), item(host, "data")], me())
    assert not report.failed
    assert (root / "app/conf").read_text() == "now a file"
    assert not (root / "app/data").is_symlink()
    assert outside.read_text() == "host secret"


def test_symlink_escapes_stay_inside_root(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    host, root = dirs
    escape = tmp_path / "escape"
    escape.mkdir()
    # links inside the container that point out of it, absolute and relative
    (root / "app/abs").symlink_to(escape)
    (root / "app/rel").symlink_to("../../../../../../" + str(escape).lstrip("/"))
    (root / "app/etc").symlink_to("/etc")
    (host / "f.txt").write_text("payload")
    items = [SyncItem(host / "f.txt", PurePosixPath(f"/app/{name}/f.txt"))
             for name in ("abs", "rel", "etc")]
    report = ContainerRoot(root).sync(items, me())
    assert list(escape.iterdir()) == []  # nothing written outside the root
    assert not Path("/etc/f.txt").exists() or Path("/etc/f.txt").read_text() != "payload"
    # each link resolved as the container would, inside its own root: /etc exists there
    assert report.copied == ("/app/etc/f.txt",)
    assert (root / "etc/f.txt").read_text() == "payload"
    # the links to host paths lead nowhere inside the root: refused, and said so
    assert [line.split(":")[0] for line in report.failed] == ["/app/abs/f.txt",
                                                              "/app/rel/f.txt"]
    # once the container has that directory, the same link leads into it, still inside
    (root / str(escape).lstrip("/")).mkdir(parents=True)
    report = ContainerRoot(root).sync(items[:2], me())
    assert not report.failed
    assert (root / str(escape).lstrip("/") / "f.txt").read_text() == "payload"
    assert list(escape.iterdir()) == []


def test_dotdot_target_refused(dirs: tuple[Path, Path]) -> None:
    host, root = dirs
    (host / "f").write_text("f")
    report = ContainerRoot(root).sync([SyncItem(host / "f", PurePosixPath("/app/../../f"))])
    assert report.failed and not report.copied


def test_unreadable_source_reported_others_land(dirs: tuple[Path, Path]) -> None:
    host, root = dirs
    (host / "fifo").mkdir()
    (host / "ok.txt").write_text("ok")
    missing_parent = SyncItem(host / "ok.txt", PurePosixPath("/"))
    report = ContainerRoot(root).sync([missing_parent, item(host, "ok.txt")], me())
    assert report.copied == ("/app/ok.txt",) and len(report.failed) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_owner_is_the_containers_user(dirs: tuple[Path, Path]) -> None:
    host, root = dirs
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1234:2345::/app:/x\n")
    (root / "etc/group").write_text("root:x:0:\nstaff:x:50:\n")
    container = ContainerRoot(root)
    assert container.resolve_owner("app") == Owner(1234, 2345)
    assert container.resolve_owner("app:staff") == Owner(1234, 50)
    assert container.resolve_owner("4000") == Owner(4000, 0)
    assert container.resolve_owner("4000:7") == Owner(4000, 7)
    assert container.resolve_owner(None) == Owner(0, 0)
    with pytest.raises(HostError):
        container.resolve_owner("nobody-here")
    (host / "d").mkdir()
    (host / "d/f").write_text("f")
    container.sync([SyncItem(host / "d/f", PurePosixPath("/new/dir/f"))],
                   container.resolve_owner("app"))
    for path in ("new", "new/dir", "new/dir/f"):
        info = (root / path).stat()
        assert (info.st_uid, info.st_gid) == (1234, 2345), path


def test_passwd_symlink_out_of_root_is_not_read(dirs: tuple[Path, Path], tmp_path: Path
                                                ) -> None:
    _, root = dirs
    fake = tmp_path / "hostpasswd"
    fake.write_text("app:x:999:999::/:/x\n")
    (root / "etc/passwd").symlink_to(fake)
    with pytest.raises(HostError):
        ContainerRoot(root).resolve_owner("app")
