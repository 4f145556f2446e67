"""``stackr info``: what the engine and the host support."""

from __future__ import annotations

import argparse
import json
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text")


_FIELDS = (
    ("Server Version", "ServerVersion"),
    ("Engine Pid", "EnginePid"),
    ("Engine Socket", "EngineSocket"),
    ("Containers", "Containers"),
    (" Running", "ContainersRunning"),
    (" Paused", "ContainersPaused"),
    (" Stopped", "ContainersStopped"),
    ("Images", "Images"),
    ("Volumes", "Volumes"),
    ("Networks", "Networks"),
    ("Storage Driver", "Driver"),
    ("Overlay Supported", "OverlaySupported"),
    ("Logging Driver", "LoggingDriver"),
    ("Cgroup Version", "CgroupVersion"),
    ("Cgroup Driver", "CgroupDriver"),
    ("Cgroup Layout", "CgroupLayout"),
    ("Namespaces", "Namespaces"),
    ("nftables", "Nftables"),
    ("iptables", "Iptables"),
    ("Kernel Version", "KernelVersion"),
    ("Operating System", "OperatingSystem"),
    ("Architecture", "Architecture"),
    ("CPUs", "NCPU"),
    ("Total Memory", "MemTotal"),
    ("Name", "Name"),
    ("ID", "ID"),
    ("Stackr Root", "StackrRoot"),
    ("Stackr Run", "StackrRun"),
)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def run(args: argparse.Namespace) -> int:
    from stackr.client import EngineClient

    client = EngineClient(args.host)
    info = client.info()
    if args.format == "json":
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    print(f"Engine: {client.host}")
    for label, key in _FIELDS:
        if key in info:
            print(f" {label}: {_text(info[key])}")
    return 0
