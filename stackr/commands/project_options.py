"""From the CLI's project options (-f, -p, --profile, …) to a loaded stack."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stackr.config.pipeline import LoadedStack
    from stackr.config.project import LoadOptions


def load_options(args: argparse.Namespace) -> LoadOptions:
    from stackr.config.project import LoadOptions

    project_directory = getattr(args, "project_directory", None)
    return LoadOptions(
        files=tuple(Path(name) for name in getattr(args, "files", None) or ()),
        project_name=getattr(args, "project_name", None),
        project_directory=Path(project_directory) if project_directory else None,
        env_files=tuple(Path(name) for name in getattr(args, "env_files", None) or ()),
        profiles=tuple(getattr(args, "profiles", None) or ()),
        environ=dict(os.environ),
        cwd=Path.cwd(),
    )


def load_project(args: argparse.Namespace) -> LoadedStack:
    """Load the stack the options name and print its warnings to stderr."""
    from stackr.config.pipeline import load_stack

    loaded = load_stack(load_options(args))
    for warning in loaded.warnings:
        print(f"warning: {warning.render()}", file=sys.stderr)
    return loaded
