"""The image configuration (OCI image-spec ``config``) and Compose's override rules.

``ImageConfig.from_json`` reads what an image says about its process (Entrypoint, Cmd,
Env, WorkingDir, User), its ports, volumes, stop signal, healthcheck and labels.
``effective_process`` combines it with a service's ``entrypoint``/``command``/
``environment``/``working_dir``/``user`` exactly as the Docker daemon merges a container
config over an image config (daemon/commit.go ``merge``):

* ``command`` replaces Cmd;
* ``entrypoint`` replaces Entrypoint and clears the image's Cmd, unless it is empty
  (``entrypoint: []``), which removes the Entrypoint and keeps the image's Cmd;
* ``command: []`` counts as "not set" (Docker treats an empty Cmd as absent);
* ``environment`` merges over Env by variable name; PATH gets Docker's default when
  neither sets it;
* ``working_dir`` and ``user`` replace the image's; the defaults are ``/`` and root.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stackr.images.errors import ArchiveError, ImageError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_STOP_SIGNAL = "SIGTERM"


@dataclass(frozen=True)
class Healthcheck:
    """``Healthcheck`` of an image config; durations in nanoseconds as Docker stores them."""

    test: tuple[str, ...]
    interval_ns: int = 0
    timeout_ns: int = 0
    start_period_ns: int = 0
    start_interval_ns: int = 0
    retries: int = 0


@dataclass(frozen=True)
class ImageConfig:
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    stop_signal: str | None = None
    healthcheck: Healthcheck | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> ImageConfig:
        """Read the ``config`` object of an image configuration document."""
        section = document.get("config") or {}
        if not isinstance(section, Mapping):
            raise ArchiveError("image config: 'config' is not an object")
        health = section.get("Healthcheck")
        healthcheck = None
        if isinstance(health, Mapping) and health.get("Test"):
            healthcheck = Healthcheck(
                test=tuple(_strings(health.get("Test"), "Healthcheck.Test") or ()),
                interval_ns=int(health.get("Interval") or 0),
                timeout_ns=int(health.get("Timeout") or 0),
                start_period_ns=int(health.get("StartPeriod") or 0),
                start_interval_ns=int(health.get("StartInterval") or 0),
                retries=int(health.get("Retries") or 0),
            )
        labels = section.get("Labels") or {}
        if not isinstance(labels, Mapping):
            raise ArchiveError("image config: 'Labels' is not an object")
        return cls(
            entrypoint=_strings(section.get("Entrypoint"), "Entrypoint"),
            cmd=_strings(section.get("Cmd"), "Cmd"),
            env=_strings(section.get("Env"), "Env") or (),
            working_dir=str(section.get("WorkingDir") or ""),
            user=str(section.get("User") or ""),
            exposed_ports=tuple(sorted(section.get("ExposedPorts") or {})),
            volumes=tuple(sorted(section.get("Volumes") or {})),
            stop_signal=section.get("StopSignal") or None,
            healthcheck=healthcheck,
            labels={str(k): str(v) for k, v in labels.items()},
        )


def _strings(value: object, what: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):  # some old images store a string; Docker splits it the same way
        return (value,)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ArchiveError(f"image config: {what} is not a list of strings")
    return tuple(value)


@dataclass(frozen=True)
class ProcessSettings:
    """What a container runs: argv, environment (``KEY=value``), directory and user."""

    args: tuple[str, ...]
    env: tuple[str, ...]
    working_dir: str
    user: str


CommandValue = Sequence[str] | str | None


def _as_argv(value: CommandValue) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):  # Compose's string form is split like a shell would
        return tuple(shlex.split(value))
    return tuple(value)


def merge_env(image_env: Sequence[str], overrides: Mapping[str, str]) -> tuple[str, ...]:
    """Image ``KEY=value`` entries with ``overrides`` replacing by key, order kept."""
    merged: dict[str, str] = {}
    for entry in image_env:
        key, _, value = entry.partition("=")
        merged[key] = value
    merged.update(overrides)
    if "PATH" not in merged:
        merged = {"PATH": DEFAULT_PATH, **merged}
    return tuple(f"{key}={value}" for key, value in merged.items())


def effective_process(
    image: ImageConfig,
    *,
    command: CommandValue = None,
    entrypoint: CommandValue = None,
    environment: Mapping[str, str] | None = None,
    working_dir: str | None = None,
    user: str | None = None,
) -> ProcessSettings:
    """The process a service's container runs, from the image and the service's overrides.

    ``None`` means "the service does not set it". Raises ImageError when neither the
    image nor the service names a program (Docker: "no command specified").
    """
    user_entrypoint = _as_argv(entrypoint)
    user_cmd = _as_argv(command)
    final_entrypoint = user_entrypoint
    final_cmd = user_cmd
    if not user_entrypoint:
        if not user_cmd:
            final_cmd = image.cmd
        if user_entrypoint is None:
            final_entrypoint = image.entrypoint
    args = (final_entrypoint or ()) + (final_cmd or ())
    if not args:
        raise ImageError(
            "no command specified: the image has no Entrypoint or Cmd and the service sets "
            "neither 'entrypoint' nor 'command'"
        )
    return ProcessSettings(
        args=args,
        env=merge_env(image.env, environment or {}),
        working_dir=working_dir or image.working_dir or "/",
        user=user if user is not None else image.user,
    )


def effective_stop_signal(image: ImageConfig, stop_signal: str | None = None) -> str:
    """The service's ``stop_signal``, else the image's StopSignal, else SIGTERM."""
    return stop_signal or image.stop_signal or DEFAULT_STOP_SIGNAL
