"""What the builder needs of the engine: the ``BuildBackend`` protocol and its values.

The builder decides (instruction semantics, cache); a backend only acts: it resolves a
base image, gives a writable root filesystem on a stack of layers, runs a command in a
container on it, turns what changed into a stored layer, and stores the final image.
The real backend is ``stackr.build.engine_backend`` (stackr.runtime + stackr.images);
unit tests use a fake one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class BaseImage:
    """An image a stage starts from."""

    reference: str
    layers: tuple[str, ...]  # layer digests (diff_ids), bottom first
    config: Mapping[str, Any]  # the OCI image config document ("config", "rootfs", ...)


@dataclass(frozen=True)
class RunSpec:
    """One RUN: the process to start in a container on the step's root filesystem."""

    argv: tuple[str, ...]
    env: tuple[str, ...]  # "KEY=value", sorted
    workdir: str
    user: str  # as in the image config: "", "name", "uid:gid", ...
    network: str = "default"  # "default" (the build network) or "none" / "host"
    shm_size: int | None = None  # bytes of /dev/shm (None: the runtime's default)
    extra_hosts: tuple[tuple[str, str], ...] = ()  # (name, address) more in /etc/hosts
    ulimits: tuple[tuple[str, int, int], ...] = ()  # (name, soft, hard)
    privileged: bool = False  # every capability and device, no seccomp filter


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    output: str  # combined stdout+stderr; the builder keeps only its tail


class RootfsSession(Protocol):
    """A writable root filesystem on a stack of layers, for one step."""

    @property
    def root(self) -> Path:
        """The merged tree, writable: COPY writes here."""
        ...

    def run(self, spec: RunSpec) -> RunResult:
        """Run ``spec`` in a container whose root filesystem is this session's."""
        ...

    def commit(self) -> str | None:
        """Store what changed as a layer; its digest, or None when nothing changed."""
        ...


class BuildBackend(Protocol):
    def base_image(self, reference: str, *, pull: bool) -> BaseImage:
        """Resolve ``reference`` in the store (pulling it when absent or ``pull``)."""
        ...

    def has_layer(self, digest: str) -> bool: ...

    def rootfs(self, layers: Sequence[str]) -> AbstractContextManager[RootfsSession]:
        """A writable session on ``layers`` (bottom first); cleaned up on exit."""
        ...

    def save_image(self, config: Mapping[str, Any], names: Sequence[str]) -> str:
        """Store the image config (its rootfs.diff_ids name stored layers) and tag it
        with ``names``; returns the image id ("sha256:" + digest of the config)."""
        ...
