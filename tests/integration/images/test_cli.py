"""The image verbs end to end through ``stackr.cli.main`` and a real engine (the verbs
call its API), and concurrent CLI processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackr.cli import main
from stackr.images import ImageStore
from tests.fixtures import images as fx
from tests.integration.engine.conftest import EngineProcess, spawn_engine, stop_engine

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def engine(stackr_dirs: tuple[Path, Path]) -> Iterator[EngineProcess]:
    """The engine the verbs reach through the default socket (no autostart in tests)."""
    running = spawn_engine(stackr_dirs[1])
    try:
        yield running
    finally:
        stop_engine(running)


def test_load_images_inspect_rmi(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = fx.busybox_image(compression="none")
    archive = fx.write_docker_save_oci(tmp_path / "bb.tar", [(image, ["busybox:latest"])])
    assert main(["load", "-i", str(archive)]) == 0
    assert capsys.readouterr().out == "Loaded image: busybox:latest\n"

    assert main(["images", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(i["Id"], i["RepoTags"]) for i in listed] == [(image.image_id, ["busybox:latest"])]

    assert main(["images"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert table[1].split()[:3] == ["busybox", "latest", image.image_id[7:19]]

    assert main(["image", "inspect", "busybox"]) == 0
    (document,) = json.loads(capsys.readouterr().out)
    assert document["Config"]["Cmd"] == ["/bin/sh"]
    assert document["RootFS"]["Layers"] == image.diff_ids
    lowers = document["GraphDriver"]["Data"]["LowerDir"].split(":")
    assert [Path(p).name for p in lowers] == [d[7:] for d in reversed(image.diff_ids)]

    assert main(["rmi", "busybox", "absent:1"]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == "Untagged: busybox:latest"
    assert "no such image: absent:1" in captured.err
    assert ImageStore().list() == []


def test_import_a_root_directory_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "rootfs"
    (root / "bin").mkdir(parents=True)
    shutil.copy2(fx.BUSYBOX, root / "bin" / "busybox")
    os.symlink("busybox", root / "bin" / "sh")
    assert main(["image", "import", str(root), "base:local", "--cmd", "/bin/sh", "-c", "true"]) == 0
    image_id = capsys.readouterr().out.strip()
    store = ImageStore()
    record = store.require("base:local")
    assert record.id == image_id
    assert record.config.cmd == ("/bin/sh", "-c", "true")
    (layer,) = store.layer_dirs(record)
    assert (layer / "bin" / "busybox").read_bytes() == fx.BUSYBOX.read_bytes()
    assert os.readlink(layer / "bin" / "sh") == "busybox"


def test_prune_and_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dangling = fx.build_image([fx.layer_tar([fx.TarEntry("x", data=b"x")])], compression="none")
    main(["load", "-i", str(fx.write_docker_save_legacy(tmp_path / "d.tar", [(dangling, [])]))])
    assert capsys.readouterr().out == f"Loaded image ID: {dangling.image_id}\n"
    assert main(["image", "prune"]) == 0
    assert f"Deleted: {dangling.image_id}" in capsys.readouterr().out
    assert main(["load", "-i", str(tmp_path / "missing.tar")]) == 1
    assert "missing.tar: no such file" in capsys.readouterr().err
    assert main(["pull", "Not/Valid"]) == 2
    assert "must be lowercase" in capsys.readouterr().err


def test_concurrent_loads_share_the_base_layer(tmp_path: Path) -> None:
    base, top = fx.busybox_layers()
    archives = []
    for index in range(3):
        other = fx.layer_tar([fx.TarEntry(f"etc/image-{index}", data=b"x")])
        image = fx.build_image([base, top, other], compression="none")
        archives.append(
            fx.write_docker_save_legacy(tmp_path / f"{index}.tar", [(image, [f"c:{index}"])])
        )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "stackr", "load", "-q", "-i", str(archive)],
            env=env,
            stderr=subprocess.PIPE,
        )
        for archive in archives
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr.decode()
    store = ImageStore()
    assert sorted(t for r in store.list() for t in r.repo_tags) == [
        f"docker.io/library/c:{i}" for i in range(3)
    ]
    assert len(os.listdir(store.root / "layers" / "sha256")) == 2 + 3
    assert os.listdir(store.root / "tmp") == []


def test_pull_verb_prints_progress_and_the_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.fixtures.registry import push_image, running_registry

    with running_registry(tmp_path / "registry") as registry:
        image = fx.busybox_image()
        digest = push_image(registry, "cli/busybox", "1", image)
        reference = f"{registry.host}/cli/busybox:1"
        assert main(["pull", reference]) == 0
        captured = capsys.readouterr()
        assert captured.out == f"{reference}\n"
        for layer in image.layer_digests:
            assert f"{layer[7:19]}: Pull complete" in captured.err
        assert f"Digest: {digest}" in captured.err
        assert main(["pull", "-q", reference]) == 0
        assert capsys.readouterr().err == ""
