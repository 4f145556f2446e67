"""A root-free BuildBackend: layers are plain directories, a "container" runs a Python
function on the root filesystem, and a commit diffs the tree against a snapshot."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackr.build.backend import BaseImage, RunResult, RunSpec

Script = Callable[[Path, RunSpec], RunResult]


def _snapshot(root: Path) -> dict[str, tuple[Any, ...]]:
    result: dict[str, tuple[Any, ...]] = {}
    for base, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(base) / name
            info = path.lstat()
            relative = str(path.relative_to(root))
            if stat.S_ISREG(info.st_mode):
                content: str = hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISLNK(info.st_mode):
                content = os.readlink(path)
            else:
                content = ""
            result[relative] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode), content)
    return result


@dataclass
class FakeLayer:
    directory: Path
    deleted: tuple[str, ...]


@dataclass
class FakeSession:
    backend: FakeBackend
    root: Path
    before: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def run(self, spec: RunSpec) -> RunResult:
        self.backend.runs.append(spec)
        script = self.backend.scripts.get(spec.argv[-1])
        if script is None:
            return RunResult(0, "")
        return script(self.root, spec)

    def commit(self) -> str | None:
        after = _snapshot(self.root)
        changed = sorted(p for p, v in after.items() if self.before.get(p) != v)
        deleted = sorted(p for p in self.before if p not in after)
        if not changed and not deleted:
            return None
        listing = json.dumps([[p, list(after[p])] for p in changed] + [["-", deleted]])
        digest = "sha256:" + hashlib.sha256(listing.encode()).hexdigest()
        directory = self.backend.directory / "layers" / digest.split(":")[1]
        if not directory.exists():
            directory.mkdir(parents=True)
            for relative in changed:
                source, target = self.root / relative, directory / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                if source.is_dir() and not source.is_symlink():
                    target.mkdir(exist_ok=True)
                elif source.is_symlink():
                    os.symlink(os.readlink(source), target)
                else:
                    shutil.copy2(source, target)
        self.backend.layers[digest] = FakeLayer(directory, tuple(deleted))
        self.backend.commits += 1
        return digest


class FakeBackend:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.layers: dict[str, FakeLayer] = {}
        self.images: dict[str, BaseImage] = {}
        self.saved: dict[str, tuple[Mapping[str, Any], tuple[str, ...]]] = {}
        self.scripts: dict[str, Script] = {}
        self.runs: list[RunSpec] = []
        self.sessions = 0
        self.commits = 0
        self.pulls: list[tuple[str, bool]] = []

    def add_image(self, reference: str, files: Mapping[str, str],
                  config: Mapping[str, Any] | None = None) -> BaseImage:
        directory = self.directory / "images" / reference.replace("/", "_").replace(":", "_")
        for relative, content in files.items():
            path = directory / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        digest = "sha256:" + hashlib.sha256(reference.encode()).hexdigest()
        self.layers[digest] = FakeLayer(directory, ())
        image = BaseImage(reference, (digest,), {"config": dict(config or {}),
                                                 "rootfs": {"diff_ids": [digest]}})
        self.images[reference] = image
        return image

    def base_image(self, reference: str, *, pull: bool) -> BaseImage:
        self.pulls.append((reference, pull))
        if reference not in self.images:
            raise LookupError(f"image {reference!r} not found in the store")
        return self.images[reference]

    def has_layer(self, digest: str) -> bool:
        return digest in self.layers

    def materialize(self, layers: Sequence[str], root: Path) -> None:
        for digest in layers:
            layer = self.layers[digest]
            for relative in layer.deleted:
                target = root / relative
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                elif target.exists() or target.is_symlink():
                    target.unlink()
            shutil.copytree(layer.directory, root, symlinks=True, dirs_exist_ok=True)

    @contextmanager
    def rootfs(self, layers: Sequence[str]) -> Iterator[FakeSession]:
        self.sessions += 1
        root = self.directory / "sessions" / str(self.sessions)
        root.mkdir(parents=True)
        self.materialize(layers, root)
        try:
            yield FakeSession(self, root, _snapshot(root))
        finally:
            shutil.rmtree(root)

    def save_image(self, config: Mapping[str, Any], names: Sequence[str]) -> str:
        encoded = json.dumps(config, sort_keys=True).encode()
        image_id = "sha256:" + hashlib.sha256(encoded).hexdigest()
        self.saved[image_id] = (config, tuple(names))
        return image_id

    def files(self, layers: Sequence[str], tmp: Path) -> Path:
        """The merged tree of ``layers``, materialized under ``tmp`` for assertions."""
        tmp.mkdir(parents=True, exist_ok=True)
        self.materialize(layers, tmp)
        return tmp
