"""``stackr restart [SERVICE...]``: restart the project's containers (all, or these services)."""

from __future__ import annotations

import argparse

from stackr.commands.service_action import configure_with_timeout as configure
from stackr.commands.service_action import run_action

__all__ = ["configure", "run"]


def run(args: argparse.Namespace) -> int:
    return run_action(args, "restart")
