"""What a service mounts: volumes (bind, volume, tmpfs), secrets and configs, env files,
devices, volumes_from."""

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ValidationInfo, field_validator, model_validator

from stackr.config.models_base import (
    ByteSizeIn,
    Model,
    byte_size,
    each_item,
    fail,
    file_mode,
    resolve_path,
    show,
    string_list,
)

# -- volumes --------------------------------------------------------------------------------

VOLUME_SYNTAX = "[SOURCE:]TARGET[:MODE]"
_PROPAGATIONS = ("shared", "rshared", "slave", "rslave", "private", "rprivate")


class BindOptions(Model):
    create_host_path: bool = False
    propagation: Literal["shared", "rshared", "slave", "rslave", "private", "rprivate"] | None = (
        None
    )
    selinux: Literal["z", "Z"] | None = None


class VolumeOptions(Model):
    nocopy: bool = False
    subpath: str | None = None


class TmpfsOptions(Model):
    size: int | None = None  # bytes
    mode: int | None = None  # permission bits

    @field_validator("size", mode="before", json_schema_input_type=ByteSizeIn | None)
    @classmethod
    def _size(cls, value: Any) -> Any:
        return None if value is None else byte_size(value)

    @field_validator("mode", mode="before", json_schema_input_type=int | str | None)
    @classmethod
    def _mode(cls, value: Any) -> Any:
        return file_mode(value)


class ServiceVolume(Model):
    """A mount of the service: ``bind`` (host path), ``volume`` (named/anonymous), ``tmpfs``."""

    type: Literal["bind", "volume", "tmpfs"]
    source: str | None = None  # bind: absolute host path; volume: name (None: anonymous)
    target: str
    read_only: bool = False
    consistency: str | None = None
    bind: BindOptions | None = None
    volume: VolumeOptions | None = None
    tmpfs: TmpfsOptions | None = None

    @model_validator(mode="before")
    @classmethod
    def _long(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, Mapping):
            return data
        kind = data.get("type")
        if kind in ("npipe", "cluster", "image"):
            fail(f'volume type "{kind}" is not supported by stackr yet', ("type",))
        source = data.get("source")
        if kind == "bind":
            if not source:
                fail('a "bind" mount needs a "source"')
            if isinstance(source, str):
                data = {**data, "source": resolve_path(source, info)}
        if kind == "tmpfs" and source:
            fail('a "tmpfs" mount has no "source"', ("source",))
        return data

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        if not value.startswith("/"):
            fail(f"{show(value)} is not an absolute path in the container")
        return value


def looks_like_path(text: str) -> bool:
    return text.startswith((".", "/", "~", "$"))


def parse_short_volume(text: str, info: ValidationInfo) -> ServiceVolume:
    bad = f"{show(text)} is not a volume ({VOLUME_SYNTAX})"
    parts = text.split(":")
    if len(parts) == 1:
        source, target, modes = "", parts[0], ""
    elif len(parts) == 2:
        source, target, modes = parts[0], parts[1], ""
        if not target.startswith("/") and source.startswith("/"):
            fail(bad)
    elif len(parts) == 3:
        source, target, modes = parts
    else:
        fail(bad)
    if not target.startswith("/"):
        fail(bad)
    read_only = False
    bind: dict[str, Any] = {}
    volume: dict[str, Any] = {}
    for mode in filter(None, modes.split(",")):
        if mode in ("ro", "rw"):
            read_only = mode == "ro"
        elif mode in ("z", "Z"):
            bind["selinux"] = mode
        elif mode in _PROPAGATIONS:
            bind["propagation"] = mode
        elif mode == "nocopy":
            volume["nocopy"] = True
        elif mode in ("consistent", "cached", "delegated"):
            pass  # macOS-only hints, meaningless on Linux (Compose ignores them too)
        else:
            fail(f"{show(text)}: unknown volume mode {show(mode)} (ro, rw, z, Z, nocopy, …)")
    if not source:
        return ServiceVolume(type="volume", target=target, read_only=read_only)
    if looks_like_path(source):
        return ServiceVolume.model_validate(
            {
                "type": "bind",
                "source": source,
                "target": target,
                "read_only": read_only,
                "bind": {"create_host_path": True, **bind},
            },
            context=info.context,
        )
    if bind:
        fail(f"{show(text)}: z, Z and propagation modes apply to bind mounts only")
    return ServiceVolume.model_validate(
        {
            "type": "volume",
            "source": source,
            "target": target,
            "read_only": read_only,
            **({"volume": volume} if volume else {}),
        }
    )


def parse_volumes(value: Any, info: ValidationInfo) -> list[ServiceVolume]:
    def parse(item: Any, index: int) -> ServiceVolume:
        if isinstance(item, Mapping):
            return ServiceVolume.model_validate(item, context=info.context)
        if not isinstance(item, str):
            fail(f"{show(item)} is not a volume ({VOLUME_SYNTAX})")
        return parse_short_volume(item, info)

    return each_item(value, parse)


class ServiceSecret(Model):
    """A secret or config granted to the service (``source`` names the top-level entry)."""

    source: str
    target: str | None = None
    uid: str | None = None
    gid: str | None = None
    mode: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return {"source": data} if isinstance(data, str) else data

    @field_validator("mode", mode="before", json_schema_input_type=int | str | None)
    @classmethod
    def _mode(cls, value: Any) -> Any:
        return file_mode(value)


def parse_service_secrets(value: Any) -> list[ServiceSecret]:
    return each_item(value, lambda item, index: ServiceSecret.model_validate(item))


class EnvFile(Model):
    path: str  # absolute
    required: bool = True

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, str):
            data = {"path": data}
        if isinstance(data, Mapping) and isinstance(data.get("path"), str):
            data = {**data, "path": resolve_path(data["path"], info)}
        return data


def parse_env_files(value: Any, info: ValidationInfo) -> list[EnvFile]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    return each_item(value, lambda item, index: EnvFile.model_validate(item, context=info.context))


class Device(Model):
    source: str
    target: str | None = None  # None: same as source
    permissions: str = "rwm"

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        if isinstance(data, str):
            parts = data.split(":")
            if len(parts) > 3 or not parts[0]:
                fail(f"{show(data)} is not a device (HOST_PATH[:CONTAINER_PATH[:PERMISSIONS]])")
            keys = ("source", "target", "permissions")
            return dict(zip(keys, parts, strict=False))
        return data

    @field_validator("permissions")
    @classmethod
    def _permissions(cls, value: str) -> str:
        if not value or set(value) - set("rwm"):
            fail(f"{show(value)} is not a set of device permissions (r, w, m)")
        return value


class VolumesFrom(Model):
    """``volumes_from: [app:ro]``: mount every volume of service ``app``."""

    service: str
    read_only: bool = False

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        if isinstance(data, str):
            parts = data.split(":")
            if parts[0] == "container":
                fail(f'{show(data)}: "container:" sources are not supported by stackr yet')
            if len(parts) > 2 or not parts[0] or parts[1:] not in ([], ["ro"], ["rw"]):
                fail(f"{show(data)} is not a volumes_from entry (SERVICE[:ro|rw])")
            return {"service": parts[0], "read_only": parts[1:] == ["ro"]}
        return data


TMPFS_SYNTAX = "PATH[:size=SIZE,mode=MODE,…]"
_TMPFS_FLAGS = frozenset({"ro", "rw", "exec", "noexec", "suid", "nosuid", "dev", "nodev"})


def parse_tmpfs(text: str) -> ServiceVolume:
    """``tmpfs: ["/run:size=64m,mode=1777"]`` → a ``tmpfs`` mount."""
    target, _, options = text.partition(":")
    if not target.startswith("/"):
        fail(f"{show(text)} is not a tmpfs mount ({TMPFS_SYNTAX})")
    tmpfs: dict[str, Any] = {}
    read_only = False
    for option in filter(None, options.split(",")):
        name, _, value = option.partition("=")
        if name == "size":
            tmpfs["size"] = byte_size(value)
        elif name == "mode":
            tmpfs["mode"] = file_mode(value)
        elif name in ("uid", "gid") and value.isdigit():
            continue  # owner of the mount point: left to the runtime's defaults for now
        elif option in _TMPFS_FLAGS:
            read_only = read_only or option == "ro"
        else:
            fail(f"{show(text)}: unknown tmpfs option {show(option)} (size, mode, ro, noexec, …)")
    return ServiceVolume(
        type="tmpfs", target=target, read_only=read_only, tmpfs=TmpfsOptions(**tmpfs)
    )


def parse_tmpfs_list(value: Any) -> tuple[str, ...]:
    """The service's ``tmpfs`` entries, each checked (kept as written)."""
    entries = string_list(value)
    each_item(list(entries), lambda item, index: parse_tmpfs(item))
    return entries
