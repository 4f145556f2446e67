"""The real ``BuildBackend``: stackr's image store and container runtime.

A step's session is an OverlayFS mount made by the builder itself: the stage's layer
directories from the image store as ``lowerdir`` (top first), a fresh ``upperdir``.
COPY writes into the merged tree; RUN starts a ``stackr.runtime`` container whose
root filesystem is that merged tree (``RootfsSpec(rootfs_dir=...)``), so what the
command writes lands in the same upper dir. ``commit`` turns the upper dir into a
layer tar (``stackr.build.diff``) and lets the image store unpack and verify it like
any other layer.

Networking: as ``docker build``, RUN containers get their own network namespace on a
private bridge network (one per build, made at the first RUN that executes and removed
with the backend), with NAT out through the host (``stackr.network``); DNS servers are
the host's, minus loopback ones a namespace cannot reach. ``network_mode="host"``
shares the host's namespace instead; ``RUN`` with ``network: none`` gets only loopback.

Everything a session makes (mount, scratch dirs, container) is removed when it ends,
also on errors; its scratch dir is ``state_root()/build-work/<id>``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackr import syscalls
from stackr.build.backend import BaseImage, RunResult, RunSpec
from stackr.build.diff import upper_is_empty, write_layer_tar
from stackr.build.errors import BuildError
from stackr.errors import HostError
from stackr.images import ImageStore
from stackr.paths import state_root

if TYPE_CHECKING:
    from stackr.network.bridge import NetworkState

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
            DEFAULT_SHM_SIZE,
            ContainerSpec,
            ContainerStdio,
            NetworkSpec,
            RootfsSpec,
            Ulimit,
        )

        container_id = f"stkbuild-{self.session_id}"
        output_path = self.directory / "output"
        descriptor = os.open(output_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        created = False
        network_id: str | None = None
        gateway: str | None = None
        try:
            network = NetworkSpec(mode="none")
            if spec.network == "host" or (spec.network == "default"
                                          and self.backend.network_mode == "host"):
                network = NetworkSpec(mode="host")
            elif spec.network == "default":
                from stackr.network import attach

                state = self.backend.build_network()
                sandbox = attach.create_sandbox(container_id)
                network_id, gateway = state.network_id, state.gateway
                attach.attach(container_id, sandbox, state)
                network = NetworkSpec(mode="join", netns_path=str(sandbox))
            container_spec = ContainerSpec(
                container_id=container_id,
                rootfs=RootfsSpec(rootfs_dir=str(self.merged)),
                args=spec.argv,
                env=spec.env,
                cwd=spec.workdir,
                user=spec.user,
                network=network,
                resolv_conf_file=self._resolv_conf(network.mode),
                hosts_file=self._hosts(spec, gateway),
                shm_size=spec.shm_size or DEFAULT_SHM_SIZE,
                ulimits=tuple(Ulimit(name, soft, hard) for name, soft, hard in spec.ulimits),
                privileged=spec.privileged,
                labels={"stackr.build": "true"},
            )
            stdio = ContainerStdio(stdin=None, stdout=descriptor, stderr=descriptor)
            container.create(container_spec, stdio)
            created = True
            container.start(container_id)
            final = container.wait(container_id, RUN_TIMEOUT)
        finally:
            os.close(descriptor)
            if created:
                container.delete(container_id, force=True)
            if network_id is not None:
                from stackr.network import attach

                attach.remove_sandbox(container_id)
        with output_path.open("rb") as stream:
            size = stream.seek(0, os.SEEK_END)
            stream.seek(max(0, size - OUTPUT_LIMIT))
            output = stream.read().decode(errors="replace")
        if final.error:
            output += f"\n{final.error}"
        exit_code = final.exit_code if final.exit_code is not None else 1
        return RunResult(exit_code, output)

    def _hosts(self, spec: RunSpec, gateway: str | None) -> str | None:
        """With ``extra_hosts``: an /etc/hosts of localhost and them (``host-gateway``:
        the build network's gateway); without: None, the image's own file."""
        if not spec.extra_hosts:
            return None
        from stackr.network.etcfiles import render_hosts

        try:
            text = render_hosts("", (), spec.extra_hosts, gateway=gateway)
        except ValueError as error:
            raise BuildError(f"build.extra_hosts: {error}") from None
        path = self.directory / "hosts"
        path.write_text(text)
        return str(path)

    def _resolv_conf(self, mode: str) -> str | None:
        """The host's resolver config for the build container: as it is with the host's
        network; without loopback servers in a namespace of its own (None: keep the
        image's own file, as when the host has no usable server)."""
        if mode == "none" or not HOST_RESOLV_CONF.is_file():
            return None
        if mode == "host":
            return str(HOST_RESOLV_CONF)
        lines = HOST_RESOLV_CONF.read_text(errors="replace").splitlines()
        kept = [line for line in lines
                if not (line.split()[:1] == ["nameserver"] and len(line.split()) > 1
                        and (line.split()[1].startswith("127.") or line.split()[1] == "::1"))]
        if not any(line.split()[:1] == ["nameserver"] for line in kept):
            return None
        path = self.directory / "resolv.conf"
        path.write_text("\n".join(kept) + "\n")
        return str(path)

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
        from stackr.network import attach
        from stackr.runtime import container
        from stackr.runtime.errors import ContainerNotFoundError

        with suppress(ContainerNotFoundError):
            container.delete(f"stkbuild-{session_id}", force=True)
        attach.remove_sandbox(f"stkbuild-{session_id}")
        merged = directory / "merged"
        if os.path.ismount(merged):
            syscalls.umount2(str(merged), syscalls.MNT_DETACH)
        shutil.rmtree(directory, ignore_errors=True)
        removed.append(str(directory))
    _reclaim_stale_networks()
    return removed


def _reclaim_stale_networks() -> None:
    from stackr.network.bridge import list_networks, remove_network

    for network in list_networks():
        parts = network.network_id.split("-")
        if (len(parts) == 3 and parts[0] == "stkbuild" and parts[1].isdigit()
                and not Path(f"/proc/{parts[1]}").exists()):
            remove_network(network.network_id)


class EngineBackend:
    """Builds against the image store (``stackr.images``) and ``stackr.runtime``."""

    def __init__(self, store: ImageStore | None = None, *,
                 network_mode: str = "bridge") -> None:
        self.store = store or ImageStore()
        self.network_mode = network_mode  # "bridge" (a private build network) or "host"
        self._network: NetworkState | None = None
        reclaim_stale_sessions()

    def __enter__(self) -> EngineBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def build_network(self) -> NetworkState:
        """This build's private network, made on first use."""
        if self._network is None:
            from stackr.network.bridge import NetworkSpec, ensure_network

            network_id = f"stkbuild-{os.getpid()}-{secrets.token_hex(4)}"
            self._network = ensure_network(NetworkSpec(network_id=network_id, name="build"))
        return self._network

    def close(self) -> None:
        """Remove the build network, if one was made."""
        if self._network is not None:
            from stackr.network.bridge import remove_network

            remove_network(self._network.network_id)
            self._network = None

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
            self.store.add_layer(stream, parent_layers, expected_diff_id=layer.diff_id)
        return layer.diff_id

    def save_image(self, config: Mapping[str, Any], names: Sequence[str]) -> str:
        return self.store.add_image(config, names).id
