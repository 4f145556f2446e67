"""stackr's image store: content-addressed blobs, one unpacked directory per layer.

The public surface the engine uses::

    from stackr.images import ImageStore, ImageRecord, effective_process

    store = ImageStore()                       # $STACKR_ROOT/images
    store.load_archive(Path("busybox.tar"))    # docker save (both layouts) / OCI layout
    record = store.pull("busybox:1.36", progress=print)
    store.resolve("busybox")                   # name[:tag], name@digest, id or id prefix
    store.layer_dirs(record)                   # OverlayFS lowerdirs, top layer first
    store.remove("busybox", force=False); store.prune(); store.list()

Submodules are imported lazily by their users; importing this package stays cheap.
"""

from __future__ import annotations

from stackr.images.config import ImageConfig, ProcessSettings, effective_process
from stackr.images.progress import Phase, ProgressEvent
from stackr.images.reference import Reference, parse_reference
from stackr.images.store import ImageRecord, ImageStore

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
