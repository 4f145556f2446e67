"""The image verbs end to end through ``stackr.cli.main`` and a real engine (the verbs
call its API), and concurrent CLI processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stackr.cli import main
from stackr.images import ImageStore
from tests.fixtures import images as fx

REPO_ROOT = Path(__file__).resolve().parents[3]


# Every test here reaches the engine through the default socket.
pytestmark = pytest.mark.usefixtures("engine")


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
        assert main(["pull", "-q", f"{registry.host}/cli/absent:1"]) == 1  # the engine's error line
        assert "cli/absent" in capsys.readouterr().err


def _other_engine(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """A second engine with its own STACKR_ROOT/STACKR_RUN: what ``-H`` points at."""
    from stackr.client.autostart import ping_socket

    root, run = tmp_path / "other-root", tmp_path / "other-run"
    root.mkdir()
    run.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "STACKR_ROOT": str(root),
           "STACKR_RUN": str(run)}
    with open(run / "engine.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "stackr", "engine"], env=env,
                                   stdout=log, stderr=log)
    socket_path = run / "engine.sock"
    for _ in range(2000):
        if ping_socket(str(socket_path)) or process.poll() is not None:
            break
        subprocess.run(["sleep", "0.01"], check=True)
    assert ping_socket(str(socket_path)), (run / "engine.log").read_text()
    return process, root, socket_path


def test_image_verbs_reach_the_engine_named_by_host(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    process, other_root, socket_path = _other_engine(tmp_path)
    try:
        host = ["-H", f"unix://{socket_path}"]
        image = fx.busybox_image(compression="none")
        archive = fx.write_docker_save_oci(tmp_path / "bb.tar", [(image, ["remote/bb:1"])])
        assert main([*host, "load", "-i", str(archive)]) == 0
        assert capsys.readouterr().out == "Loaded image: remote/bb:1\n"
        assert main([*host, "image", "tag", "remote/bb:1", "remote/bb:2"]) == 0
        assert main([*host, "images", "--format", "json"]) == 0
        (listed,) = json.loads(capsys.readouterr().out)
        assert listed["RepoTags"] == ["remote/bb:1", "remote/bb:2"]
        assert main([*host, "image", "inspect", "remote/bb:2"]) == 0
        (document,) = json.loads(capsys.readouterr().out)
        assert document["Id"] == image.image_id
        assert document["GraphDriver"]["Data"]["LowerDir"].startswith(str(other_root))
        # the default engine's store saw none of it
        assert ImageStore().list() == []
        assert ImageStore(other_root / "images").require("remote/bb:2").id == image.image_id
        assert main([*host, "rmi", "remote/bb:1", "remote/bb:2"]) == 0
        assert capsys.readouterr().out.splitlines()[-1].startswith("Deleted: sha256:")
        assert ImageStore(other_root / "images").list() == []
    finally:
        process.terminate()
        process.wait(30)


def test_load_from_a_pipe_and_an_oci_layout_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = fx.busybox_image(compression="gzip")
    layout = fx.write_oci_layout(tmp_path / "layout", [(image, "busybox:latest")])
    assert main(["load", "-i", str(layout)]) == 0
    assert capsys.readouterr().out == "Loaded image: busybox:latest\n"
    other = fx.build_image([fx.layer_tar([fx.TarEntry("f", data=b"x")])], compression="none")
    archive = fx.write_docker_save_legacy(tmp_path / "p.tar", [(other, ["piped:1"])])
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with open(archive, "rb") as source:
        cat = subprocess.Popen(["cat"], stdin=source, stdout=subprocess.PIPE)
        loaded = subprocess.run([sys.executable, "-m", "stackr", "load"], stdin=cat.stdout,
                                env=env, capture_output=True, text=True, timeout=60)
        assert cat.stdout is not None
        cat.stdout.close()
        cat.wait(10)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout == "Loaded image: piped:1\n"
    assert sorted(t for r in ImageStore().list() for t in r.repo_tags) == [
        "docker.io/library/busybox:latest", "docker.io/library/piped:1"
    ]


def test_refusals_name_the_users_file_and_keep_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = fx.write_raw_archive(tmp_path / "junk.tar", {"hello.txt": b"hi"})
    assert main(["load", "-i", str(junk)]) == 1
    assert f"{junk}: not an image archive" in capsys.readouterr().err
    garbage = tmp_path / "garbage.tar"  # refused at once, but bigger than socket buffers:
    garbage.write_bytes(b"\x01not a tar" * 800_000)  # the client still gets the reason
    assert main(["load", "-i", str(garbage)]) == 1
    assert f"{garbage}: not a readable tar archive" in capsys.readouterr().err
    assert main(["rmi", "Not/Valid"]) == 2  # refused before the engine is asked
    assert "must be lowercase" in capsys.readouterr().err
    assert main(["image", "inspect", "absent:1"]) == 1
    assert "no such image: absent:1" in capsys.readouterr().err
    evil = tmp_path / "evil.tar"  # refused at its first entry, bigger than socket buffers
    evil.write_bytes(fx.layer_tar([fx.TarEntry("x/../../y", data=b"no"),
                                   fx.TarEntry("padding", data=os.urandom(4 << 20))]))
    assert main(["image", "import", str(evil), "evil:1"]) == 1
    assert "leaves the layer" in capsys.readouterr().err
    assert ImageStore().list() == []
