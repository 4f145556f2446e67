"""Profiles: services that name profiles run only when one of them is active.

As Compose: a service without ``profiles`` is always enabled; one with profiles is enabled
when any of them is active (``*`` activates all). A ``depends_on`` on a service left out
is an error unless the dependency says ``required: false``, in which case it is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

from stackr.config.checks import reference_location
from stackr.config.models_service import Service
from stackr.config.models_top import Stack
from stackr.config.source_map import SourceMap
from stackr.errors import Diagnostic, StackFileError, render_key_path

ALL_PROFILES = "*"


def is_enabled(service: Service, active: Sequence[str]) -> bool:
    if not service.profiles:
        return True
    return ALL_PROFILES in active or any(profile in active for profile in service.profiles)


def all_profiles(stack: Stack) -> tuple[str, ...]:
    """Every profile the stack names, sorted (``stackr config --profiles``)."""
    return tuple(sorted({p for service in stack.services.values() for p in service.profiles}))


def select_profiles(
    stack: Stack, active: Sequence[str], source_map: SourceMap | None = None
) -> Stack:
    """``stack`` with only the services the ``active`` profiles enable."""
    enabled = {name: s for name, s in stack.services.items() if is_enabled(s, active)}
    diagnostics: list[Diagnostic] = []

    def disabled(path: tuple[str | int, ...], dependency: str, order: Sequence[str] = ()) -> None:
        needed = ", ".join(stack.services[dependency].profiles)
        diagnostics.append(
            Diagnostic(
                reference_location(source_map, path, order) if source_map else None,
                render_key_path(path),
                f'service "{dependency}" is not enabled by the active profiles',
                f"enable one of its profiles: {needed}",
            )
        )

    services: dict[str, Service] = {}
    for name, service in enabled.items():
        for path, other in _hard_references(name, service):
            if other in stack.services and other not in enabled:
                disabled(path, other)
        depends_on = {}
        for dependency, condition in service.depends_on.items():
            if dependency in enabled or dependency not in stack.services:
                depends_on[dependency] = condition  # unknown names: check_stack reports them
            elif condition.required:
                path = ("services", name, "depends_on", dependency)
                disabled(path, dependency, list(service.depends_on))
        if len(depends_on) != len(service.depends_on):
            service = service.model_copy(update={"depends_on": depends_on})
        services[name] = service
    if diagnostics:
        raise StackFileError(diagnostics)
    return stack.model_copy(update={"services": services})


def _hard_references(name: str, service: Service) -> list[tuple[tuple[str | int, ...], str]]:
    """The services ``service`` cannot run without, besides ``depends_on``."""
    base = ("services", name)
    found: list[tuple[tuple[str | int, ...], str]] = []
    found.extend(((*base, "links", i), link.service) for i, link in enumerate(service.links))
    found.extend(
        ((*base, "volumes_from", i), source.service)
        for i, source in enumerate(service.volumes_from)
    )
    for key in ("network_mode", "ipc", "pid"):
        mode = getattr(service, key)
        if isinstance(mode, str) and mode.startswith("service:"):
            found.append(((*base, key), mode.removeprefix("service:")))
    return found
