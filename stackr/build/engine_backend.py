"""The real ``BuildBackend``: stackr's image store and container runtime.

A step's session is an OverlayFS mount made by the builder itself: the stage's layer
directories from the image store as ``lowerdir`` (top first), a fresh ``upperdir``.
COPY writes into the merged tree; RUN starts a ``stackr.runtime`` container whose
root filesystem is that merged tree (``RootfsSpec(rootfs_dir=...)``), so what the
command writes lands in the same upper dir. ``commit`` turns the upper dir into a
layer tar (``stackr.build.diff``) and lets the image store unpack and verify it like
any other layer.

Networking: RUN containers share the host's network namespace (``network: host``)
until per-build networks exist; DNS comes from the host's ``/etc/resolv.conf``.

Everything a session makes (mount, scratch dirs, container) is removed when it ends,
also on errors; its scratch dir is ``state_root()/build-work/<id>``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from stackr import syscalls
from stackr.build.backend import BaseImage, RunResult, RunSpec
from stackr.build.diff import upper_is_empty, write_layer_tar
from stackr.build.errors import BuildError
from stackr.errors import HostError
from stackr.images import ImageStore
from stackr.paths import state_root

OUTPUT_LIMIT = 64 * 1024  # bytes of a RUN's output kept for its error message
RUN_TIMEOUT: float | None = None  # a build step may legitimately take long
HOST_RESOLV_CONF = Path("/etc/resolv.conf")


def work_root() -> Path:
    return state_root() / "build-work"


class EngineSession:
    """One writable root filesystem on a stack of store layers."""

    def __init__(self, backend: EngineBackend, layers: Sequence[str]) -> None:
        self.backend = backend
        self.session_id = secrets.token_hex(6)
        # The pid in the name lets a later build reclaim what a killed one left.
        self.directory = work_root() / f"{os.getpid()}-{self.session_id}"
        self.upper = self.directory / "upper"
        self.work = self.directory / "work"
        self.merged = self.directory / "merged"
        self.layers = tuple(layers)
        self.mounted = False

    @property
    def root(self) -> Path:
        return self.merged

    def mount(self) -> None:
        for path in (self.upper, self.work, self.merged):
            path.mkdir(parents=True)
        store = self.backend.store
        lowers = [str(store.layer_dir(diff_id)) for diff_id in reversed(self.layers)]
        for lower in lowers:
            if not Path(lower).is_dir():
                raise BuildError(f"layer directory {lower} is missing from the image store")
        if not lowers:  # FROM scratch: overlay needs a lower dir, so give it an empty one
            empty = self.directory / "empty"
            empty.mkdir()
            lowers = [str(empty)]
        data = f"lowerdir={':'.join(lowers)},upperdir={self.upper},workdir={self.work}"
        try:
            syscalls.mount("overlay", str(self.merged), "overlay", 0, data)
        except OSError as error:
            raise HostError.from_os_error("mount the build root filesystem at",
                                          str(self.merged), error) from error
        self.mounted = True

    def close(self) -> None:
        if self.mounted:
            syscalls.umount2(str(self.merged), syscalls.MNT_DETACH)
            self.mounted = False
        shutil.rmtree(self.directory, ignore_errors=True)

    def run(self, spec: RunSpec) -> RunResult:
        from stackr.runtime import container
        from stackr.runtime.spec import (
            ContainerSpec,
            ContainerStdio,
            NetworkSpec,
            RootfsSpec,
        )

        container_id = f"stkbuild-{self.session_id}"
        output_path = self.directory / "output"
        resolv = str(HOST_RESOLV_CONF) if HOST_RESOLV_CONF.is_file() else None
        container_spec = ContainerSpec(
            container_id=container_id,
            rootfs=RootfsSpec(rootfs_dir=str(self.merged)),
            args=spec.argv,
            env=spec.env,
            cwd=spec.workdir,
            user=spec.user,
            network=NetworkSpec(mode="none" if spec.network == "none" else "host"),
            resolv_conf_file=resolv,
            labels={"stackr.build": "true"},
        )
        descriptor = os.open(output_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        created = False
        try:
            stdio = ContainerStdio(stdin=None, stdout=descriptor, stderr=descriptor)
            container.create(container_spec, stdio)
            created = True
            container.start(container_id)
            final = container.wait(container_id, RUN_TIMEOUT)
        finally:
            os.close(descriptor)
            if created:
                container.delete(container_id, force=True)
        with output_path.open("rb") as stream:
            size = stream.seek(0, os.SEEK_END)
            stream.seek(max(0, size - OUTPUT_LIMIT))
            output = stream.read().decode(errors="replace")
        if final.error:
            output += f"\n{final.error}"
        exit_code = final.exit_code if final.exit_code is not None else 1
        return RunResult(exit_code, output)

    def commit(self) -> str | None:
        if upper_is_empty(self.upper):
            return None
        return self.backend.store_layer(self.upper, self.layers)


def reclaim_stale_sessions() -> list[str]:
    """Remove what builds killed mid-step left (their process is gone): the build
    container, the overlay mount, the scratch dir. Returns the dirs removed."""
    removed: list[str] = []
    root = work_root()
    if not root.is_dir():
        return removed
    for directory in sorted(root.iterdir()):
        pid_text, _, session_id = directory.name.partition("-")
        if not pid_text.isdigit() or Path(f"/proc/{pid_text}").exists():
            continue
        from stackr.runtime import container
        from stackr.runtime.errors import ContainerNotFoundError

        with suppress(ContainerNotFoundError):
            container.delete(f"stkbuild-{session_id}", force=True)
        merged = directory / "merged"
        if os.path.ismount(merged):
            syscalls.umount2(str(merged), syscalls.MNT_DETACH)
        shutil.rmtree(directory, ignore_errors=True)
        removed.append(str(directory))
    return removed


class EngineBackend:
    """Builds against the image store (``stackr.images``) and ``stackr.runtime``."""

    def __init__(self, store: ImageStore | None = None) -> None:
        self.store = store or ImageStore()
        reclaim_stale_sessions()

    def base_image(self, reference: str, *, pull: bool) -> BaseImage:
        record = None if pull else self.store.resolve(reference)
        if record is None:
            try:
                record = self.store.pull(reference)
            except Exception:
                # --pull with no registry reachable: a local image still does.
                record = self.store.resolve(reference) if pull else None
                if record is None:
                    raise
        return BaseImage(reference, tuple(record.diff_ids), self.store.config_document(record))

    def has_layer(self, digest: str) -> bool:
        return self.store.has_layer(digest)

    @contextmanager
    def rootfs(self, layers: Sequence[str]) -> Iterator[EngineSession]:
        session = EngineSession(self, layers)
        try:
            session.mount()
            yield session
        finally:
            session.close()

    def store_layer(self, upper: Path, parent_layers: Sequence[str]) -> str:
        """Diff ``upper`` into a tar and add it to the store as a layer; its diff_id."""
        tmp = self.store.root / "tmp"
        with tempfile.TemporaryFile(dir=tmp) as stream:
            layer = write_layer_tar(upper, stream)
            if self.store.has_layer(layer.diff_id):
                return layer.diff_id
            stream.seek(0)
            self._add_layer(stream, layer.diff_id, parent_layers)
        return layer.diff_id

    def _add_layer(self, stream: Any, diff_id: str, parent_layers: Sequence[str]) -> None:
        # The image store has no public "add one layer" call yet (it adds layers with the
        # images that bring them); this uses its verified extraction and atomic commit.
        from stackr.images.layers import extract_layer
        from stackr.images.store import _Staged

        store = self.store
        lowers = [store.layer_dir(d) for d in reversed(parent_layers)]
        target = store._layer_temp_dir()
        staged = _Staged()
        staged.dirs[diff_id] = target
        try:
            result = extract_layer(stream, target, lowers, what="build layer",
                                   expected_diff_id=diff_id)
            staged.sizes[diff_id] = result.unpacked_size
            with store._locked():
                store._commit_layers(staged)
        finally:
            store._discard(target)

    def save_image(self, config: Mapping[str, Any], names: Sequence[str]) -> str:
        from stackr.images.archive import ArchivedImage, sha256_digest

        config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        image = ArchivedImage(config_bytes, sha256_digest(config_bytes), dict(config), (), ())
        with self.store._locked():
            return self.store._commit_image(image, list(names), None)
