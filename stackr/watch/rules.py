"""Which ``develop.watch`` rule (or build context) a changed host path belongs to.

A rule's ``ignore`` and ``include`` patterns are relative to its ``path``; the service's
``.dockerignore`` (or ``<Dockerfile>.dockerignore``) is relative to its build context.
Both are matched by ``stackr.build.ignore.IgnoreMatcher``, the builder's own matcher, so
``!dir`` re-inclusion and ``**`` behave the same in a build and in a sync (Compose's
watch had its own, with different answers: compose#12236).

Always ignored, as Compose documents: ``.git`` and editors' temporary files. Never
synced: the stack files and the service's Dockerfile (compose PR#14117) — they are the
recipe, not the application.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from stackr.build.ignore import IgnoreMatcher, load_ignore
from stackr.config.models import ServiceHook, Stack

# Compose's pkg/watch/ephemeral.go: JetBrains, Vim, Emacs; plus common others.
EPHEMERAL_NAMES = (
    "*___jb_old___", "*___jb_tmp___",  # JetBrains safe-write
    "4913", "*~", ".*.swp", ".*.swx", ".*.swo",  # Vim
    ".#*", "#*#",  # Emacs
    ".goutputstream-*",  # GNOME
    ".DS_Store",
)
VCS_DIRECTORIES = (".git", ".hg", ".svn")

SYNC_ACTIONS = ("sync", "sync+restart", "sync+exec")


def is_ephemeral(path: Path | PurePosixPath) -> bool:
    """An editor's temporary file, or anything inside a VCS directory."""
    if any(part in VCS_DIRECTORIES for part in path.parts):
        return True
    return any(fnmatch.fnmatchcase(path.name, pattern) for pattern in EPHEMERAL_NAMES)


def _relative(path: Path, root: Path) -> str | None:
    """``path`` relative to ``root`` with ``/`` ("" when equal); None when outside."""
    try:
        relative = path.relative_to(root)
    except ValueError:
        return None
    return relative.as_posix() if relative.parts else ""


@dataclass(frozen=True)
class WatchTrigger:
    """One develop.watch rule of one service, with its matchers compiled."""

    service: str
    action: str  # sync | rebuild | restart | sync+restart | sync+exec
    path: Path  # absolute host path (file or directory)
    target: PurePosixPath | None  # in the container, for the sync actions
    ignore: IgnoreMatcher
    include: IgnoreMatcher | None  # None: everything is included
    context: Path | None  # the build context, which .dockerignore is relative to
    dockerignore: IgnoreMatcher
    never_synced: frozenset[Path]  # stack files, Dockerfile
    initial_sync: bool = False
    exec: ServiceHook | None = None  # what sync+exec runs after the sync

    def matches(self, path: Path) -> bool:
        """Whether a change of ``path`` (absolute) concerns this rule."""
        relative = _relative(path, self.path)
        if relative is None or is_ephemeral(PurePosixPath(relative)):
            return False
        if relative and self.ignore.ignored(relative):
            return False
        if relative and self.include is not None and not self.include.ignored(relative):
            return False
        if self.context is not None:
            in_context = _relative(path, self.context)
            if in_context and self.dockerignore.ignored(in_context):
                return False
        return not (self.action in SYNC_ACTIONS and path in self.never_synced)

    def target_for(self, path: Path) -> PurePosixPath:
        """Where ``path`` (under ``self.path``) lives in the container."""
        if self.target is None:
            raise ValueError(f"watch rule {self.path} ({self.action}) has no target")
        relative = _relative(path, self.path)
        if relative is None:
            raise ValueError(f"{path} is not under {self.path}")
        return self.target / relative if relative else self.target


@dataclass(frozen=True)
class ContextTrigger:
    """A build context of a service without develop.watch rules: a change rebuilds."""

    service: str
    context: Path
    dockerignore: IgnoreMatcher

    def matches(self, path: Path) -> bool:
        relative = _relative(path, self.context)
        if relative is None or is_ephemeral(PurePosixPath(relative)):
            return False
        return not (relative and self.dockerignore.ignored(relative))


def _dockerfile(context: Path, dockerfile: str | None) -> Path:
    return context / (dockerfile or "Dockerfile")


def compile_triggers(stack: Stack, stack_files: Iterable[Path]
                     ) -> tuple[tuple[WatchTrigger, ...], tuple[ContextTrigger, ...]]:
    """Every service's develop.watch rules, and the build contexts of services that
    have none (in service name order: deterministic output)."""
    stack_file_set = frozenset(Path(p).absolute() for p in stack_files)
    watch: list[WatchTrigger] = []
    contexts: list[ContextTrigger] = []
    for name in sorted(stack.services):
        service = stack.services[name]
        context: Path | None = None
        dockerignore = IgnoreMatcher()
        never = set(stack_file_set)
        build = service.build
        if build is not None and "://" not in build.context and not build.context.startswith(
                "git@"):
            context = Path(build.context)
            dockerfile = _dockerfile(context, build.dockerfile)
            never.add(dockerfile)
            try:
                dockerignore = load_ignore(context, dockerfile)
            except OSError:
                dockerignore = IgnoreMatcher()
        rules = service.develop.watch if service.develop is not None else ()
        for rule in rules:
            watch.append(WatchTrigger(
                service=name, action=rule.action, path=Path(rule.path),
                target=PurePosixPath(rule.target) if rule.target else None,
                ignore=IgnoreMatcher.from_lines(list(rule.ignore)),
                include=IgnoreMatcher.from_lines(list(rule.include)) if rule.include else None,
                context=context, dockerignore=dockerignore, never_synced=frozenset(never),
                initial_sync=rule.initial_sync, exec=rule.exec,
            ))
        if not rules and context is not None:
            contexts.append(ContextTrigger(name, context, dockerignore))
    return tuple(watch), tuple(contexts)


@dataclass(frozen=True)
class ServiceChanges:
    """What a batch of changed paths asks of one service."""

    service: str
    rebuild: bool = False
    restart: bool = False
    syncs: tuple[tuple[WatchTrigger, Path], ...] = ()  # (rule, changed host path)
    execs: tuple[WatchTrigger, ...] = ()

    @property
    def action(self) -> str:
        """The strongest action: a rebuild makes syncs and restarts moot."""
        if self.rebuild:
            return "rebuild"
        if self.restart:
            return "sync+restart" if self.syncs else "restart"
        return "sync+exec" if self.execs else "sync"


def match_changes(watch: Iterable[WatchTrigger], contexts: Iterable[ContextTrigger],
                  paths: Iterable[Path]) -> dict[str, ServiceChanges]:
    """Group changed paths by service. Every matching rule applies (as Compose): one
    file under two sync rules is synced to both targets."""
    rebuild: set[str] = set()
    restart: set[str] = set()
    syncs: dict[str, list[tuple[WatchTrigger, Path]]] = {}
    execs: dict[str, list[WatchTrigger]] = {}
    touched: set[str] = set()
    watch = tuple(watch)
    contexts = tuple(contexts)
    for path in paths:
        for trigger in watch:
            if not trigger.matches(path):
                continue
            touched.add(trigger.service)
            if trigger.action == "rebuild":
                rebuild.add(trigger.service)
            if trigger.action in ("restart", "sync+restart"):
                restart.add(trigger.service)
            if trigger.action in SYNC_ACTIONS:
                pairs = syncs.setdefault(trigger.service, [])
                if (trigger, path) not in pairs:
                    pairs.append((trigger, path))
            if trigger.action == "sync+exec":
                rules = execs.setdefault(trigger.service, [])
                if trigger not in rules:
                    rules.append(trigger)
        for context in contexts:
            if context.matches(path):
                touched.add(context.service)
                rebuild.add(context.service)
    return {
        service: ServiceChanges(service, service in rebuild, service in restart,
                                tuple(syncs.get(service, ())), tuple(execs.get(service, ())))
        for service in sorted(touched)
    }


def watched_roots(watch: Iterable[WatchTrigger], contexts: Iterable[ContextTrigger],
                  stack_files: Iterable[Path]) -> tuple[Path, ...]:
    """Every path the watcher must observe (deduplicated, sorted)."""
    roots = {Path(p).absolute() for p in stack_files}
    roots.update(trigger.path for trigger in watch)
    roots.update(context.context for context in contexts)
    return tuple(sorted(roots))


def services_by_trigger(watch: Iterable[WatchTrigger]) -> Mapping[str, tuple[WatchTrigger, ...]]:
    grouped: dict[str, list[WatchTrigger]] = {}
    for trigger in watch:
        grouped.setdefault(trigger.service, []).append(trigger)
    return {name: tuple(rules) for name, rules in grouped.items()}
