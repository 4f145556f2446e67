"""``develop.watch`` sync: copy host changes into a running container, no tool needed
inside the image.

Compose's sync runs ``tar`` (or ``cp``) inside the container, so a distroless or
scratch image cannot be synced, and a delete fails once the container has exited. Here
the host writes straight into the container's root as its processes see it —
``/proc/<pid>/root`` (the container's mount namespace: overlay upper dir, volumes and
binds included) — through ``openat2(RESOLVE_IN_ROOT)`` (``stackr.inroot``): the
container's own symlinks are followed as the container would, and can never lead out.

Each file lands atomically (a temporary name in the same directory, then ``rename``), so
the application never reads half a file; its mode and mtime are the host file's, its
owner the container's user. A path that no longer exists on the host is deleted in the
container; a rename is a delete plus a create. One failing path (unreadable on the
host, a read-only target) is reported and the others still land.
"""

from __future__ import annotations

import errno
import itertools
import os
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from stackr.errors import HostError
from stackr.inroot import openat2_in_root

_MAX_ACCOUNT_FILE = 1 << 20  # /etc/passwd larger than this is not believed
_temp_counter = itertools.count()


@dataclass(frozen=True)
class Owner:
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class SyncItem:
    """One changed host path and where it lives in the container. ``keep`` filters what
    is copied below a directory (the rule's ignore patterns), by host path."""

    source: Path
    target: PurePosixPath
    keep: Callable[[Path], bool] | None = None


@dataclass(frozen=True)
class SyncReport:
    copied: tuple[str, ...] = ()  # container paths written
    deleted: tuple[str, ...] = ()  # container paths removed
    failed: tuple[str, ...] = ()  # "path: cause"
    bytes_copied: int = 0


@dataclass
class _Tally:
    copied: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    bytes_copied: int = 0

    def report(self) -> SyncReport:
        return SyncReport(tuple(self.copied), tuple(self.deleted), tuple(self.failed),
                          self.bytes_copied)


def _parts(target: PurePosixPath) -> tuple[str, ...]:
    if not target.is_absolute():
        raise ValueError(f"sync target {target} is not absolute")
    parts = tuple(part for part in target.parts[1:] if part not in ("", "."))
    if ".." in parts:
        raise ValueError(f"sync target {target} contains '..'")
    return parts


def collapse(items: Iterable[SyncItem]) -> list[SyncItem]:
    """One item per target, and none below a target whose whole directory is copied
    anyway: a new directory with 300 files is one walk, not 301 syncs."""
    by_target: dict[PurePosixPath, SyncItem] = {}
    for item in items:
        by_target[item.target] = item
    copied_dirs = {t for t, item in by_target.items() if item.source.is_dir()
                   and not item.source.is_symlink()}
    deleted = {t for t, item in by_target.items() if not os.path.lexists(item.source)}
    kept = []
    for target in sorted(by_target):
        if any(parent in copied_dirs or parent in deleted for parent in target.parents):
            continue
        kept.append(by_target[target])
    return kept


class ContainerRoot:
    """A container's root directory as the host sees it (``/proc/<pid>/root``, or any
    directory standing in for one in tests)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def of_pid(cls, pid: int) -> ContainerRoot:
        return cls(Path(f"/proc/{pid}/root"))

    @contextmanager
    def _root_fd(self) -> Iterator[int]:
        try:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as error:
            raise HostError.from_os_error("open container root", str(self.root),
                                          error) from None
        try:
            yield fd
        finally:
            os.close(fd)

    # -- accounts ---------------------------------------------------------------------

    def _read(self, root_fd: int, relative: str) -> str:
        try:
            fd = openat2_in_root(root_fd, relative, os.O_RDONLY)
        except OSError:
            return ""
        with os.fdopen(fd, "rb") as handle:
            return handle.read(_MAX_ACCOUNT_FILE).decode("utf-8", "replace")

    def resolve_owner(self, user: str | None) -> Owner:
        """The container's ``user`` (``uid``, ``uid:gid``, ``name``, ``name:group``) as
        numbers, from the container's own /etc/passwd and /etc/group (as Docker does;
        a numeric uid without an entry gets gid 0)."""
        if not user:
            return Owner()
        name, _, group = user.partition(":")
        with self._root_fd() as root_fd:
            passwd = self._read(root_fd, "etc/passwd") if not (
                name.isdigit() and group.isdigit()) else ""
            groups = self._read(root_fd, "etc/group") if group and not group.isdigit() else ""
        uid: int | None = int(name) if name.isdigit() else None
        gid: int | None = int(group) if group.isdigit() else None
        primary_gid = 0
        for line in passwd.splitlines():
            fields = line.split(":")
            if len(fields) < 4 or not fields[2].isdigit() or not fields[3].isdigit():
                continue
            if (uid is None and fields[0] == name) or (uid is not None and int(fields[2]) == uid):
                uid = int(fields[2])
                primary_gid = int(fields[3])
                break
        if uid is None:
            raise HostError("resolve container user", user, detail="no such user in the "
                            "container's /etc/passwd")
        if group and gid is None:
            for line in groups.splitlines():
                fields = line.split(":")
                if len(fields) >= 3 and fields[0] == group and fields[2].isdigit():
                    gid = int(fields[2])
                    break
            if gid is None:
                raise HostError("resolve container group", group, detail="no such group in "
                                "the container's /etc/group")
        return Owner(uid, gid if gid is not None else primary_gid)

    # -- sync -------------------------------------------------------------------------

    def sync(self, items: Iterable[SyncItem], owner: Owner = Owner()) -> SyncReport:
        """Make each item's target what its source is now on the host: copied (file,
        symlink or directory tree) when it exists, removed when it does not."""
        tally = _Tally()
        with self._root_fd() as root_fd:
            for item in collapse(items):
                try:
                    parts = _parts(item.target)
                    if not parts:
                        raise ValueError("the container's root itself cannot be synced")
                    if os.path.lexists(item.source):
                        self._copy(root_fd, parts, item.source, item.keep, owner, tally)
                    else:
                        self._delete(root_fd, parts, tally)
                except (OSError, ValueError) as error:
                    cause = error.strerror if isinstance(error, OSError) and error.strerror \
                        else str(error)
                    tally.failed.append(f"{item.target}: {cause}")
        return tally.report()

    def _open_dir(self, root_fd: int, parts: tuple[str, ...], owner: Owner | None) -> int:
        """An fd on the container directory ``/parts``; missing directories are made
        (owned by ``owner``) when ``owner`` is given, else ENOENT is raised."""
        relative = "/".join(parts)
        try:
            return openat2_in_root(root_fd, relative, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as error:
            if error.errno != errno.ENOENT or owner is None or not parts:
                raise
        parent_fd = self._open_dir(root_fd, parts[:-1], owner)
        try:
            try:
                os.mkdir(parts[-1], 0o755, dir_fd=parent_fd)
                os.chown(parts[-1], owner.uid, owner.gid, dir_fd=parent_fd,
                         follow_symlinks=False)
            except FileExistsError:
                pass  # made meanwhile, or a dangling link: the open below decides
            return openat2_in_root(root_fd, relative, os.O_RDONLY | os.O_DIRECTORY)
        finally:
            os.close(parent_fd)

    @staticmethod
    def _remove_entry(parent_fd: int, name: str) -> bool:
        """Remove whatever ``name`` is (never following it); False if there was none."""
        try:
            info = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(info.st_mode):
            shutil.rmtree(name, dir_fd=parent_fd)
        else:
            os.unlink(name, dir_fd=parent_fd)
        return True

    def _delete(self, root_fd: int, parts: tuple[str, ...], tally: _Tally) -> None:
        try:
            parent_fd = self._open_dir(root_fd, parts[:-1], None)
        except FileNotFoundError:
            return  # its directory is gone already: so is it
        try:
            if self._remove_entry(parent_fd, parts[-1]):
                tally.deleted.append("/" + "/".join(parts))
        finally:
            os.close(parent_fd)

    def _copy(self, root_fd: int, parts: tuple[str, ...], source: Path,
              keep: Callable[[Path], bool] | None, owner: Owner, tally: _Tally) -> None:
        parent_fd = self._open_dir(root_fd, parts[:-1], owner)
        try:
            self._copy_at(parent_fd, parts[-1], "/" + "/".join(parts), source, keep, owner,
                          tally)
        finally:
            os.close(parent_fd)

    def _copy_at(self, parent_fd: int, name: str, shown: str, source: Path,
                 keep: Callable[[Path], bool] | None, owner: Owner, tally: _Tally) -> None:
        info = os.lstat(source)
        if stat.S_ISDIR(info.st_mode):
            self._copy_dir(parent_fd, name, shown, source, info, keep, owner, tally)
            return
        temp = f".stackr-sync-{os.getpid()}-{next(_temp_counter)}"
        if stat.S_ISLNK(info.st_mode):
            os.symlink(os.readlink(source), temp, dir_fd=parent_fd)
            os.chown(temp, owner.uid, owner.gid, dir_fd=parent_fd, follow_symlinks=False)
        elif stat.S_ISREG(info.st_mode):
            try:
                tally.bytes_copied += self._write_file(parent_fd, temp, source, info, owner)
            except BaseException:
                _unlink_quietly(parent_fd, temp)
                raise
        else:
            return  # sockets, fifos, devices: not application files
        try:
            existing = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
            if stat.S_ISDIR(existing.st_mode):
                shutil.rmtree(name, dir_fd=parent_fd)
        except FileNotFoundError:
            pass
        try:
            os.rename(temp, name, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
        except BaseException:
            _unlink_quietly(parent_fd, temp)
            raise
        tally.copied.append(shown)

    @staticmethod
    def _write_file(parent_fd: int, temp: str, source: Path, info: os.stat_result,
                    owner: Owner) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        out_fd = os.open(temp, flags, 0o600, dir_fd=parent_fd)
        copied = 0
        try:
            with open(source, "rb") as handle:
                in_fd = handle.fileno()
                size = os.fstat(in_fd).st_size
                while copied < size:
                    sent = os.sendfile(out_fd, in_fd, copied, size - copied)
                    if sent == 0:
                        break  # the file shrank meanwhile: the next event brings the rest
                    copied += sent
            os.fchown(out_fd, owner.uid, owner.gid)  # before chmod: chown clears setuid
            os.fchmod(out_fd, stat.S_IMODE(info.st_mode))
            os.utime(out_fd, ns=(info.st_atime_ns, info.st_mtime_ns))
        finally:
            os.close(out_fd)
        return copied

    def _copy_dir(self, parent_fd: int, name: str, shown: str, source: Path,
                  info: os.stat_result, keep: Callable[[Path], bool] | None, owner: Owner,
                  tally: _Tally) -> None:
        try:
            existing = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
            if not stat.S_ISDIR(existing.st_mode):
                os.unlink(name, dir_fd=parent_fd)
                raise FileNotFoundError
        except FileNotFoundError:
            os.mkdir(name, 0o700, dir_fd=parent_fd)
        os.chown(name, owner.uid, owner.gid, dir_fd=parent_fd, follow_symlinks=False)
        os.chmod(name, stat.S_IMODE(info.st_mode), dir_fd=parent_fd, follow_symlinks=False)
        tally.copied.append(shown)
        dir_fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         dir_fd=parent_fd)
        try:
            try:
                children = sorted(os.listdir(source))
            except OSError as error:
                tally.failed.append(f"{shown}: {error.strerror}")
                return
            for child in children:
                child_source = source / child
                if keep is not None and not keep(child_source):
                    continue
                try:
                    self._copy_at(dir_fd, child, f"{shown}/{child}", child_source, keep, owner,
                                  tally)
                except OSError as error:
                    tally.failed.append(f"{shown}/{child}: {error.strerror}")
        finally:
            os.close(dir_fd)


def _unlink_quietly(parent_fd: int, name: str) -> None:
    with suppress(OSError):
        os.unlink(name, dir_fd=parent_fd)
