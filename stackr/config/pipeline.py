"""``load_stack``: every phase of ``stackr.config`` in order, for the commands to call."""

from __future__ import annotations

from dataclasses import dataclass

from stackr.config.checks import check_stack
from stackr.config.loader import load_raw
from stackr.config.models import Stack
from stackr.config.profiles import select_profiles
from stackr.config.project import LoadOptions
from stackr.config.raw import RawStack
from stackr.config.validate import validate_stack
from stackr.errors import Diagnostic


@dataclass(frozen=True)
class LoadedStack:
    stack: Stack  # validated, canonical, profiles applied
    raw: RawStack  # what it was made from: files, positions, environment
    all_profiles: tuple[str, ...]  # every profile the file names, active or not
    warnings: tuple[Diagnostic, ...]


def load_stack(options: LoadOptions) -> LoadedStack:
    """Load, validate and check the stack; raises ``StackFileError`` with every problem."""
    raw = load_raw(options)
    full_stack, warnings = validate_stack(raw)
    all_profiles = sorted(
        {profile for service in full_stack.services.values() for profile in service.profiles}
    )
    stack = select_profiles(full_stack, raw.profiles, raw.source_map)
    check_stack(stack, raw.source_map)
    return LoadedStack(stack, raw, tuple(all_profiles), raw.warnings + warnings)
