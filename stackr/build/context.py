"""COPY/ADD sources: which files a source pattern selects, and their content hash.

A source is a path relative to a root: the build context (with its ``.dockerignore``),
or a stage's root filesystem for ``COPY --from``. Sources may hold wildcards (``*``,
``?``, ``[...]``), matched one path segment at a time as Go's ``filepath.Match`` does
for Docker. A source never leaves its root: ``../x`` is refused, and symlinks met on the
way are resolved inside the root (an absolute link target means the root's ``/``).

The content hash is what the layer cache keys a COPY on: it covers the relative path,
type, permission bits and content (or link target) of every selected file — not
modification times or owners, like Docker's cache.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import posixpath
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackr import rootpath
from stackr.build.ignore import IgnoreMatcher
from stackr.statefile import write_atomic

_WILDCARD = frozenset("*?[")


class SourceError(ValueError):
    """A source that selects nothing, or points outside its root."""


def has_wildcard(pattern: str) -> bool:
    return any(char in _WILDCARD for char in pattern)


def resolve_in_root(root: Path, relative: str, *, follow_last: bool = True) -> Path:
    """``root/relative`` with every symlink resolved inside ``root`` (stackr.rootpath)."""
    try:
        return rootpath.resolve_in_root(root, relative, follow_last=follow_last)
    except OSError as error:
        raise SourceError(str(error.strerror)) from error


class FileDigests:
    """Content digests of context files, reused while a file's inode, size, mtime and
    ctime are unchanged (any write changes the ctime), so a no-change rebuild reads no
    file. ``load``/``save`` keep them across processes: one JSON file per context under
    the build cache, holding the files the last build of that context hashed."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.known: dict[str, list[Any]] = {}
        self.seen: dict[str, list[Any]] = {}
        if path is not None:
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                data = {}
            if isinstance(data, dict):
                self.known = {k: v for k, v in data.items()
                              if isinstance(v, list) and len(v) == 5}

    def digest(self, path: Path, info: os.stat_result) -> str:
        key = str(path)
        stamp = [info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]
        entry = self.seen.get(key) or self.known.get(key)
        if entry is not None and entry[:4] == stamp:
            value = str(entry[4])
        else:
            hasher = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    hasher.update(block)
            value = hasher.hexdigest()
        self.seen[key] = [*stamp, value]
        return value

    def save(self) -> None:
        if self.path is None or self.seen == self.known:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(self.seen, separators=(",", ":")).encode())
        self.known = dict(self.seen)


def file_digests_for(context_dir: Path, cache_directory: Path) -> FileDigests:
    name = hashlib.sha256(str(context_dir.resolve()).encode()).hexdigest()[:32]
    return FileDigests(cache_directory / "files" / f"{name}.json")


@dataclass(frozen=True)
class Selected:
    """One matched source: its path relative to the root and on the host."""

    relative: str  # "." for the root itself
    path: Path

    @property
    def is_dir(self) -> bool:
        return self.path.is_dir() and not self.path.is_symlink()


@dataclass
class SourceTree:
    """A root to copy from: the build context (``matcher`` set) or a stage rootfs."""

    root: Path
    matcher: IgnoreMatcher = field(default_factory=IgnoreMatcher)
    scoped: bool = False  # a stage's rootfs rather than the build context
    digests: FileDigests = field(default_factory=FileDigests)

    def _ignored(self, relative: str) -> bool:
        return self.matcher.ignored(relative) if self.matcher.patterns else False

    def select(self, pattern: str) -> list[Selected]:
        """The sources ``pattern`` names, sorted; an error when there are none."""
        cleaned = posixpath.normpath("/" + pattern).lstrip("/") or "."
        if not self.scoped and posixpath.normpath(pattern.lstrip("/")).startswith(".."):
            raise SourceError(f"{pattern!r} is outside the build context")
        if not has_wildcard(cleaned):
            path = self._path(cleaned)
            if not (path.exists() or path.is_symlink()) or self._ignored(cleaned):
                raise SourceError(f"{pattern!r} not found"
                                  + ("" if self.scoped else " in the build context"))
            return [Selected(cleaned, path)]
        matches = [Selected(rel, self._path(rel)) for rel in self._glob(cleaned.split("/"))]
        if not matches:
            raise SourceError(f"no source files were matched by {pattern!r}")
        return sorted(matches, key=lambda s: s.relative)

    def _path(self, relative: str) -> Path:
        """The host path of a source: symlinks on the way, and a symlink named as the
        source itself, are followed inside the root (as BuildKit follows them)."""
        if relative == ".":
            return self.root
        return resolve_in_root(self.root, relative)

    def _glob(self, segments: list[str]) -> Iterator[str]:
        prefixes = [""]
        for index, segment in enumerate(segments):
            last = index == len(segments) - 1
            following: list[str] = []
            for prefix in prefixes:
                directory = self._path(prefix or ".")
                if not has_wildcard(segment):
                    candidates = [segment]
                else:
                    try:
                        names = sorted(os.listdir(directory))
                    except (NotADirectoryError, FileNotFoundError):
                        continue
                    candidates = [n for n in names if fnmatch.fnmatchcase(n, segment)]
                for name in candidates:
                    relative = f"{prefix}/{name}" if prefix else name
                    path = self._path(relative)
                    if not (path.exists() or path.is_symlink()):
                        continue
                    if last and self._ignored(relative):
                        continue
                    if not last and not path.is_dir():
                        continue
                    following.append(relative)
            prefixes = following
        yield from prefixes

    def walk(self, selected: Selected) -> Iterator[tuple[str, Path]]:
        """``selected`` and, for a directory, everything below it that is not ignored,
        in sorted order, as (path relative to ``selected``, host path)."""
        yield ".", selected.path
        if selected.is_dir:
            yield from self._walk_dir(selected, "", selected.path)

    def _walk_dir(self, selected: Selected, relative_dir: str,
                  directory: Path) -> Iterator[tuple[str, Path]]:
        for name in sorted(os.listdir(directory)):
            relative = f"{relative_dir}/{name}" if relative_dir else name
            path = directory / name
            context_relative = (relative if selected.relative == "."
                                else f"{selected.relative}/{relative}")
            is_dir = path.is_dir() and not path.is_symlink()
            if self._ignored(context_relative):
                if is_dir and self.matcher.may_reinclude_below(context_relative):
                    yield from self._walk_dir(selected, relative, path)
                continue
            yield relative, path
            if is_dir:
                yield from self._walk_dir(selected, relative, path)

    def content_hash(self, selections: Sequence[Selected]) -> str:
        """sha256 over the selected trees: names, types, modes and contents."""
        digest = hashlib.sha256()
        for selected in selections:
            digest.update(f"source {selected.relative}\0".encode())
            for relative, path in sorted(self.walk(selected)):
                info = path.lstat()
                kind = stat.S_IFMT(info.st_mode)
                digest.update(f"{relative}\0{kind:o}\0{stat.S_IMODE(info.st_mode):o}\0".encode())
                if stat.S_ISREG(info.st_mode):
                    digest.update(self.digests.digest(path, info).encode())
                elif stat.S_ISLNK(info.st_mode):
                    digest.update(os.readlink(path).encode())
                digest.update(b"\n")
        return "sha256:" + digest.hexdigest()
