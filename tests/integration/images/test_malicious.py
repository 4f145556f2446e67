"""Hostile archives are refused with a clear error, nothing is written outside the store,
and the store is exactly as before: read from a file (random access) and as a stream
(what the engine gets from ``stackr load``: layers unpacked before their image is known)."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import os
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stackr.images import ImageStore
from stackr.images.errors import ArchiveError, DigestMismatchError, ImageError, UnsafeLayerError
from stackr.images.layers import OPAQUE_XATTR
from tests.fixtures import images as fx

E = fx.TarEntry


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    store = ImageStore()
    # a good image first, so "unchanged" covers indexes and shared layers too
    good = fx.busybox_image(compression="none")
    store.load_archive(fx.write_docker_save_legacy(tmp_path / "good.tar", [(good, ["good:1"])]))
    return store


@pytest.fixture(params=["file", "stream"])
def how(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _load(store: ImageStore, archive: Path, how: str) -> Any:
    if how == "stream":
        with open(archive, "rb") as stream:
            return store.load_archive(stream)
    return store.load_archive(archive)


def _outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    return outside


def _layers(case: str, outside: Path) -> list[bytes]:
    base = fx.layer_tar([E("etc/", "dir", mode=0o755), E("etc/passwd", data=b"root\n")])
    cases: dict[str, Callable[[], list[bytes]]] = {
        "dotdot": lambda: [fx.layer_tar([E("a/../../x", data=b"no")])],
        "absolute": lambda: [fx.layer_tar([E(f"{outside}/abs", data=b"no")])],
        "symlink-absolute-then-write": lambda: [
            fx.layer_tar([E("link", "symlink", linkname=str(outside)), E("link/pwned", data=b"no")])
        ],
        "symlink-relative-then-write": lambda: [
            fx.layer_tar(
                [
                    E("d/", "dir", mode=0o755),
                    E("d/up", "symlink", linkname="../../../../../../../../.."),
                    E(f"d/up{outside}/pwned", data=b"no"),
                ]
            )
        ],
        "symlink-in-lower-layer": lambda: [
            base,
            fx.layer_tar([E("escape", "symlink", linkname=str(outside))]),
            fx.layer_tar([E("escape/pwned", data=b"no")]),
        ],
        "hardlink-dotdot": lambda: [
            base,
            fx.layer_tar([E("hl", "hardlink", linkname="../../etc/passwd")]),
        ],
        "hardlink-absolute": lambda: [
            base,
            fx.layer_tar([E("hl", "hardlink", linkname="/etc/passwd")]),
        ],
        "hardlink-to-lower-layer": lambda: [
            base,
            fx.layer_tar([E("hl", "hardlink", linkname="etc/passwd")]),
        ],
        "hardlink-through-symlink": lambda: [
            fx.layer_tar(
                [E("s", "symlink", linkname="/etc"), E("hl", "hardlink", linkname="s/passwd")]
            )
        ],
        "size-lie": lambda: [fx.lying_size_tar("big", b"only a few bytes", 10_000_000)],
        "not-a-tar": lambda: [b"this is not a tar archive at all" * 40],
    }
    return cases[case]()


CASES = [
    ("dotdot", UnsafeLayerError, "'..'"),
    ("absolute", UnsafeLayerError, "absolute"),
    ("symlink-absolute-then-write", UnsafeLayerError, "symlink"),
    ("symlink-relative-then-write", UnsafeLayerError, "symlink"),
    ("symlink-in-lower-layer", UnsafeLayerError, "lower layer"),
    ("hardlink-dotdot", UnsafeLayerError, "'..'"),
    ("hardlink-absolute", UnsafeLayerError, "absolute"),
    ("hardlink-to-lower-layer", UnsafeLayerError, "not a file of this layer"),
    ("hardlink-through-symlink", UnsafeLayerError, "not a file of this layer"),
    ("size-lie", ArchiveError, ""),
    ("not-a-tar", ArchiveError, ""),
]


@pytest.mark.parametrize(("case", "error", "words"), CASES, ids=[c[0] for c in CASES])
def test_hostile_layers_are_refused(
    case: str, error: type[Exception], words: str, tmp_path: Path, store: ImageStore, how: str
) -> None:
    outside = _outside(tmp_path)
    before = fx.directory_snapshot(store.root)
    image = fx.build_image(_layers(case, outside), compression="none")
    archive = fx.write_docker_save_legacy(tmp_path / "evil.tar", [(image, ["evil:1"])])
    with pytest.raises(error) as raised:
        _load(store, archive, how)
    assert words in str(raised.value)
    assert "layer" in str(raised.value)
    assert os.listdir(outside) == []
    assert fx.directory_snapshot(store.root) == before
    assert store.resolve("evil:1") is None


def test_layer_not_matching_its_diff_id(tmp_path: Path, store: ImageStore, how: str) -> None:
    before = fx.directory_snapshot(store.root)
    image = fx.build_image([fx.layer_tar([E("f", data=b"original")])], compression="none")
    tampered = dataclasses.replace(image, layers=(fx.layer_tar([E("f", data=b"tampered")]),))
    archive = fx.write_docker_save_legacy(tmp_path / "t.tar", [(tampered, ["t:1"])])
    with pytest.raises(DigestMismatchError, match=r"diff_id|config says"):
        _load(store, archive, how)
    assert fx.directory_snapshot(store.root) == before


def test_oci_blob_not_matching_its_digest(tmp_path: Path, store: ImageStore) -> None:
    before = fx.directory_snapshot(store.root)
    image = fx.build_image([fx.layer_tar([E("f", data=b"original")])], compression="gzip")
    layout = fx.write_oci_layout(tmp_path / "layout", [(image, "x.example/t:1")])
    blob = layout / "blobs" / "sha256" / image.layer_digests[0].removeprefix("sha256:")
    blob.write_bytes(gzip.compress(fx.layer_tar([E("f", data=b"tampered")])))
    with pytest.raises(DigestMismatchError):
        store.load_archive(layout)
    assert fx.directory_snapshot(store.root) == before


def test_truncated_gzip_layer(tmp_path: Path, store: ImageStore) -> None:
    before = fx.directory_snapshot(store.root)
    unique = fx.layer_tar([*fx.busybox_base_entries(), E("unique", data=b"not in the store")])
    image = fx.build_image([unique], compression="gzip")
    truncated = image.blobs[0][: len(image.blobs[0]) // 2]
    broken = dataclasses.replace(image, blobs=(truncated,))
    layout = fx.write_oci_layout(tmp_path / "layout", [(image, "x.example/t:1")])
    blob = layout / "blobs" / "sha256" / image.layer_digests[0].removeprefix("sha256:")
    blob.write_bytes(broken.blobs[0])
    with pytest.raises(ArchiveError, match=r"truncated|corrupt"):
        store.load_archive(layout)
    assert fx.directory_snapshot(store.root) == before


def test_overlay_xattrs_from_an_archive_are_dropped(tmp_path: Path, store: ImageStore) -> None:
    layer = fx.layer_tar([E("d/", "dir", mode=0o755, xattrs={OPAQUE_XATTR: "y", "user.ok": "1"})])
    image = fx.build_image([layer], compression="none")
    store.load_archive(fx.write_docker_save_legacy(tmp_path / "x.tar", [(image, ["x:1"])]))
    (layer_dir,) = store.layer_dirs(store.require("x:1"))
    assert os.getxattr(layer_dir / "d", "user.ok") == b"1"
    with pytest.raises(OSError):
        os.getxattr(layer_dir / "d", OPAQUE_XATTR)


def test_not_an_image_archive(tmp_path: Path, store: ImageStore, how: str) -> None:
    before = fx.directory_snapshot(store.root)
    archive = fx.write_raw_archive(tmp_path / "plain.tar", {"hello.txt": b"hi"})
    with pytest.raises(ArchiveError, match="not an image archive"):
        _load(store, archive, how)
    with pytest.raises(ArchiveError, match="not a readable tar"):
        _load(store, _garbage(tmp_path), how)
    assert fx.directory_snapshot(store.root) == before


def test_a_truncated_archive_stream(tmp_path: Path, store: ImageStore, how: str) -> None:
    before = fx.directory_snapshot(store.root)
    image = fx.build_image([fx.layer_tar([E("f", data=os.urandom(100_000))])], compression="none")
    archive = fx.write_docker_save_legacy(tmp_path / "cut.tar", [(image, ["cut:1"])])
    archive.write_bytes(archive.read_bytes()[:60_000])  # ends inside the layer
    with pytest.raises(ArchiveError, match=r"truncated|not a readable|missing|corrupt"):
        _load(store, archive, how)
    assert fx.directory_snapshot(store.root) == before


def test_a_hostile_tar_no_image_uses_is_ignored(
    tmp_path: Path, store: ImageStore, how: str
) -> None:
    """A stream unpacks every tar member before the manifest says which are layers: one
    that fails matters only if an image uses it (a file load never reads it)."""
    outside = _outside(tmp_path)
    image = fx.build_image([fx.layer_tar([E("f", data=b"fine")])], compression="none")
    archive = fx.write_docker_save_legacy(tmp_path / "extra.tar", [(image, ["extra:1"])])
    evil = fx.layer_tar([E("link", "symlink", linkname=str(outside)), E("link/x", data=b"no")])
    with tarfile.open(archive, "a") as tar:
        info = tarfile.TarInfo("unused/layer.tar")
        info.size = len(evil)
        tar.addfile(info, io.BytesIO(evil))
    (record,) = _load(store, archive, how)
    assert record.repo_tags == ("docker.io/library/extra:1",)
    assert os.listdir(outside) == []
    assert os.listdir(store.root / "tmp") == []


def _garbage(tmp_path: Path) -> Path:
    path = tmp_path / "garbage.tar"
    path.write_bytes(b"\x00garbage" * 10)
    return path


@pytest.mark.parametrize("diff_id", ["sha256:" + "../" * 21 + "x", "sha256:" + "A" * 64, "md5:abc"])
def test_malformed_diff_ids_never_name_a_path(
    diff_id: str, tmp_path: Path, store: ImageStore, how: str
) -> None:
    before = fx.directory_snapshot(store.root)
    image = fx.build_image([fx.layer_tar([E("f", data=b"x")])], compression="none")
    config = json.loads(image.config_bytes)
    config["rootfs"]["diff_ids"] = [diff_id]
    bad = dataclasses.replace(image, config_bytes=json.dumps(config).encode())
    archive = fx.write_docker_save_legacy(tmp_path / "d.tar", [(bad, ["d:1"])])
    with pytest.raises(ArchiveError, match="malformed diff_id"):
        _load(store, archive, how)
    assert fx.directory_snapshot(store.root) == before


def test_an_image_for_another_os_is_refused(tmp_path: Path, store: ImageStore) -> None:
    image = fx.build_image([fx.layer_tar([E("f", data=b"x")])], compression="none")
    config = json.loads(image.config_bytes)
    config["os"] = "windows"
    other = dataclasses.replace(image, config_bytes=json.dumps(config).encode())
    archive = fx.write_docker_save_legacy(tmp_path / "w.tar", [(other, ["win:1"])])
    with pytest.raises(ImageError, match="for windows, not linux"):
        store.load_archive(archive)
