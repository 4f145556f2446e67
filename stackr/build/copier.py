"""Carry out COPY and ADD into a writable root filesystem, with Docker's dest rules.

* a relative destination is relative to WORKDIR;
* the destination is a directory when it ends with ``/``, when it already is one in the
  image, or when there are several sources; then each file lands under it by its base name;
* a directory source copies its *contents*, not the directory itself;
* files are owned by 0:0 unless ``--chown`` (names looked up in the image's
  ``/etc/passwd`` and ``/etc/group``), keep their mode unless ``--chmod``, and keep their
  modification time; missing parent directories are made (0755);
* ADD unpacks a local tar archive (plain, gzip, bzip2, xz) into the destination;
  ADD of a URL is refused.

Paths inside the root are resolved with ``resolve_in_root``: a symlink in the image can
never send a write outside it.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from stackr.build.context import Selected, SourceError, SourceTree, resolve_in_root


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int


def _lookup(path: Path, name: str, field: int) -> int | None:
    """Field ``field`` (2 = uid/gid) of the line named ``name`` in a passwd/group file."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) > field and parts[0] == name and parts[field].isdigit():
            return int(parts[field])
    return None


def resolve_user(root: Path, spec: str) -> Owner:
    """``user[:group]`` (names or numbers) → ids, from the image's own account files.
    Without a group, the user's primary group (or, for a bare number, the same id)."""
    user, _, group = spec.partition(":")
    passwd = resolve_in_root(root, "etc/passwd")
    if user.isdigit():
        uid = int(user)
    else:
        found = _lookup(passwd, user, 2)
        if found is None:
            raise SourceError(f"unknown user {user!r}: not in the image's /etc/passwd")
        uid = found
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            found = _lookup(resolve_in_root(root, "etc/group"), group, 2)
            if found is None:
                raise SourceError(f"unknown group {group!r}: not in the image's /etc/group")
            gid = found
    elif user.isdigit():
        primary = None
        for line in (passwd.read_text(errors="replace").splitlines()
                     if passwd.is_file() else []):
            parts = line.split(":")
            if len(parts) > 3 and parts[2] == user and parts[3].isdigit():
                primary = int(parts[3])
                break
        gid = primary if primary is not None else uid
    else:
        gid_found = _lookup(passwd, user, 3)
        gid = gid_found if gid_found is not None else 0
    return Owner(uid, gid)


def make_dirs(root: Path, absolute: str, owner: Owner | None) -> Path:
    """mkdir -p ``absolute`` inside ``root`` (symlinks resolved inside it); directories
    it makes get mode 0755 and ``owner`` (None: leave them to the caller's ids).
    Returns the host path of ``absolute``."""
    current = ""
    for part in [p for p in absolute.split("/") if p]:
        current = f"{current}/{part}"
        path = resolve_in_root(root, current)
        if not path.exists():
            path.mkdir(mode=0o755)
            os.chmod(path, 0o755)
            if owner is not None:
                os.lchown(path, owner.uid, owner.gid)
        elif not path.is_dir():
            raise SourceError(f"cannot make directory {absolute!r}: {current!r} is not a "
                              "directory in the image")
    return resolve_in_root(root, absolute)


def parse_chmod(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        raise SourceError(f"--chmod={text}: not an octal mode (e.g. 0755)") from None
    if not 0 <= mode <= 0o7777:
        raise SourceError(f"--chmod={text}: not a file mode")
    return mode


@dataclass(frozen=True)
class CopyRequest:
    dest: str  # expanded, as written
    workdir: str
    owner: Owner | None = None  # None: 0:0
    mode: int | None = None
    unpack_archives: bool = False  # ADD from the build context


def _is_archive(path: Path) -> bool:
    if not path.is_file() or path.is_symlink():
        return False
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


class _Writer:
    def __init__(self, root: Path, request: CopyRequest) -> None:
        self.root = root
        self.request = request
        owner = request.owner or Owner(0, 0)
        self.owner = owner
        # Without root, ownership cannot be set (unit tests); with root it always is.
        self.chown = os.geteuid() == 0
        self.dir_times: list[tuple[Path, os.stat_result]] = []

    def target(self, absolute: str) -> Path:
        parent, name = posixpath.split(absolute.rstrip("/") or "/")
        parent_path = resolve_in_root(self.root, parent)
        if name:
            return parent_path / name
        return parent_path

    def make_dirs(self, absolute: str) -> Path:
        """mkdir -p inside the root, new directories owned as the copied files."""
        return make_dirs(self.root, absolute, self.owner if self.chown else None)

    def _finish(self, path: Path, info: os.stat_result) -> None:
        if not stat.S_ISLNK(info.st_mode):
            mode = self.request.mode if self.request.mode is not None else info.st_mode
            os.chmod(path, stat.S_IMODE(mode))
        if self.chown:
            os.lchown(path, self.owner.uid, self.owner.gid)
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns), follow_symlinks=False)

    def put(self, source: Path, target: Path) -> None:
        info = source.lstat()
        # A file re-included ("!logs/keep.log") under an ignored directory: its parent
        # was not copied, so make it.
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            target.unlink()
        elif target.is_dir() and not stat.S_ISDIR(info.st_mode):
            shutil.rmtree(target)
        if stat.S_ISDIR(info.st_mode):
            if not target.exists():
                target.mkdir()
            self.dir_times.append((target, info))
            return
        if stat.S_ISLNK(info.st_mode):
            os.symlink(os.readlink(source), target)
        elif stat.S_ISREG(info.st_mode):
            shutil.copyfile(source, target, follow_symlinks=False)
        else:
            raise SourceError(f"{source.name!r}: only files, directories and symlinks "
                              "can be copied")
        self._finish(target, info)

    def close(self) -> None:
        # Directory times last: writing into a directory changes its mtime.
        for path, info in reversed(self.dir_times):
            self._finish(path, info)


def copy_sources(tree: SourceTree, selections: Sequence[Selected], root: Path,
                 request: CopyRequest, *, several: bool) -> None:
    """Copy ``selections`` (from ``tree``) into the root filesystem at ``root``."""
    dest = request.dest
    absolute = dest if dest.startswith("/") else posixpath.join(request.workdir or "/", dest)
    absolute = posixpath.normpath(absolute)
    existing = resolve_in_root(root, absolute)
    dest_is_dir = (dest.endswith("/") or dest in (".", "") or several
                   or (existing.is_dir() and not existing.is_symlink()))
    if several and not dest.endswith("/"):
        raise SourceError(f"when copying several sources, the destination {dest!r} must "
                          "be a directory and end with /")
    writer = _Writer(root, request)
    for selected in selections:
        if request.unpack_archives and _is_archive(selected.path):
            _unpack(selected.path, writer.make_dirs(absolute), writer)
            continue
        if selected.is_dir:
            base = writer.make_dirs(absolute)
            for relative, path in tree.walk(selected):
                if relative == ".":
                    writer.dir_times.append((base, path.lstat()))
                    continue
                writer.put(path, base / relative)
            continue
        if dest_is_dir:
            writer.make_dirs(absolute)
            target = resolve_in_root(root, absolute) / posixpath.basename(
                selected.relative if selected.relative != "." else selected.path.name)
        else:
            writer.make_dirs(posixpath.dirname(absolute) or "/")
            target = writer.target(absolute)
        writer.put(selected.path, target)
    writer.close()


def _unpack(archive: Path, directory: Path, writer: _Writer) -> None:
    with tarfile.open(archive, "r:*") as tar:
        # The "tar" filter refuses absolute names and paths or links that leave the
        # destination, and keeps owners and modes as ADD does.
        tar.extractall(directory, filter="tar")
        names = tar.getnames()
    if writer.request.owner is not None and writer.chown:
        for name in names:
            os.lchown(directory / name, writer.owner.uid, writer.owner.gid)
