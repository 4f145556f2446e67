"""Models of the parts of a service: dependencies, healthcheck, restart, build, ulimits,
logging, develop.watch, deploy.

Each model's ``mode="before"`` validators accept every syntax Compose accepts and store
the long form. Messages name the value and the expected syntax.
"""

from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_serializer, model_validator

from stackr.config.models_base import (
    ByteSizeIn,
    DurationIn,
    ListOrDictIn,
    Model,
    ScalarIn,
    Seconds,
    StringOrListIn,
    byte_size,
    bytes_or_none,
    command_list,
    container_path,
    duration,
    each_item,
    fail,
    key_value_mapping,
    resolve_path,
    scalar_text,
    show,
    string_list,
    text_list,
    text_mapping,
)
from stackr.config.models_net import parse_extra_hosts
from stackr.config.units import parse_byte_size


class DependsOn(Model):
    condition: Literal["service_started", "service_healthy", "service_completed_successfully"] = (
        "service_started"
    )
    required: bool = True
    restart: bool = False


def parse_depends_on(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, list | tuple):
        names = text_list(value)
        return {name: DependsOn() for name in names}
    if isinstance(value, Mapping):
        return {str(k): ({} if v is None else v) for k, v in value.items()}
    fail(f"{show(value)} is not a list of services or a mapping")


HEALTHCHECK_KINDS = ("NONE", "CMD", "CMD-SHELL")


class Healthcheck(Model):
    """``test`` is ``("CMD", …)``, ``("CMD-SHELL", command)`` or ``("NONE",)`` (disabled)."""

    test: tuple[str, ...] | None = None  # None: the image's healthcheck
    interval: Seconds | None = None  # seconds
    timeout: Seconds | None = None
    retries: int | None = Field(default=None, ge=0)
    start_period: Seconds | None = None
    start_interval: Seconds | None = None
    disable: bool = False

    @field_validator("test", mode="before", json_schema_input_type=StringOrListIn | None)
    @classmethod
    def _test(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            return ("CMD-SHELL", value)
        words = text_list(value)
        if not words or words[0] not in HEALTHCHECK_KINDS:
            fail(
                f"{show(value)} is not a healthcheck test (a string, or a list starting with "
                "CMD, CMD-SHELL or NONE)"
            )
        if words[0] == "CMD-SHELL":
            if len(words) < 2:
                fail("CMD-SHELL needs a command")
            return ("CMD-SHELL", " ".join(words[1:]))  # joined as the engine joins them
        if words[0] == "CMD" and len(words) < 2:
            fail("CMD needs a command")
        return words

    @field_validator(
        "interval",
        "timeout",
        "start_period",
        "start_interval",
        mode="before",
        json_schema_input_type=DurationIn | None,
    )
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else duration(value)

    @model_validator(mode="before")
    @classmethod
    def _disabled(cls, data: Any) -> Any:
        # `disable: true` and `test: [NONE]` mean the same; store both spellings.
        if isinstance(data, Mapping):
            if data.get("disable") in (True, "true"):
                return {**data, "test": ["NONE"], "disable": True}
            if data.get("test") in (["NONE"], ("NONE",)):
                return {**data, "disable": True}
        return data


RESTART_SYNTAX = "no, always, on-failure[:N], unless-stopped"


class Restart(Model):
    """``restart:``: ``on-failure:3`` is ``Restart(condition="on-failure", max_retries=3)``;
    dumped as the Compose text again."""

    condition: Literal["no", "always", "on-failure", "unless-stopped"] = "no"
    max_retries: int | None = None

    @model_serializer(mode="plain")
    def _as_text(self) -> str:
        return self.text

    @property
    def text(self) -> str:
        if self.max_retries is None:
            return self.condition
        return f"{self.condition}:{self.max_retries}"


def parse_restart(value: Any) -> Any:
    if value is None or isinstance(value, Mapping | Restart):
        return value
    if value is False:
        return Restart(condition="no")  # YAML 1.1 `no` read as false
    text = scalar_text(value)
    name, colon, count = text.partition(":")
    if name in ("no", "always", "unless-stopped") and not colon:
        return Restart.model_validate({"condition": name})
    if name == "on-failure":
        if not colon:
            return Restart(condition="on-failure")
        if count.isdigit():
            return Restart(condition="on-failure", max_retries=int(count))
    fail(f"{show(text)} is not one of {RESTART_SYNTAX}")


class Ulimit(Model):
    soft: int
    hard: int

    @model_validator(mode="before")
    @classmethod
    def _single(cls, data: Any) -> Any:
        if isinstance(data, int | str) and not isinstance(data, bool):
            return {"soft": data, "hard": data}
        return data

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.soft > self.hard and self.hard != -1:
            fail(f"soft limit {self.soft} is above the hard limit {self.hard}")
        return self


class ProcessSettings(Model):
    """What a service's container and a build's RUN containers both take: /dev/shm's
    size, more names in /etc/hosts, resource limits."""

    shm_size: int | None = None  # bytes
    extra_hosts: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    ulimits: dict[str, Ulimit] = Field(default_factory=dict)

    @field_validator("shm_size", mode="before", json_schema_input_type=ByteSizeIn | None)
    @classmethod
    def _shm_size(cls, value: Any) -> Any:
        return bytes_or_none(value)

    @field_validator(
        "extra_hosts",
        mode="before",
        json_schema_input_type=list[str] | dict[str, StringOrListIn] | None,
    )
    @classmethod
    def _extra_hosts(cls, value: Any) -> Any:
        return parse_extra_hosts(value)

    @field_validator(
        "ulimits", mode="before", json_schema_input_type=dict[str, int | Ulimit] | None
    )
    @classmethod
    def _ulimits(cls, value: Any) -> Any:
        return {} if value is None else value


class Build(ProcessSettings):
    """A service's build: section (shm_size, extra_hosts, ulimits and privileged apply to
    the containers of its RUN steps)."""

    context: str = "."  # absolute path, or a URL (git, https)
    dockerfile: str | None = None  # relative to the context
    dockerfile_inline: str | None = None
    args: dict[str, str | None] = Field(default_factory=dict)
    target: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    no_cache: bool = False  # build every step, whatever the cache holds
    pull: bool = False  # look for a newer base image even when one is in the store
    tags: tuple[str, ...] = ()  # more names for the built image, besides the service's
    # RUN's network: a private one per build, the host's, or none (build.BUILD_NETWORKS)
    network: Literal["default", "host", "none"] | None = None
    privileged: bool = False  # RUN with every capability and device, no seccomp filter

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, str):
            data = {"context": data}
        if isinstance(data, Mapping):
            context = data.get("context", ".")
            if isinstance(context, str) and not is_url(context):
                data = {**data, "context": resolve_path(context, info)}
            if data.get("dockerfile") and data.get("dockerfile_inline"):
                fail('"dockerfile" and "dockerfile_inline" exclude each other')
        return data

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from stackr.images.errors import InvalidReferenceError
        from stackr.images.reference import parse_reference

        for index, tag in enumerate(value):
            try:
                parse_reference(tag)
            except InvalidReferenceError as error:
                fail(str(error), (index,))
        return value

    @field_validator("args", mode="before", json_schema_input_type=ListOrDictIn | None)
    @classmethod
    def _args(cls, value: Any) -> Any:
        return key_value_mapping(value, missing=None)

    @field_validator("labels", mode="before", json_schema_input_type=ListOrDictIn | None)
    @classmethod
    def _labels(cls, value: Any) -> Any:
        return text_mapping(value)


def is_url(text: str) -> bool:
    return "://" in text or text.startswith(("git@", "github.com/"))


class BlkioWeightDevice(Model):
    path: str  # a block device on the host
    weight: int = Field(ge=10, le=1000)


class BlkioLimit(Model):
    path: str  # a block device on the host
    rate: int  # bytes (a byte size: 12mb) or operations per second

    @field_validator("rate", mode="before", json_schema_input_type=ByteSizeIn)
    @classmethod
    def _rate(cls, value: Any) -> Any:
        return byte_size(value)


class BlkioConfig(Model):
    """Block I/O: a relative weight (all devices, or per device) and per-device limits."""

    weight: int | None = Field(default=None, ge=10, le=1000)
    weight_device: tuple[BlkioWeightDevice, ...] = ()
    device_read_bps: tuple[BlkioLimit, ...] = ()
    device_write_bps: tuple[BlkioLimit, ...] = ()
    device_read_iops: tuple[BlkioLimit, ...] = ()
    device_write_iops: tuple[BlkioLimit, ...] = ()


LOCAL_LOG_DRIVERS = ("json-file", "local")


class Logging(Model):
    """Logs are always kept locally by the engine; the rotation options are honoured."""

    driver: str | None = None
    options: dict[str, str] = Field(default_factory=dict)

    @field_validator(
        "options", mode="before", json_schema_input_type=dict[str, ScalarIn | None] | None
    )
    @classmethod
    def _options(cls, value: Any) -> Any:
        if value is None:
            return {}
        options = key_value_mapping(value, missing="")
        if "max-size" in options and options["max-size"] not in (None, "-1"):
            byte_size(options["max-size"])
        if "max-file" in options:
            count = options["max-file"] or ""
            if not count.isdigit() or int(count) < 1:
                fail(f"{show(count)} is not a number of files (1 or more)", ("max-file",))
        return {k: v or "" for k, v in options.items()}

    @property
    def max_size(self) -> int | None:
        text = self.options.get("max-size")
        return None if text in (None, "", "-1") else parse_byte_size(text)

    @property
    def max_file(self) -> int | None:
        text = self.options.get("max-file")
        return int(text) if text else None


class ServiceHook(Model):
    """A command run in a service's containers: a lifecycle hook (``post_start``,
    ``pre_stop``) or what a watch rule's ``sync+exec`` runs after a sync."""

    command: tuple[str, ...]
    user: str | None = None
    working_dir: str | None = None
    environment: dict[str, str | None] = Field(default_factory=dict)
    privileged: bool = False

    @field_validator("command", mode="before", json_schema_input_type=StringOrListIn)
    @classmethod
    def _command(cls, value: Any) -> Any:
        return command_list(value)

    @field_validator("environment", mode="before", json_schema_input_type=ListOrDictIn | None)
    @classmethod
    def _environment(cls, value: Any) -> Any:
        return key_value_mapping(value, missing=None)

    _working_dir = field_validator("working_dir")(container_path)


class WatchRule(Model):
    path: str  # absolute host path
    action: Literal["sync", "rebuild", "restart", "sync+restart", "sync+exec"]
    target: str | None = None
    ignore: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    initial_sync: bool = False
    exec: ServiceHook | None = None  # sync+exec only

    @model_validator(mode="before")
    @classmethod
    def _paths(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, Mapping):
            if isinstance(data.get("path"), str):
                data = {**data, "path": resolve_path(data["path"], info)}
            if str(data.get("action", "")).startswith("sync") and not data.get("target"):
                fail(f'watch action "{data["action"]}" needs a "target"')
            if data.get("action") == "sync+exec" and not data.get("exec"):
                fail('watch action "sync+exec" needs an "exec" with a "command"')
        return data

    @field_validator(
        "ignore", "include", mode="before", json_schema_input_type=StringOrListIn | None
    )
    @classmethod
    def _patterns(cls, value: Any) -> Any:
        return string_list(value)


class Develop(Model):
    watch: tuple[WatchRule, ...] = ()

    @field_validator("watch", mode="before")
    @classmethod
    def _watch(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return ()
        return each_item(
            value, lambda item, index: WatchRule.model_validate(item, context=info.context)
        )


class ResourceLimits(Model):
    cpus: float | None = Field(default=None, ge=0)
    memory: int | None = None  # bytes
    pids: int | None = None

    @field_validator("memory", mode="before", json_schema_input_type=ByteSizeIn | None)
    @classmethod
    def _memory(cls, value: Any) -> Any:
        return None if value is None else byte_size(value)


class ResourceReservations(Model):
    cpus: float | None = Field(default=None, ge=0)
    memory: int | None = None

    @field_validator("memory", mode="before", json_schema_input_type=ByteSizeIn | None)
    @classmethod
    def _memory(cls, value: Any) -> Any:
        return None if value is None else byte_size(value)


class Resources(Model):
    limits: ResourceLimits = ResourceLimits()
    reservations: ResourceReservations = ResourceReservations()


class DeployRestartPolicy(Model):
    condition: Literal["none", "on-failure", "any"] = "any"
    delay: Seconds | None = None  # seconds
    max_attempts: int | None = None
    window: Seconds | None = None

    @field_validator("delay", "window", mode="before", json_schema_input_type=DurationIn | None)
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else duration(value)


class Deploy(Model):
    mode: Literal["replicated"] = "replicated"
    replicas: int | None = Field(default=None, ge=0)
    resources: Resources = Resources()
    restart_policy: DeployRestartPolicy | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> Any:
        if value == "global":
            fail('deploy mode "global" is not supported by stackr yet')
        return value

    @field_validator("labels", mode="before", json_schema_input_type=ListOrDictIn | None)
    @classmethod
    def _labels(cls, value: Any) -> Any:
        return text_mapping(value)
