"""Hostile archives are refused with a clear error, nothing is written outside the store,
and the store is exactly as before."""

from __future__ import annotations

import dataclasses
import gzip
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from stackr.images import ImageStore
from stackr.images.errors import ArchiveError, DigestMismatchError, UnsafeLayerError
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
    case: str, error: type[Exception], words: str, tmp_path: Path, store: ImageStore
) -> None:
    outside = _outside(tmp_path)
    before = fx.directory_snapshot(store.root)
    image = fx.build_image(_layers(case, outside), compression="none")
    archive = fx.write_docker_save_legacy(tmp_path / "evil.tar", [(image, ["evil:1"])])
    with pytest.raises(error) as raised:
        store.load_archive(archive)
    assert words in str(raised.value)
    assert "layer" in str(raised.value)
    assert os.listdir(outside) == []
    assert fx.directory_snapshot(store.root) == before
    assert store.resolve("evil:1") is None


def test_layer_not_matching_its_diff_id(tmp_path: Path, store: ImageStore) -> None:
    before = fx.directory_snapshot(store.root)
    image = fx.build_image([fx.layer_tar([E("f", data=b"original")])], compression="none")
    tampered = dataclasses.replace(image, layers=(fx.layer_tar([E("f", data=b"tampered")]),))
    archive = fx.write_docker_save_legacy(tmp_path / "t.tar", [(tampered, ["t:1"])])
    with pytest.raises(DigestMismatchError, match=r"diff_id|config says"):
        store.load_archive(archive)
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


def test_not_an_image_archive(tmp_path: Path, store: ImageStore) -> None:
    archive = fx.write_raw_archive(tmp_path / "plain.tar", {"hello.txt": b"hi"})
    with pytest.raises(ArchiveError, match="not an image archive"):
        store.load_archive(archive)
    with pytest.raises(ArchiveError, match="not a readable tar"):
        store.load_archive(_garbage(tmp_path))


def _garbage(tmp_path: Path) -> Path:
    path = tmp_path / "garbage.tar"
    path.write_bytes(b"\x00garbage" * 10)
    return path
