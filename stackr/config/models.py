"""The stack-file models, canonical: every short syntax is stored in its long form.

Split for size: ``models_base`` (base class, error and coercion helpers), ``models_net``
(ports, network attachments, links, extra hosts), ``models_mounts`` (volumes, secrets,
env files, devices), ``models_parts`` (healthcheck, restart, build, deploy, logging, …),
``models_service`` (``Service``), ``models_top`` (networks, volumes, secrets, configs,
``Stack``).
"""

from __future__ import annotations

from stackr.config.models_base import HOST_PLATFORM, Model, dump
from stackr.config.models_mounts import (
    BindOptions,
    Device,
    EnvFile,
    ServiceSecret,
    ServiceVolume,
    TmpfsOptions,
    VolumeOptions,
    VolumesFrom,
)
from stackr.config.models_net import (
    PortMapping,
    ServiceLink,
    ServiceNetwork,
)
from stackr.config.models_parts import (
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
    Restart,
    ServiceHook,
    Ulimit,
    WatchRule,
)
from stackr.config.models_service import Service
from stackr.config.models_top import (
    DEFAULT_NETWORK,
    Config,
    Ipam,
    IpamPool,
    Network,
    Secret,
    Stack,
    Volume,
)

__all__ = [
    "DEFAULT_NETWORK",
    "HOST_PLATFORM",
    "BindOptions",
    "BlkioConfig",
    "BlkioLimit",
    "BlkioWeightDevice",
    "Build",
    "Config",
    "DependsOn",
    "Deploy",
    "DeployRestartPolicy",
    "Develop",
    "Device",
    "EnvFile",
    "Healthcheck",
    "Ipam",
    "IpamPool",
    "Logging",
    "Model",
    "Network",
    "PortMapping",
    "ResourceLimits",
    "ResourceReservations",
    "Resources",
    "Restart",
    "Secret",
    "Service",
    "ServiceHook",
    "ServiceLink",
    "ServiceNetwork",
    "ServiceSecret",
    "ServiceVolume",
    "Stack",
    "TmpfsOptions",
    "Ulimit",
    "Volume",
    "VolumeOptions",
    "VolumesFrom",
    "WatchRule",
    "dump",
]
