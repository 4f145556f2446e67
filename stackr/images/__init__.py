"""stackr's image store: content-addressed blobs, one unpacked directory per layer.

The public surface the engine uses::

    from stackr.images import ImageStore, ImageRecord, effective_process

    store = ImageStore()                       # $STACKR_ROOT/images
    store.load_archive(Path("busybox.tar"))    # docker save (both layouts) / OCI layout
    record = store.pull("busybox:1.36", progress=print)
    store.resolve("busybox")                   # name[:tag], name@digest, id or id prefix
    store.layer_dirs(record)                   # OverlayFS lowerdirs, top layer first
    store.remove("busybox", force=False); store.prune(); store.list()
    store.import_rootfs(Path("root"), "base:local", cmd=["/bin/sh"])   # docker import

    from stackr.images.policy import ensure_image           # Compose pull_policy
    record = ensure_image(store, "busybox", "missing")
    process = effective_process(record.config, command=..., entrypoint=..., environment=...)

Submodules are imported lazily by their users; importing this package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stackr.images.config import ImageConfig, ProcessSettings, effective_process
    from stackr.images.progress import Phase, ProgressEvent
    from stackr.images.reference import Reference, parse_reference
    from stackr.images.store import ImageRecord, ImageStore

# name → module: loaded on first access, so that the CLI, which only needs
# ``stackr.images.reference`` or ``.errors``, does not import the store (tarfile, hashlib…)
_EXPORTS = {
    "ImageConfig": "stackr.images.config",
    "ProcessSettings": "stackr.images.config",
    "effective_process": "stackr.images.config",
    "Phase": "stackr.images.progress",
    "ProgressEvent": "stackr.images.progress",
    "Reference": "stackr.images.reference",
    "parse_reference": "stackr.images.reference",
    "ImageRecord": "stackr.images.store",
    "ImageStore": "stackr.images.store",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'stackr.images' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "ImageConfig",
    "ImageRecord",
    "ImageStore",
    "Phase",
    "ProcessSettings",
    "ProgressEvent",
    "Reference",
    "effective_process",
    "parse_reference",
]
