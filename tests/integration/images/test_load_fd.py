"""``stackr load`` hands a local engine the archive's open file (SCM_RIGHTS) instead of
its bytes: the real CLI and a real engine process, and what the engine keeps open."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from stackr.images import ImageStore
from tests.fixtures import images as fx
from tests.integration.engine.conftest import EngineProcess

REPO_ROOT = Path(__file__).resolve().parents[3]




def _open_files(pid: int) -> set[str]:
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            found.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:  # closed meanwhile
            continue
    return found


def _stackr(arguments: list[str], **options: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "stackr", *arguments], env=env,
                          capture_output=True, text=True, timeout=60, check=False,
                          **options)  # type: ignore[call-overload]


def test_load_from_a_file_and_from_stdin_as_a_file(
    engine: EngineProcess, tmp_path: Path
) -> None:
    base = fx.layer_tar([fx.TarEntry("bin/", "dir", mode=0o755),
                         fx.TarEntry("bin/tool", data=os.urandom(3 << 20), mode=0o755)])
    top = fx.layer_tar([fx.TarEntry("etc/", "dir", mode=0o755),
                        fx.TarEntry("etc/motd", data=b"hello\n")])
    first = fx.build_image([base], compression="none")
    second = fx.build_image([base, top], compression="none")
    one = fx.write_docker_save_oci(tmp_path / "one.tar", [(first, ["fd/one:1"])])
    two = fx.write_docker_save_legacy(tmp_path / "two.tar", [(second, ["fd/two:1"])])

    loaded = _stackr(["load", "-i", str(one)])
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout == "Loaded image: fd/one:1\n"
    with open(two, "rb") as stdin:  # `stackr load < two.tar`: stdin is the file itself
        loaded = _stackr(["load"], stdin=stdin)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout == "Loaded image: fd/two:1\n"

    store = ImageStore()
    assert store.require("fd/two:1").id == second.image_id
    assert (store.layer_dir(first.diff_ids[0]) / "bin/tool").stat().st_size == 3 << 20
    assert (store.layer_dir(second.diff_ids[1]) / "etc/motd").read_bytes() == b"hello\n"
    assert len(list((store.root / "layers/sha256").iterdir())) == 2  # the base once
    # the engine read the clients' files through the descriptors and closed its copies
    assert not {str(one), str(two)} & _open_files(engine.process.pid)


def test_a_refused_archive_passed_as_a_file_is_not_kept_open(
    engine: EngineProcess, tmp_path: Path
) -> None:
    evil = fx.build_image([fx.layer_tar([fx.TarEntry("../escape", data=b"x")])],
                          compression="none")
    archive = fx.write_docker_save_oci(tmp_path / "evil.tar", [(evil, ["evil:1"])])
    refused = _stackr(["load", "-i", str(archive)])
    assert refused.returncode == 1
    assert "leaves the layer" in refused.stderr
    assert ImageStore().list() == []
    assert str(archive) not in _open_files(engine.process.pid)
