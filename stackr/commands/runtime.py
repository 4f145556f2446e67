"""``stackr runtime``: the container runtime as a runc-compatible command (see ocicli)."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from stackr.runtime import ocicli

    ocicli.configure(parser)


def run(args: argparse.Namespace) -> int:
    from stackr.runtime import ocicli

    return ocicli.run(args)
