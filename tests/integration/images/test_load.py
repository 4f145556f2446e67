"""Loading archives in every format, and the unpacked layers' OverlayFS form."""

from __future__ import annotations

import gzip
import io
import os
import stat
import subprocess
from pathlib import Path

import pytest

from stackr.images import ImageStore
from stackr.images.errors import ArchiveError, ImageError, ImageInUseError
from stackr.images.layers import OPAQUE_XATTR
from stackr.syscalls import mount, umount2
from tests.fixtures import images as fx


@pytest.fixture
def store() -> ImageStore:
    return ImageStore()


def _write(kind: str, tmp_path: Path) -> Path:
    if kind == "docker-legacy":
        image = fx.busybox_image(compression="none")
        return fx.write_docker_save_legacy(tmp_path / "legacy.tar", [(image, ["busybox:latest"])])
    if kind == "docker-oci":
        image = fx.busybox_image(compression="none")
        return fx.write_docker_save_oci(tmp_path / "oci.tar", [(image, ["busybox:latest"])])
    image = fx.busybox_image(compression="gzip")
    if kind == "oci-dir":
        return fx.write_oci_layout(tmp_path / "layout", [(image, "busybox:latest")])
    return fx.write_oci_layout(tmp_path / "layout.tar", [(image, "busybox:latest")], archive=True)


def _check_busybox_layers(store: ImageStore, reference: str) -> list[Path]:
    record = store.require(reference)
    assert record.repo_tags == ("docker.io/library/busybox:latest",)
    assert record.config.cmd == ("/bin/sh",)
    top, base = store.layer_dirs(record)
    busybox = base / "bin" / "busybox"
    assert busybox.read_bytes() == fx.BUSYBOX.read_bytes()
    assert stat.S_IMODE(busybox.stat().st_mode) == 0o755
    assert os.readlink(base / "bin" / "sh") == "busybox"
    assert (base / "bin" / "bb-hardlink").stat().st_ino == busybox.stat().st_ino
    owned = (base / "home" / "user" / "file").stat()
    assert (owned.st_uid, owned.st_gid, stat.S_IMODE(owned.st_mode)) == (1000, 1000, 0o600)
    assert owned.st_mtime == fx.FIXED_MTIME
    assert stat.S_IMODE((base / "tmp").stat().st_mode) == 0o1777
    assert (base / "etc").stat().st_mtime == fx.FIXED_MTIME
    whiteout = (top / "etc" / "removed").lstat()
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == 0
    assert not (top / "etc" / ".wh.removed").exists()
    assert os.getxattr(top / "data", OPAQUE_XATTR) == b"y"
    assert not (top / "data" / ".wh..wh..opq").exists()
    assert os.getxattr(top / "etc" / "added", "user.origin") == b"top"
    return [top, base]


@pytest.mark.parametrize("how", ["file", "stream"])
@pytest.mark.parametrize("kind", ["docker-legacy", "docker-oci", "oci-dir", "oci-archive"])
def test_load_each_format(kind: str, how: str, tmp_path: Path, store: ImageStore) -> None:
    archive = _write(kind, tmp_path)
    if how == "stream" and archive.is_file():  # as the engine gets it from `stackr load`
        with open(archive, "rb") as stream:
            records = store.load_archive(stream)
    else:
        records = store.load_archive(archive)
    assert len(records) == 1
    _check_busybox_layers(store, "busybox")
    assert os.listdir(store.root / "tmp") == []


@pytest.mark.parametrize("compression", ["gz", "bz2", "xz"])
def test_load_a_compressed_archive_file(
    compression: str, tmp_path: Path, store: ImageStore
) -> None:
    import bz2
    import lzma

    archive = _write("docker-legacy", tmp_path)
    compress = {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[compression]
    packed = tmp_path / f"image.tar.{compression}"
    packed.write_bytes(compress(archive.read_bytes()))
    store.load_archive(packed)
    _check_busybox_layers(store, "busybox")
    assert os.listdir(store.root / "tmp") == []
    store.remove("busybox")
    with open(packed, "rb") as stream:  # gzip streams in; bzip2 and xz through a spool
        store.load_archive(stream)
    _check_busybox_layers(store, "busybox")
    assert os.listdir(store.root / "tmp") == []


def test_load_from_a_stream_and_gzip_compressed_archive(tmp_path: Path, store: ImageStore) -> None:
    archive = _write("docker-legacy", tmp_path)
    compressed = gzip.compress(archive.read_bytes(), compresslevel=1)
    store.load_archive(io.BytesIO(compressed))
    _check_busybox_layers(store, "busybox:latest")
    assert os.listdir(store.root / "tmp") == []  # the spooled copy is gone


def test_merged_root_runs_busybox_and_honours_whiteouts(tmp_path: Path, store: ImageStore) -> None:
    store.load_archive(_write("docker-oci", tmp_path))
    lowers = _check_busybox_layers(store, "busybox")
    merged = tmp_path / "merged"
    merged.mkdir()
    mount("overlay", str(merged), "overlay", 0, "lowerdir=" + ":".join(map(str, lowers)))
    try:
        assert not (merged / "etc" / "removed").exists()
        assert (merged / "etc" / "passwd").exists()
        assert sorted(os.listdir(merged / "data")) == ["upper-only"]
        result = subprocess.run(
            ["chroot", str(merged), "/bin/sh", "-c", "echo hello from $(cat /etc/added)"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert result.stdout == "hello from from the top layer\n"
    finally:
        umount2(str(merged), 0)


def test_images_sharing_a_base_layer_store_it_once(tmp_path: Path, store: ImageStore) -> None:
    base, top = fx.busybox_layers()
    other_top = fx.layer_tar([fx.TarEntry("etc/other", data=b"second image\n")])
    first = fx.build_image([base, top], compression="none")
    second = fx.build_image([base, other_top], compression="none", cmd=("/bin/true",))
    archive = fx.write_docker_save_legacy(
        tmp_path / "two.tar", [(first, ["one:1"]), (second, ["two:1"])]
    )
    records = store.load_archive(archive)
    assert {r.id for r in records} == {first.image_id, second.image_id}
    layers = sorted(p.name for p in (store.root / "layers" / "sha256").iterdir())
    assert len(layers) == 3
    assert (
        store.layer_dirs(store.require("one:1"))[1] == store.layer_dirs(store.require("two:1"))[1]
    )
    # loading again adds nothing
    before = fx.directory_snapshot(store.root / "layers")
    store.load_archive(archive)
    assert fx.directory_snapshot(store.root / "layers") == before
    # removing one image keeps the shared base for the other
    removed = store.remove("one:1")
    assert removed[0] == "Untagged: one:1"
    assert f"Deleted: {first.image_id}" in removed
    assert f"Deleted: {fx.sha256(top)}" in removed
    assert f"Deleted: {fx.sha256(base)}" not in removed
    assert all(p.is_dir() for p in store.layer_dirs(store.require("two:1")))


def test_resolve_by_id_prefix_digest_and_remove_rules(tmp_path: Path, store: ImageStore) -> None:
    store.load_archive(_write("docker-legacy", tmp_path))
    record = store.require("busybox")
    assert store.resolve(record.id) == record
    assert store.resolve(record.short_id[:6]) == record
    assert store.resolve("docker.io/library/busybox:latest") == record
    assert store.resolve("busybox:other") is None
    store.tag("busybox", "mirror.example:5000/bb:2")
    with pytest.raises(ImageInUseError):
        store.remove(record.short_id)  # two names: needs force
    assert store.remove("mirror.example:5000/bb:2") == ["Untagged: mirror.example:5000/bb:2"]
    in_use = ImageStore(in_use=lambda: {record.id})
    with pytest.raises(ImageInUseError):
        in_use.remove("busybox")
    assert in_use.prune() == []
    assert store.remove(record.short_id) == [
        "Untagged: busybox:latest",
        f"Deleted: {record.id}",
        *(f"Deleted: {d}" for d in record.diff_ids),
    ]
    assert store.list() == []
    assert os.listdir(store.root / "layers" / "sha256") == []


def test_prune_removes_dangling_images_only(tmp_path: Path, store: ImageStore) -> None:
    image = fx.busybox_image(compression="none")
    store.load_archive(fx.write_docker_save_legacy(tmp_path / "a.tar", [(image, ["keep:1"])]))
    dangling = fx.build_image([fx.layer_tar([fx.TarEntry("x", data=b"x")])], compression="none")
    store.load_archive(fx.write_docker_save_legacy(tmp_path / "b.tar", [(dangling, [])]))
    assert len(store.list()) == 2
    removed = store.prune()
    assert f"Deleted: {dangling.image_id}" in removed
    assert [r.id for r in store.list()] == [image.image_id]


def test_a_broken_archive_leaves_the_store_unchanged(tmp_path: Path, store: ImageStore) -> None:
    good = fx.busybox_image(compression="none")
    store.load_archive(fx.write_docker_save_legacy(tmp_path / "good.tar", [(good, ["good:1"])]))
    before = fx.directory_snapshot(store.root)
    new_base = fx.layer_tar([fx.TarEntry("fine", data=b"ok")])
    bad_top = fx.layer_tar([fx.TarEntry("../escape", data=b"no")])
    bad = fx.build_image([new_base, bad_top], compression="none")
    with pytest.raises(ArchiveError):
        store.load_archive(fx.write_docker_save_legacy(tmp_path / "bad.tar", [(bad, ["bad:1"])]))
    assert fx.directory_snapshot(store.root) == before
    assert not (tmp_path / "escape").exists()


def test_a_repeated_layer_is_one_lowerdir(tmp_path: Path, store: ImageStore) -> None:
    base, top = fx.busybox_layers()
    image = fx.build_image([base, top, base], compression="none")
    store.load_archive(fx.write_docker_save_legacy(tmp_path / "r.tar", [(image, ["rep:1"])]))
    record = store.require("rep:1")
    assert len(record.diff_ids) == 3
    dirs = store.layer_dirs(record)
    assert [d.name for d in dirs] == [fx.sha256(base)[7:], fx.sha256(top)[7:]]
    merged = tmp_path / "merged"
    merged.mkdir()
    mount("overlay", str(merged), "overlay", 0, "lowerdir=" + ":".join(map(str, dirs)))
    try:
        assert (merged / "etc" / "removed").read_text() == "hidden by the upper layer\n"
    finally:
        umount2(str(merged), 0)


def test_builders_add_layers_then_an_image(tmp_path: Path, store: ImageStore) -> None:
    base, top = fx.busybox_layers()
    base_id = store.add_layer(io.BytesIO(gzip.compress(base)))
    assert base_id == fx.sha256(base)
    top_id = store.add_layer(io.BytesIO(top), [base_id], expected_diff_id=fx.sha256(top))
    assert store.add_layer(io.BytesIO(b"unused"), expected_diff_id=top_id) == top_id  # present
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [base_id, top_id]},
    }
    record = store.add_image(config, ["built:1"])
    assert store.require("built:1") == record
    assert len(store.layer_dirs(record)) == 2
    with pytest.raises(ArchiveError, match="lower layer"):
        escape = fx.layer_tar([fx.TarEntry("bin/sh/x", data=b"no")])  # bin/sh is a symlink
        store.add_layer(io.BytesIO(escape), [base_id, top_id])
    missing = {**config, "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "9" * 64]}}
    with pytest.raises(ImageError, match="not in the store"):
        store.add_image(missing, ["broken:1"])


def test_layers_are_unpacked_in_a_top_directory(store: ImageStore) -> None:
    """ext4 places each layer being unpacked in a block group of its own (chattr +T)."""
    import array
    import fcntl

    from stackr.images.store import FS_IOC_GETFLAGS, FS_TOPDIR_FL

    fd = os.open(store.root / "tmp", os.O_RDONLY | os.O_DIRECTORY)
    try:
        flags = array.array("i", [0])
        try:
            fcntl.ioctl(fd, FS_IOC_GETFLAGS, flags, True)
        except OSError:
            pytest.skip("the file system has no inode flags")
    finally:
        os.close(fd)
    if subprocess.run(["findmnt", "-no", "FSTYPE", "-T", str(store.root)], capture_output=True,
                      text=True, check=False).stdout.strip() != "ext4":
        pytest.skip("the flag is ext4's")
    assert flags[0] & FS_TOPDIR_FL


@pytest.mark.parametrize("how", ["file", "stream"])
def test_layers_shared_through_archive_symlinks(how: str, tmp_path: Path, store: ImageStore) -> None:
    """Docker's legacy layout writes a layer a second image repeats as a symlink to the
    first copy; read as a stream, that layer was unpacked once, under the first name."""
    base, top = fx.busybox_layers()
    other = fx.layer_tar([fx.TarEntry("etc/other", data=b"other\n")])
    first = fx.build_image([base, top], compression="none")
    second = fx.build_image([base, other, top], compression="none")
    archive = fx.write_docker_save_legacy(
        tmp_path / "two.tar", [(first, ["one:1"]), (second, ["two:1"])]
    )
    if how == "stream":
        with open(archive, "rb") as stream:
            records = store.load_archive(stream)
    else:
        records = store.load_archive(archive)
    assert sorted(t for r in records for t in r.repo_tags) == [
        "docker.io/library/one:1", "docker.io/library/two:1"
    ]
    assert len(os.listdir(store.root / "layers" / "sha256")) == 3
    assert (store.layer_dirs(store.require("two:1"))[1] / "etc" / "other").read_bytes() == b"other\n"
    assert os.listdir(store.root / "tmp") == []
