from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from stackr.build.diff import UpperFormat, upper_is_empty, write_layer_tar

# Without root there are no 0/0 character devices nor trusted.* xattrs, so these tests
# mark deletions and opaque directories by name; the overlay forms are tested as root
# in tests/integration/build/test_diff_overlay.py.
MARKED = UpperFormat(
    is_whiteout=lambda path, info: path.name.startswith("DELETED-"),
    is_opaque=lambda path: (path / "OPAQUE").exists(),
)


def upper_tree(root: Path) -> Path:
    (root / "etc").mkdir(parents=True)
    (root / "etc/app.conf").write_text("conf")
    os.chmod(root / "etc/app.conf", 0o640)
    os.utime(root / "etc/app.conf", (1_600_000_000, 1_600_000_000))
    (root / "bin").mkdir()
    (root / "bin/tool").write_text("#!/bin/sh\n")
    os.chmod(root / "bin/tool", 0o755)
    os.link(root / "bin/tool", root / "bin/tool-alias")
    os.symlink("tool", root / "bin/link")
    os.mkfifo(root / "bin/fifo")
    return root


def entries(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {member.name: member for member in tar.getmembers()}


def layer(upper: Path, upper_format: UpperFormat = MARKED) -> tuple[bytes, str]:
    stream = io.BytesIO()
    result = write_layer_tar(upper, stream, upper_format=upper_format)
    return stream.getvalue(), result.diff_id


def test_files_links_and_metadata(tmp_path: Path) -> None:
    data, diff_id = layer(upper_tree(tmp_path / "upper"))
    members = entries(data)
    assert list(members) == ["bin", "bin/fifo", "bin/link", "bin/tool", "bin/tool-alias",
                             "etc", "etc/app.conf"]
    conf = members["etc/app.conf"]
    assert conf.isfile() and conf.mode == 0o640 and conf.mtime == 1_600_000_000
    assert conf.uname == "" and conf.size == 4
    assert members["bin"].isdir()
    assert members["bin/link"].issym() and members["bin/link"].linkname == "tool"
    assert members["bin/fifo"].isfifo()
    # The second name of a hard-linked file is a link entry, not a second copy.
    assert members["bin/tool"].isfile()
    assert members["bin/tool-alias"].islnk() and members["bin/tool-alias"].linkname == "bin/tool"
    assert diff_id.startswith("sha256:")


def test_same_tree_same_digest(tmp_path: Path) -> None:
    first = layer(upper_tree(tmp_path / "a"))[1]
    second = layer(upper_tree(tmp_path / "b"))[1]
    assert first == second


def test_whiteouts_and_opaque_directories(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "var/cache").mkdir(parents=True)
    (upper / "var/cache/OPAQUE").write_text("")
    (upper / "var/DELETED-log").write_text("")
    data, _ = layer(upper)
    names = list(entries(data))
    assert "var/.wh.DELETED-log" in names
    assert "var/cache/.wh..wh..opq" in names
    assert "var/DELETED-log" not in names


def test_empty_upper(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    upper.mkdir()
    assert upper_is_empty(upper)
    data, _ = layer(upper)
    assert entries(data) == {}


def test_xattrs_are_carried_but_not_overlay_ones(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    upper.mkdir()
    path = upper / "file"
    path.write_text("x")
    try:
        os.setxattr(path, "user.origin", b"build")
    except OSError:
        return  # the filesystem of tmp_path has no user xattrs
    data, _ = layer(upper)
    assert entries(data)["file"].pax_headers["SCHILY.xattr.user.origin"] == "build"
