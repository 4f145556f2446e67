"""The differ on a real OverlayFS upper dir: deletions and opaque directories."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

from stackr import syscalls
from stackr.build.diff import write_layer_tar


def test_overlay_upper_becomes_whiteouts_and_opaque_markers(tmp_path: Path) -> None:
    lower, upper, work, merged = (tmp_path / n for n in ("lower", "upper", "work", "merged"))
    for path in (lower / "etc", lower / "cache/old", upper, work, merged):
        path.mkdir(parents=True)
    (lower / "etc/hostname").write_text("box")
    (lower / "etc/keep").write_text("keep")
    (lower / "cache/old/file").write_text("old")
    syscalls.mount("overlay", str(merged), "overlay", 0,
                   f"lowerdir={lower},upperdir={upper},workdir={work}")
    try:
        (merged / "etc/hostname").unlink()
        shutil.rmtree(merged / "cache")
        (merged / "cache").mkdir()
        (merged / "cache/new").write_text("new")
        (merged / "added").write_text("added")
    finally:
        syscalls.umount2(str(merged))

    stream = io.BytesIO()
    write_layer_tar(upper, stream)
    stream.seek(0)
    with tarfile.open(fileobj=stream) as tar:
        names = sorted(tar.getnames())
    assert names == ["added", "cache", "cache/.wh..wh..opq", "cache/new", "etc",
                     "etc/.wh.hostname"]
