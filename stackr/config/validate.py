"""Validation: plain loaded data (``RawStack``) → a frozen, canonical ``Stack``.

Two passes, each collecting every problem before raising one ``StackFileError``:

1. ``check_keys`` walks the data level by level against the Compose specification's key
   table: a spec key without a model field is "not supported by stackr yet", any other
   key is unknown (with the closest known key as a hint). Both are removed so that the
   model does not report them again.
2. ``Stack.model_validate`` normalises short syntax and checks values; its errors are
   translated to human messages by ``models_base.describe_errors``.

Every diagnostic is located through the loader's ``SourceMap``: unknown keys at the key,
bad values at the value (or the nearest position that exists).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from stackr.config.compose_keys import NO_EXTENSIONS, SPEC_KEYS
from stackr.config.models_base import EXTENSION_PREFIX, Model, describe_errors
from stackr.config.models_mounts import (
    BindOptions,
    Device,
    EnvFile,
    ServiceSecret,
    ServiceVolume,
    TmpfsOptions,
    VolumeOptions,
)
from stackr.config.models_net import (
    PortMapping,
    ServiceNetwork,
)
from stackr.config.models_parts import (
    LOCAL_LOG_DRIVERS,
    BlkioConfig,
    BlkioLimit,
    BlkioWeightDevice,
    Build,
    DependsOn,
    Deploy,
    DeployRestartPolicy,
    Develop,
    Healthcheck,
    Logging,
    ResourceLimits,
    ResourceReservations,
    Resources,
    ServiceHook,
    Ulimit,
    WatchRule,
)
from stackr.config.models_service import Service
from stackr.config.models_top import Config, Ipam, IpamPool, Network, Secret, Stack, Volume
from stackr.config.raw import RawStack
from stackr.config.source_map import SourceMap
from stackr.errors import Diagnostic, KeyPath, StackFileError, render_key_path

Shape = Literal["one", "values", "items"]


@dataclass(frozen=True)
class Level:
    """One kind of mapping in a stack file: which keys it has, where its children are."""

    model: type[Model] | None
    children: Mapping[str, tuple[Shape, str]] = field(default_factory=dict)
    extra_supported: frozenset[str] = frozenset()

    def supported(self, name: str) -> frozenset[str]:
        fields = set(self.model.model_fields) if self.model is not None else set()
        return frozenset((fields & SPEC_KEYS[name]) | self.extra_supported)


LEVELS: dict[str, Level] = {
    "top": Level(
        Stack,
        {
            "services": ("values", "service"),
            "networks": ("values", "network"),
            "volumes": ("values", "volume"),
            "secrets": ("values", "secret"),
            "configs": ("values", "config"),
        },
    ),
    "service": Level(
        Service,
        {
            "build": ("one", "build"),
            "deploy": ("one", "deploy"),
            "healthcheck": ("one", "healthcheck"),
            "develop": ("one", "develop"),
            "logging": ("one", "logging"),
            "ports": ("items", "port"),
            "volumes": ("items", "service_volume"),
            "depends_on": ("values", "depends_on"),
            "networks": ("values", "service_network"),
            "secrets": ("items", "service_secret"),
            "configs": ("items", "service_secret"),
            "ulimits": ("values", "ulimit"),
            "env_file": ("items", "env_file"),
            "devices": ("items", "device"),
            "blkio_config": ("one", "blkio_config"),
            "post_start": ("items", "service_hook"),
            "pre_stop": ("items", "service_hook"),
        },
    ),
    "build": Level(Build),
    "deploy": Level(
        Deploy, {"resources": ("one", "resources"), "restart_policy": ("one", "restart_policy")}
    ),
    "resources": Level(
        Resources,
        {"limits": ("one", "resource_limits"), "reservations": ("one", "resource_reservations")},
    ),
    "resource_limits": Level(ResourceLimits),
    "resource_reservations": Level(ResourceReservations),
    "restart_policy": Level(DeployRestartPolicy),
    "healthcheck": Level(Healthcheck),
    "develop": Level(Develop, {"watch": ("items", "watch")}),
    "watch": Level(WatchRule, {"exec": ("one", "service_hook")}),
    "service_hook": Level(ServiceHook),
    "blkio_config": Level(BlkioConfig, {
        "weight_device": ("items", "blkio_weight"),
        **{key: ("items", "blkio_limit") for key in (
            "device_read_bps", "device_write_bps", "device_read_iops", "device_write_iops")},
    }),
    "blkio_weight": Level(BlkioWeightDevice),
    "blkio_limit": Level(BlkioLimit),
    "port": Level(PortMapping),
    "service_volume": Level(
        ServiceVolume,
        {
            "bind": ("one", "bind"),
            "volume": ("one", "volume_options"),
            "tmpfs": ("one", "tmpfs"),
        },
    ),
    "bind": Level(BindOptions),
    "volume_options": Level(VolumeOptions),
    "tmpfs": Level(TmpfsOptions),
    "depends_on": Level(DependsOn),
    "service_network": Level(ServiceNetwork),
    "service_secret": Level(ServiceSecret),
    "ulimit": Level(Ulimit),
    "logging": Level(Logging),
    "env_file": Level(EnvFile),
    "device": Level(Device),
    "network": Level(Network, {"ipam": ("one", "ipam"), "external": ("one", "external")}),
    "ipam": Level(Ipam, {"config": ("items", "ipam_pool")}),
    "ipam_pool": Level(IpamPool),
    "external": Level(None, extra_supported=frozenset({"name"})),
    "volume": Level(Volume, {"external": ("one", "external")}),
    "secret": Level(Secret, {"external": ("one", "external")}),
    "config": Level(Config, {"external": ("one", "external")}),
}

# The model's supported keys per level, computed once (model_fields is not free).
_SUPPORTED: dict[str, frozenset[str]] = {
    name: level.supported(name) for name, level in LEVELS.items()
}


@dataclass(frozen=True)
class KeyProblem:
    parent: KeyPath
    key: str
    message: str
    hint: str | None = None


def suggest(key: str, candidates: frozenset[str]) -> str | None:
    close = difflib.get_close_matches(key, sorted(candidates), n=1, cutoff=0.6)
    return f'did you mean "{close[0]}"?' if close else None


def check_keys(
    data: Any, level_name: str = "top", path: KeyPath = ()
) -> tuple[Any, list[KeyProblem]]:
    """``data`` without the unknown and unsupported keys, and a problem for each of them."""
    if not isinstance(data, Mapping):
        return data, []
    level = LEVELS[level_name]
    supported = _SUPPORTED[level_name]
    spec_keys = SPEC_KEYS[level_name]
    problems: list[KeyProblem] = []
    cleaned: dict[Any, Any] = {}
    for key, value in data.items():
        text = str(key)
        if text.startswith(EXTENSION_PREFIX) and level_name not in NO_EXTENSIONS:
            cleaned[key] = value
            continue
        if text in supported:
            child = level.children.get(text)
            if child is not None:
                value, found = check_children(value, child, (*path, text))
                problems.extend(found)
            cleaned[key] = value
        elif text in spec_keys:
            problems.append(KeyProblem(path, text, f'"{text}" is not supported by stackr yet'))
        else:
            problems.append(
                KeyProblem(path, text, f'unknown key "{text}"', suggest(text, spec_keys))
            )
    return cleaned, problems


def check_children(
    value: Any, child: tuple[Shape, str], path: KeyPath
) -> tuple[Any, list[KeyProblem]]:
    shape, level_name = child
    if shape == "one":
        return check_keys(value, level_name, path)
    problems: list[KeyProblem] = []
    if shape == "values" and isinstance(value, Mapping):
        cleaned_map: dict[Any, Any] = {}
        for name, item in value.items():
            cleaned_map[name], found = check_keys(item, level_name, (*path, str(name)))
            problems.extend(found)
        return cleaned_map, problems
    if shape == "items" and isinstance(value, list | tuple):
        cleaned_list: list[Any] = []
        for index, item in enumerate(value):
            cleaned, found = check_keys(item, level_name, (*path, index))
            cleaned_list.append(cleaned)
            problems.extend(found)
        return cleaned_list, problems
    return value, problems


def locate(
    source_map: SourceMap,
    path: Sequence[str | int],
    message: str,
    hint: str | None = None,
    data: Any = None,
) -> Diagnostic:
    """A diagnostic at the value of ``path``; at its key when the value is a whole mapping
    (or empty): "services.web: needs image" points at ``web:``, not at its first key."""
    location = source_map.value(path)
    if path and isinstance(data, Mapping) and _is_block(data, path):
        location = source_map.key(path) or location
    return Diagnostic(location, render_key_path(path), message, hint)


def _is_block(data: Any, path: Sequence[str | int]) -> bool:
    value = data
    for part in path:
        in_mapping = isinstance(value, Mapping) and part in value
        in_list = isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)
        if not (in_mapping or in_list):
            return False
        value = value[part]
    return value is None or isinstance(value, Mapping)


def validate_stack(raw: RawStack) -> tuple[Stack, tuple[Diagnostic, ...]]:
    """The validated ``Stack`` and the warnings about it; ``StackFileError`` lists every
    problem of the file at once."""
    source_map = raw.source_map
    data, key_problems = check_keys(raw.data)
    diagnostics = [
        Diagnostic(
            source_map.key((*problem.parent, problem.key)),
            render_key_path(problem.parent),
            problem.message,
            problem.hint,
        )
        for problem in key_problems
    ]
    stack: Stack | None = None
    if not isinstance(data, Mapping):
        diagnostics.append(locate(source_map, (), "the stack file is not a mapping"))
    else:
        try:
            stack = Stack.model_validate(
                {**data, "name": raw.project_name}, context={"project_dir": raw.project_dir}
            )
        except ValidationError as error:
            diagnostics.extend(
                locate(source_map, path, message, data=raw.data)
                for path, message in describe_errors(error)
            )
    if diagnostics or stack is None:
        raise StackFileError(diagnostics)
    return stack, (*raw.warnings, *stack_warnings(stack, source_map))


def stack_warnings(stack: Stack, source_map: SourceMap) -> list[Diagnostic]:
    warnings: list[Diagnostic] = []
    if stack.version is not None:
        warnings.append(locate(source_map, ("version",), '"version" is obsolete and ignored'))
    for service_name, service in sorted(stack.services.items()):
        logging = service.logging
        if logging is not None and logging.driver not in (None, *LOCAL_LOG_DRIVERS):
            warnings.append(
                locate(
                    source_map,
                    ("services", service_name, "logging", "driver"),
                    f'logging driver "{logging.driver}" is not available: logs stay local '
                    "(json-file)",
                )
            )
    return warnings
