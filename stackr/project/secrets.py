"""Secrets and configs: files mounted read-only into a service's containers.

A secret goes to ``/run/secrets/<name>`` (or its absolute ``target``, or
``/run/secrets/<target>``); a config to its ``target`` or ``/<name>``. A ``file``
source without ``uid``/``gid``/``mode`` is bind-mounted as it is, as Compose does;
otherwise (``environment``, ``content``, or ownership/mode asked for) the value is
written to a private file under ``run_root()/projects/<project>/`` (a tmpfs on most
hosts: never into an image layer, never into a log), owned and moded as asked, and
that file is bind-mounted. ``down`` removes the directory.

``plan_files`` is pure; ``write_files`` and ``remove_files`` touch the host.
"""

from __future__ import annotations

import os
from pathlib import Path

from stackr.errors import ApplyError, NotImplementedYetError, UsageError
from stackr.naming import short_hash
from stackr.paths import run_root
from stackr.record import frozen_record

TYPE_CHECKING = False  # mypy reads True: typing is not loaded by down
if TYPE_CHECKING:
    from collections.abc import Mapping

    from stackr.config.models import Service, Stack

DEFAULT_MODE = 0o444


@frozen_record
class SecretFile:
    kind: str  # "secret" or "config"
    name: str  # the key under top-level secrets:/configs:
    target: str  # absolute path in the container
    source_file: str | None  # a host file to bind as it is, or to copy
    content: str | None  # the value (environment/content sources)
    uid: int | None
    gid: int | None
    mode: int | None
    private_path: str | None  # where the value is written (None: bind source_file)

    @property
    def mount_source(self) -> str:
        source = self.private_path or self.source_file
        assert source is not None
        return source


def project_directory(project: str) -> Path:
    return run_root() / "projects" / project


def _target(kind: str, name: str, target: str | None) -> str:
    if kind == "secret":
        if target is None:
            return f"/run/secrets/{name}"
        return target if target.startswith("/") else f"/run/secrets/{target}"
    if target is None:
        return f"/{name}"
    return target


def _number(value: str | None, what: str, service_name: str) -> int | None:
    if value is None:
        return None
    if not value.isdigit():
        raise UsageError(f"service {service_name}: {what} {value!r} must be a number")
    return int(value)


def plan_files(stack: Stack, service_name: str, service: Service,
               environment: Mapping[str, str], directory: Path) -> list[SecretFile]:
    """The files ``service`` mounts, with their sources resolved (no I/O)."""
    files: list[SecretFile] = []
    for kind, entries, declared in (("secret", service.secrets, stack.secrets),
                                    ("config", service.configs, stack.configs)):
        for entry in entries:
            top = declared.get(entry.source)
            if top is None:
                raise UsageError(f"service {service_name}: {kind} {entry.source!r} is not "
                                 f"declared under top-level {kind}s")
            if top.external:
                raise NotImplementedYetError(
                    f"service {service_name}: external {kind} {entry.source!r} is not "
                    "supported (stackr has no secret store)")
            content: str | None = None
            if top.environment is not None:
                if top.environment not in environment:
                    raise UsageError(f"{kind} {entry.source}: variable {top.environment} is "
                                     "not set")
                content = environment[top.environment]
            elif kind == "config" and getattr(top, "content", None) is not None:
                content = getattr(top, "content", None)
            uid = _number(entry.uid, "uid", service_name)
            gid = _number(entry.gid, "gid", service_name)
            target = _target(kind, entry.source, entry.target)
            copy = content is not None or uid is not None or gid is not None or \
                entry.mode is not None
            private = None
            if copy:
                private = str(directory / f"{kind}s" / service_name /
                              f"{entry.source}-{short_hash(target, length=8)}")
            files.append(SecretFile(kind, entry.source, target, top.file, content, uid, gid,
                                    entry.mode, private))
    return files


def write_files(files: list[SecretFile]) -> None:
    """Write the private copies (0700 directories, the file's own mode and owner)."""
    for secret in files:
        if secret.private_path is None:
            if secret.source_file is None or not os.path.exists(secret.source_file):
                raise ApplyError(f"{secret.kind} {secret.name}: file {secret.source_file} "
                                 "does not exist")
            continue
        path = Path(secret.private_path)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(path.name + ".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC,
                             0o600)
        try:
            if secret.content is not None:
                os.write(descriptor, secret.content.encode())
            else:
                assert secret.source_file is not None
                with open(secret.source_file, "rb") as source:
                    while chunk := source.read(65536):
                        os.write(descriptor, chunk)
            os.fchown(descriptor, secret.uid if secret.uid is not None else 0,
                      secret.gid if secret.gid is not None else 0)
            os.fchmod(descriptor, secret.mode if secret.mode is not None else DEFAULT_MODE)
        except OSError as error:
            raise ApplyError(f"{secret.kind} {secret.name}: cannot write it: {error}") from None
        finally:
            os.close(descriptor)
        os.replace(temporary, path)  # atomic: a running container never sees half a file


def remove_files(project: str) -> None:
    directories = [project_directory(project) / kind for kind in ("secrets", "configs")]
    if not any(os.path.lexists(directory) for directory in directories):
        return  # most projects have none: down need not load shutil (bz2, lzma)
    import shutil

    for directory in directories:
        shutil.rmtree(directory, ignore_errors=True)
