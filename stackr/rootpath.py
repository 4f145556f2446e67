"""Paths inside another root filesystem (a container's, an image layer's, a build
stage's), resolved as that root's own processes would see them.

Every symlink is followed inside ``root``, the way ``openat2(RESOLVE_IN_ROOT)`` does: an
absolute link target and ``..`` stop at ``root``. So a link an image ships (``/etc ->
/host/etc``, ``x -> ../../..``) can never send a mount, a copy or a sync outside it.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

MAX_SYMLINKS = 40  # as Linux's MAXSYMLINKS


def resolve_in_root(root: Path, relative: str, *, follow_last: bool = True) -> Path:
    """``root/relative`` with its symlinks resolved inside ``root``. Components that do
    not exist are kept as they are (the caller may create them). Raises ``OSError``
    (ELOOP) on a symlink loop."""
    pending = [part for part in relative.split("/") if part not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        is_last = not pending
        if (follow_last or not is_last) and candidate.is_symlink():
            links += 1
            if links > MAX_SYMLINKS:
                raise OSError(
                    errno.ELOOP, f"too many levels of symbolic links in {relative!r}"
                )
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            pending = [p for p in target.split("/") if p not in ("", ".")] + pending
            continue
        resolved.append(part)
    return root.joinpath(*resolved)
