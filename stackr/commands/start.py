"""``stackr start [SERVICE...]``: start the project's containers (all, or these services)."""

from __future__ import annotations

import argparse

from stackr.commands.service_action import configure as configure
from stackr.commands.service_action import run_action

__all__ = ["configure", "run"]


def run(args: argparse.Namespace) -> int:
    return run_action(args, "start")
