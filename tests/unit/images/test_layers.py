"""Layer extraction without root: names, whiteout translation, verification, safety."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import pytest

from stackr.images.errors import ArchiveError, DigestMismatchError, UnsafeLayerError
from stackr.images.layers import EntryKind, classify, extract_layer, normalise_name
from tests.fixtures import images as fx

E = fx.TarEntry


@pytest.mark.parametrize(
    ("name", "clean"),
    [("./etc/passwd", "etc/passwd"), ("etc//x/./y/", "etc/x/y"), ("./", ""), ("a", "a")],
)
def test_normalise_name(name: str, clean: str) -> None:
    assert normalise_name(name) == clean


@pytest.mark.parametrize("name", ["/etc/passwd", "../x", "a/../../x", "a/.."])
def test_normalise_refuses(name: str) -> None:
    with pytest.raises(UnsafeLayerError):
        normalise_name(name)


@pytest.mark.parametrize(
    ("path", "kind", "target"),
    [
        ("etc/.wh.passwd", EntryKind.WHITEOUT, "etc/passwd"),
        (".wh.top", EntryKind.WHITEOUT, "top"),
        ("var/lib/.wh..wh..opq", EntryKind.OPAQUE, "var/lib"),
        (".wh..wh..opq", EntryKind.OPAQUE, ""),
        ("x/.wh..wh.plnk", EntryKind.IGNORED, "x/.wh..wh.plnk"),
        ("etc/wh.not", EntryKind.ENTRY, "etc/wh.not"),
        ("etc/a.wh.b", EntryKind.ENTRY, "etc/a.wh.b"),
    ],
)
def test_whiteout_translation(path: str, kind: EntryKind, target: str) -> None:
    assert classify(path) == (kind, target)


def test_whiteout_of_nothing() -> None:
    with pytest.raises(UnsafeLayerError):
        classify("dir/.wh.")


def _extract(data: bytes, dest: Path, **expected: object) -> object:
    dest.mkdir(exist_ok=True)
    return extract_layer(io.BytesIO(data), dest, **expected)  # type: ignore[arg-type]


def test_extracts_and_hashes_plain_and_gzip(tmp_path: Path) -> None:
    layer = fx.layer_tar(
        [
            E("a/", "dir", mode=0o750),
            E("a/file", data=b"content", mode=0o640),
            E("a/link", "symlink", linkname="file"),
            E("a/hard", "hardlink", linkname="a/file"),
            E("a/replaced", data=b"first"),
            E("a/replaced", data=b"second"),
            E("fifo", "fifo", mode=0o600),
        ]
    )
    compressed = gzip.compress(layer)
    result = _extract(
        compressed,
        tmp_path / "gz",
        expected_diff_id=fx.sha256(layer),
        expected_digest=fx.sha256(compressed),
        expected_size=len(compressed),
    )
    assert result.diff_id == fx.sha256(layer)  # type: ignore[attr-defined]
    root = tmp_path / "gz"
    assert (root / "a" / "file").read_bytes() == b"content"
    assert (root / "a" / "file").stat().st_mode & 0o777 == 0o640
    assert (root / "a").stat().st_mode & 0o777 == 0o750
    assert os.readlink(root / "a" / "link") == "file"
    assert (root / "a" / "hard").stat().st_ino == (root / "a" / "file").stat().st_ino
    assert (root / "a" / "replaced").read_bytes() == b"second"
    assert (root / "a" / "file").stat().st_mtime == fx.FIXED_MTIME
    plain = _extract(layer, tmp_path / "plain")
    assert plain.diff_id == plain.digest == fx.sha256(layer)  # type: ignore[attr-defined]


def test_a_symlink_replaced_by_a_file_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    layer = fx.layer_tar([E("x", "symlink", linkname=str(outside / "f")), E("x", data=b"in")])
    _extract(layer, tmp_path / "l")
    assert (tmp_path / "l" / "x").read_bytes() == b"in"
    assert os.listdir(outside) == []


def test_lower_layer_symlink_is_not_written_through(tmp_path: Path) -> None:
    lower = tmp_path / "lower"
    lower.mkdir()
    os.symlink("/etc", lower / "conf")
    dest = tmp_path / "upper"
    dest.mkdir()
    layer = fx.layer_tar([E("conf/x", data=b"no")])
    with pytest.raises(UnsafeLayerError, match="lower layer"):
        extract_layer(io.BytesIO(layer), dest, [lower])
    # a directory of the same name in this layer replaces the symlink: that is allowed
    other = tmp_path / "upper2"
    other.mkdir()
    extract_layer(
        io.BytesIO(fx.layer_tar([E("conf/", "dir"), E("conf/x", data=b"ok")])), other, [lower]
    )
    assert (other / "conf" / "x").read_bytes() == b"ok"


@pytest.mark.parametrize(
    ("mangle", "error", "words"),
    [
        (lambda gz: gz[: len(gz) // 2], ArchiveError, "truncated|corrupt"),
        (lambda gz: gz[:-8] + b"\0" * 8, ArchiveError, "corrupt|CRC|truncated"),
    ],
)
def test_broken_gzip(tmp_path: Path, mangle: object, error: type[Exception], words: str) -> None:
    layer = fx.layer_tar([E("f", data=os.urandom(200_000))])
    with pytest.raises(error, match=words):
        _extract(mangle(gzip.compress(layer)), tmp_path / "x")  # type: ignore[operator]


def test_size_and_digest_checks(tmp_path: Path) -> None:
    layer = fx.layer_tar([E("f", data=b"x")])
    with pytest.raises(DigestMismatchError, match="size"):
        _extract(layer, tmp_path / "a", expected_size=len(layer) + 1)
    with pytest.raises(DigestMismatchError, match="hashes"):
        _extract(layer, tmp_path / "b", expected_digest="sha256:" + "0" * 64)
    with pytest.raises(DigestMismatchError, match=r"diff_id|config says"):
        _extract(layer, tmp_path / "c", expected_diff_id="sha256:" + "0" * 64)
    with pytest.raises(ArchiveError, match=r"declares|truncated|valid tar"):
        _extract(fx.lying_size_tar("f", b"abc", 5000), tmp_path / "d")


def test_zstd_without_the_module(tmp_path: Path) -> None:
    try:
        import zstandard  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        with pytest.raises(ArchiveError, match="zstandard"):
            _extract(b"\x28\xb5\x2f\xfd" + b"\0" * 100, tmp_path / "z")
    else:
        pytest.skip("zstandard is installed")


def test_whiteouts_need_root(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("runs as root: whiteouts are allowed")
    with pytest.raises(UnsafeLayerError, match="needs root"):
        _extract(fx.layer_tar([E(".wh.gone", data=b"")]), tmp_path / "w")


def test_gzip_of_several_members_and_zero_padding(tmp_path: Path) -> None:
    """gzip allows concatenated members (pigz, split writers) and zero padding after."""
    layer = fx.layer_tar([E("a", data=os.urandom(300_000)), E("b", data=b"second")])
    middle = len(layer) // 2
    blob = gzip.compress(layer[:middle]) + gzip.compress(layer[middle:]) + b"\0" * 700
    _extract(
        blob,
        tmp_path / "m",
        expected_diff_id=fx.sha256(layer),
        expected_digest=fx.sha256(blob),
        expected_size=len(blob),
    )
    assert (tmp_path / "m" / "b").read_bytes() == b"second"
    with pytest.raises(ArchiveError, match="corrupt"):
        _extract(gzip.compress(layer) + b"garbage", tmp_path / "g")
