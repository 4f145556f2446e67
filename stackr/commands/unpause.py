"""``stackr unpause [SERVICE...]``: let paused containers of the project go on."""

from __future__ import annotations

import argparse

from stackr.commands.pause import configure, freeze

__all__ = ["configure", "run"]


def run(args: argparse.Namespace) -> int:
    return freeze(args, pause=False)
