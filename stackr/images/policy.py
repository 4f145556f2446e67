"""Compose's ``pull_policy``: whether ``up`` uses the stored image or pulls it.

``ensure_image(store, reference, policy)`` is what the engine calls for each service:

* ``missing`` (the default; ``if_not_present`` is its older spelling): pull only when the
  store has no image of that name;
* ``always``: pull every time (layers already present are not downloaded again);
* ``never``: use the stored image, fail when there is none;
* ``build``: the image comes from a build; this module only finds it (the builder makes
  it), so a missing one is an error naming the policy.
"""

from __future__ import annotations

from typing import Protocol

from stackr.errors import UsageError
from stackr.images.errors import ImageNotFoundError
from stackr.images.progress import ProgressCallback
from stackr.images.store import ImageRecord

POLICIES = ("missing", "if_not_present", "always", "never", "build")


class _Store(Protocol):
    def resolve(self, reference: str) -> ImageRecord | None: ...
    def pull(self, reference: str, progress: ProgressCallback | None = None) -> ImageRecord: ...


def ensure_image(
    store: _Store,
    reference: str,
    policy: str = "missing",
    progress: ProgressCallback | None = None,
) -> ImageRecord:
    if policy not in POLICIES:
        raise UsageError(
            f"pull_policy {policy!r} is not supported (use one of: {', '.join(POLICIES)})"
        )
    if policy == "always":
        return store.pull(reference, progress)
    found = store.resolve(reference)
    if found is not None:
        return found
    if policy in ("never", "build"):
        raise ImageNotFoundError(f"{reference} (pull_policy is {policy}: stackr does not pull it)")
    return store.pull(reference, progress)
