"""The watch loop: what each debounced batch of changed paths does.

* a stack file, ``.env`` or an env_file changed → reload the stack. Invalid: print every
  diagnostic (file:line:col) and change nothing — every container keeps running, and
  the next valid save applies. Valid: apply it (only what differs is recreated), and
  watch what the new stack names.
* a ``develop.watch`` path changed → sync, restart, sync+restart, sync+exec or rebuild
  that service; a build context of a service without rules → rebuild.
* every step prints what it did and how long it took; a failure (a stopped container,
  the engine away, a build error) is printed, and the loop goes on.

Compose's watch keeps the configuration it started with (compose#11003); this loop
reloads it. The loop decides; an ``Applier`` (``engine_applier`` for the real engine, a
fake in tests) carries out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from stackr.errors import PreconditionError, StackFileError, StackrError
from stackr.watch.rules import (
    ContextTrigger,
    ServiceChanges,
    WatchTrigger,
    compile_triggers,
    match_changes,
    watched_roots,
)
from stackr.watch.sync import SyncItem, SyncReport

if TYPE_CHECKING:
    from stackr.config.models import ServiceHook
    from stackr.config.pipeline import LoadedStack
    from stackr.watch.debounce import Debouncer

Report = Callable[[str], None]


@dataclass(frozen=True)
class ApplyOutcome:
    """What an apply did: the services whose containers were (re)created, and one line
    per operation for the log."""

    recreated: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()

    @property
    def nothing(self) -> bool:
        return not self.lines


class Applier(Protocol):
    """Carries out the loop's decisions; raises ``StackrError`` when it cannot."""

    def apply(self, loaded: LoadedStack) -> ApplyOutcome: ...

    def sync(self, loaded: LoadedStack, service: str, items: list[SyncItem]) -> SyncReport: ...

    def restart(self, loaded: LoadedStack, service: str) -> None: ...

    def exec(self, loaded: LoadedStack, service: str, command: ServiceHook) -> int: ...

    def rebuild(self, loaded: LoadedStack, service: str) -> None: ...

    def states(self, loaded: LoadedStack) -> Mapping[str, str]:
        """Container name → "running", "exited (1)", "restarting", …"""
        ...


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def config_paths(loaded: LoadedStack) -> frozenset[Path]:
    """The files whose change means "reload the stack": the stack files, the project's
    ``.env`` (also when it does not exist yet) and every env_file."""
    from stackr.config.loader import stack_file_paths

    paths = {Path(p).absolute() for p in stack_file_paths(loaded.raw)}
    paths.add((loaded.raw.project_dir / ".env").absolute())
    return frozenset(paths)


@dataclass
class _Current:
    loaded: LoadedStack
    config_paths: frozenset[Path]
    watch: tuple[WatchTrigger, ...]
    contexts: tuple[ContextTrigger, ...]
    roots: tuple[Path, ...] = field(default=())


def _current(loaded: LoadedStack) -> _Current:
    paths = config_paths(loaded)
    watch, contexts = compile_triggers(loaded.stack, paths)
    return _Current(loaded, paths, watch, contexts, watched_roots(watch, contexts, paths))


class WatchLoop:
    """``handle(paths)`` is one batch, testable alone; ``run`` drives it from a
    debouncer until ``stop`` is set."""

    def __init__(self, loaded: LoadedStack, load: Callable[[], LoadedStack], applier: Applier,
                 report: Report, *, on_roots: Callable[[tuple[Path, ...]], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._load = load
        self._applier = applier
        self._report = report
        self._on_roots = on_roots
        self._clock = clock
        self._current = _current(loaded)
        self._states: dict[str, str] = {}
        self._states_seen = False  # whether a first look at the containers was taken
        self._retry_apply = False  # the last apply met no engine: retry when one answers
        self.batches = 0
        self.applies = 0

    @property
    def loaded(self) -> LoadedStack:
        return self._current.loaded

    @property
    def roots(self) -> tuple[Path, ...]:
        return self._current.roots

    # -- the start ----------------------------------------------------------------------

    def initial_sync(self) -> None:
        """Rules with ``initial_sync: true``: copy their whole path now, so edits made
        while watch was not running are in the container (compose#11102)."""
        self._full_sync(sorted({t.service for t in self._current.watch if t.initial_sync}))

    def _full_sync(self, services: Iterable[str]) -> None:
        for service in services:
            rules = [t for t in self._current.watch if t.service == service and t.initial_sync
                     and t.target is not None and t.action.startswith("sync")]
            items = [SyncItem(rule.path, rule.target_for(rule.path), keep=rule.matches)
                     for rule in rules if rule.path.exists()]
            if items:
                self._sync(service, items, "initial sync")

    # -- one batch ------------------------------------------------------------------------

    def handle(self, paths: Iterable[Path]) -> None:
        changed = sorted({Path(p).absolute() for p in paths})
        if not changed:
            return
        self.batches += 1
        current = self._current
        config_changed = [p for p in changed if p in current.config_paths]
        others = [p for p in changed if p not in current.config_paths]
        per_service = match_changes(current.watch, current.contexts, others)
        rebuilds = [name for name, change in per_service.items() if change.rebuild]
        if config_changed:
            shown = ", ".join(p.name for p in config_changed)
            if not self._reload(shown, rebuilds):
                rebuilds = []  # invalid file: not even a rebuild, nothing changes
        elif rebuilds:
            self._rebuild_and_apply(rebuilds)
        for change in per_service.values():
            if change.rebuild:
                continue
            self._develop(change)

    def _reload(self, shown: str, rebuilds: list[str]) -> bool:
        started = self._clock()
        missing = [p for p in self._current.loaded.raw.files if not Path(p).exists()]
        if missing:
            names = ", ".join(str(p) for p in missing)
            self._report(f"{names} deleted: nothing was changed, everything keeps running; "
                         "waiting for it to come back")
            return False
        try:
            loaded = self._load()
        except StackFileError as error:
            self._report(f"{shown} changed: the stack is invalid, nothing was changed and "
                         f"everything keeps running ({_ms(self._clock() - started)}):")
            for diagnostic in error.diagnostics:
                self._report(f"  {diagnostic.render()}")
            return False
        except StackrError as error:
            self._report(f"{shown} changed: cannot load the stack: {error.render()}; "
                         "nothing was changed")
            return False
        except OSError as error:
            self._report(f"{shown} changed: cannot read the stack: {error}; nothing was "
                         "changed")
            return False
        for warning in loaded.warnings:
            self._report(f"warning: {warning.render()}")
        previous = self._current
        self._current = _current(loaded)
        if self._current.roots != previous.roots and self._on_roots is not None:
            self._on_roots(self._current.roots)
        self._rebuild_and_apply(rebuilds, f"{shown} changed", started)
        return True

    def _rebuild_and_apply(self, services: list[str], why: str = "",
                           started: float | None = None) -> None:
        started = self._clock() if started is None else started
        loaded = self._current.loaded
        for service in services:
            if service not in loaded.stack.services:
                continue
            build_started = self._clock()
            try:
                self._applier.rebuild(loaded, service)
            except StackrError as error:
                self._report(f"{service}: rebuild failed, the running container is kept: "
                             f"{error.render()}")
                return
            self._report(f"{service}: image rebuilt ({_ms(self._clock() - build_started)})")
        why = why or ", ".join(f"{s} rebuilt" for s in services)
        self._apply(why, started)

    def _apply(self, why: str, started: float) -> None:
        self.applies += 1
        self._retry_apply = False
        try:
            outcome = self._applier.apply(self._current.loaded)
        except StackrError as error:
            self._report(f"{why}: apply failed ({_ms(self._clock() - started)}): "
                         f"{error.render()}")
            if isinstance(error, PreconditionError):  # the engine away, a lock held
                self._retry_apply = True
                self._report("watch goes on: it applies again once the engine answers")
            else:
                self._report("watch goes on: the next change applies again")
            return
        elapsed = _ms(self._clock() - started)
        if outcome.nothing:
            self._report(f"{why}: nothing to do, the host matches the stack ({elapsed})")
        else:
            self._report(f"{why}: applied ({elapsed})")
            for line in outcome.lines:
                self._report(f"  {line}")
        # A new container starts from its image: put the synced files back.
        self._full_sync(s for s in outcome.recreated if s in self._current.loaded.stack.services)

    # -- develop.watch ----------------------------------------------------------------------

    def _develop(self, change: ServiceChanges) -> None:
        service = change.service
        if change.syncs:
            items = [SyncItem(path, rule.target_for(path), keep=rule.matches)
                     for rule, path in change.syncs]
            if not self._sync(service, items, "sync"):
                return
        if change.restart:
            started = self._clock()
            try:
                self._applier.restart(self._current.loaded, service)
            except StackrError as error:
                self._report(f"{service}: restart failed: {error.render()}")
                return
            self._report(f"{service}: restarted ({_ms(self._clock() - started)})")
        for rule in change.execs:
            if rule.exec is None:
                continue
            started = self._clock()
            try:
                exit_code = self._applier.exec(self._current.loaded, service, rule.exec)
            except StackrError as error:
                self._report(f"{service}: exec failed: {error.render()}")
                continue
            command = " ".join(rule.exec.command)
            self._report(
                f"{service}: ran {command!r}: exit {exit_code} ({_ms(self._clock() - started)})"
            )

    def _sync(self, service: str, items: list[SyncItem], what: str) -> bool:
        started = self._clock()
        try:
            report = self._applier.sync(self._current.loaded, service, items)
        except StackrError as error:
            self._report(f"{service}: {what} skipped: {error.render()}")
            return False
        elapsed = _ms(self._clock() - started)
        parts = []
        if report.copied:
            parts.append(f"{len(report.copied)} copied")
        if report.deleted:
            parts.append(f"{len(report.deleted)} deleted")
        if not parts:
            parts.append("nothing to copy")
        self._report(f"{service}: {what}: {', '.join(parts)} ({elapsed})")
        for failure in report.failed:
            self._report(f"  {service}: not synced: {failure}")
        return True

    # -- container states -------------------------------------------------------------------

    def check_states(self) -> None:
        """Report containers that stopped, crashed or came back since the last check."""
        try:
            states = dict(self._applier.states(self._current.loaded))
        except StackrError as error:
            state = f"engine unreachable: {error.render()}"
            if self._states.get("") != state:
                self._report(f"{state}; watch goes on")
            self._states = {"": state}
            return
        if "" in self._states:
            self._report("engine reachable again")
        if self._retry_apply:
            self._apply("the engine answers again", self._clock())
        previous = {k: v for k, v in self._states.items() if k}
        for name in sorted(set(states) | set(previous)):
            before, now = previous.get(name), states.get(name)
            if before is not None and before != now:
                self._report(f"{name}: {before} → {now or 'gone'}")
            elif not self._states_seen and now is not None and not now.startswith("running"):
                # The first look: a container that is already down is news too.
                self._report(f"{name}: {now}")
        self._states = states
        self._states_seen = True

    # -- the loop -----------------------------------------------------------------------------

    def run(self, debouncer: Debouncer[Path], stop: threading.Event,
            check_every: float = 2.0) -> None:
        self.check_states()
        next_check = time.monotonic() + check_every
        while not stop.is_set():
            batch = debouncer.wait_batch(timeout=max(0.0, next_check - time.monotonic()))
            if stop.is_set():
                return
            if batch:
                self.handle(batch)
            if time.monotonic() >= next_check:
                self.check_states()
                next_check = time.monotonic() + check_every
