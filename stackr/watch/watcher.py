"""Watch a set of host paths (files and directory trees) with watchdog, and keep
watching when they are deleted and re-created, or moved away and back.

An inotify watch follows an inode, not a name: an editor that saves by writing a new
file and renaming it over the old one, or ``git checkout`` replacing a directory, would
leave a plain watch on the dead inode and the watcher silent ("Watch disabled",
compose#12096). So each root is watched twice: its tree (recursive, when it is a
directory), and its nearest existing ancestor (non-recursive), which sees the root
itself come and go. When a root appears or changes inode, its tree watch is made
again and the whole root is reported changed, since anything may differ. A slow
poll (``recheck_every``) catches what no event announces (a parent moved away).

Editors' temporary files and ``.git`` are dropped here, before they cost anything.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from stackr.watch.rules import is_ephemeral

PathsSink = Callable[[list[Path]], None]
ProblemSink = Callable[[str], None]

_IGNORED_EVENTS = ("opened", "closed_no_write")


@dataclass(frozen=True)
class _Identity:
    device: int
    inode: int


def _identity(path: Path) -> _Identity | None:
    """The directory's (device, inode), or None when it is not a directory now."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    if not os.path.isdir(path):
        return None
    return _Identity(info.st_dev, info.st_ino)


def _nearest_existing_ancestor(path: Path) -> Path:
    for ancestor in path.parents:
        if ancestor.is_dir():
            return ancestor
    return Path("/")


class _Handler:
    """watchdog's handler protocol (``dispatch``) without subclassing its untyped
    base class."""

    def __init__(self, watcher: Watcher) -> None:
        self._watcher = watcher

    def dispatch(self, event: Any) -> None:
        self._watcher._on_event(event)


class Watcher:
    """``start()`` begins; ``on_paths`` receives changed paths (from watchdog's thread);
    ``stop()`` ends. ``set_roots`` changes what is watched (a reloaded stack)."""

    def __init__(self, roots: Iterable[Path], on_paths: PathsSink,
                 on_problem: ProblemSink | None = None, *, recheck_every: float = 1.0) -> None:
        self._roots = tuple(sorted({Path(os.path.abspath(r)) for r in roots}))
        self._on_paths = on_paths
        self._on_problem = on_problem or (lambda text: None)
        self._recheck_every = recheck_every
        self._lock = threading.RLock()
        self._tree_watches: dict[Path, tuple[_Identity, Any]] = {}
        self._ancestor_watches: dict[Path, Any] = {}
        self._missing_reported: set[Path] = set()
        self._present: set[Path] = set()  # roots that existed at the last refresh
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._observer: Any = None
        self._refresher: threading.Thread | None = None
        self._handler = _Handler(self)

    @property
    def roots(self) -> tuple[Path, ...]:
        return self._roots

    def start(self) -> None:
        from watchdog.observers import Observer

        self._observer = Observer()
        self._observer.start()
        self._refresh(report=False)
        self._refresher = threading.Thread(target=self._refresh_loop, name="stackr-watch-roots",
                                           daemon=True)
        self._refresher.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._refresher is not None:
            self._refresher.join(5)
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(5)

    def set_roots(self, roots: Iterable[Path]) -> None:
        with self._lock:
            self._roots = tuple(sorted({Path(os.path.abspath(r)) for r in roots}))
        self._refresh(report=False)

    def watched_trees(self) -> tuple[Path, ...]:
        with self._lock:
            return tuple(sorted(self._tree_watches))

    # -- events -----------------------------------------------------------------------

    def _root_of(self, path: Path) -> Path | None:
        for root in self._roots:
            if path == root or root in path.parents:
                return root
        return None

    def _on_event(self, event: Any) -> None:
        if event.event_type in _IGNORED_EVENTS:
            return
        if event.is_directory and event.event_type == "modified":
            return  # a directory's mtime: its entries' own events say what changed
        raw = [event.src_path]
        if event.event_type == "moved":
            raw.append(event.dest_path)
        changed: list[Path] = []
        touches_roots = False
        for item in raw:
            path = Path(os.fsdecode(item))
            root = self._root_of(path)
            if path in self._roots or any(path in r.parents for r in self._roots):
                touches_roots = True  # a root (or a directory on its way) came or went
            if root is None:
                continue
            relative = PurePosixPath(path.relative_to(root).as_posix())
            if relative.parts and is_ephemeral(relative):
                continue
            changed.append(path)
        if touches_roots:
            self._wake.set()
        if changed:
            self._on_paths(changed)

    # -- roots --------------------------------------------------------------------------

    def _refresh_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._recheck_every)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self._refresh(report=True)
            except Exception as error:  # the watcher must outlive any one failure
                self._on_problem(f"watch: {error}")

    def _refresh(self, report: bool) -> None:
        appeared: list[Path] = []
        with self._lock:
            roots = self._roots
            for root in roots:
                if self._refresh_root(root, report):
                    appeared.append(root)
            for stale in set(self._tree_watches) - set(roots):
                self._unschedule(self._tree_watches.pop(stale)[1])
            wanted = {_nearest_existing_ancestor(root) for root in roots}
            for ancestor in wanted - set(self._ancestor_watches):
                try:
                    self._ancestor_watches[ancestor] = self._observer.schedule(
                        self._handler, str(ancestor), recursive=False)
                except OSError as error:
                    self._on_problem(f"cannot watch {ancestor}: {error.strerror}")
            for stale in set(self._ancestor_watches) - wanted:
                self._unschedule(self._ancestor_watches.pop(stale))
        if report and appeared:
            self._on_paths(appeared)

    def _refresh_root(self, root: Path, report: bool) -> bool:
        """Bring one root's tree watch up to date; True when the root (re)appeared."""
        identity = _identity(root)
        exists = identity is not None or os.path.lexists(root)
        current = self._tree_watches.get(root)
        if current is not None and current[0] != identity:
            self._unschedule(current[1])  # gone, or another directory under its name
            del self._tree_watches[root]
            current = None
        if not exists:
            # Only a root that was there is news when it goes (a missing .env is normal).
            if root in self._present and report:
                self._problem_once(root, f"{root} is gone; watching for it to return")
            self._present.discard(root)
            return False
        came_back = root not in self._present
        self._present.add(root)
        self._missing_reported.discard(root)
        if identity is not None and current is None:
            try:
                watch = self._observer.schedule(self._handler, str(root), recursive=True)
            except OSError as error:  # an unreadable tree: said, the rest still watched
                self._problem_once(root, f"cannot watch {root}: {error.strerror}")
                return False
            self._tree_watches[root] = (identity, watch)
            return True
        return came_back

    def _problem_once(self, root: Path, text: str) -> None:
        if root not in self._missing_reported:
            self._missing_reported.add(root)
            self._on_problem(text)

    def _unschedule(self, watch: Any) -> None:
        # Its emitter may have stopped itself when the directory went away.
        with contextlib.suppress(KeyError, RuntimeError, OSError):
            self._observer.unschedule(watch)
