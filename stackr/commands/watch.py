"""``stackr watch``: ``up``, then reapply on every change of the stack files, ``.env``,
env_files and build contexts, and sync/restart/rebuild on ``develop.watch`` paths.

Ctrl-C ends the watch and leaves the stack up (as Compose does); ``--down`` takes it
down on exit. ``--no-up`` watches a stack that is already running.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

# Compose waits 500 ms. An editor's save is over in a few milliseconds and an invalid
# half-written stack file is harmless here (diagnostics, nothing changed), so a short
# quiet period costs nothing: a sync lands in about 60 ms.
DEFAULT_DEBOUNCE_MS = 50


def configure(parser: argparse.ArgumentParser) -> None:
    from stackr.commands.project_session import add_progress_option

    add_progress_option(parser)
    parser.add_argument("--no-up", action="store_true",
                        help="do not run up first: watch a stack that is already running")
    parser.add_argument("--down", action="store_true",
                        help="take the stack down when the watch ends (default: leave it up)")
    parser.add_argument("--debounce", type=int, default=DEFAULT_DEBOUNCE_MS, metavar="MS",
                        help="act once the files have been quiet this long (default "
                             f"{DEFAULT_DEBOUNCE_MS}; an editor's save is a few ms of events)")
    parser.add_argument("--quiet", action="store_true",
                        help="one line per reapply/sync; no per-container progress")


def _namespace_for(module: Any, args: argparse.Namespace, **overrides: Any
                   ) -> argparse.Namespace:
    """Another verb's arguments: its defaults, the project options given to watch."""
    parser = argparse.ArgumentParser(add_help=False)
    module.configure(parser)
    namespace = parser.parse_args([])
    for key, value in vars(args).items():
        if not hasattr(namespace, key):
            setattr(namespace, key, value)
    for key, value in overrides.items():
        setattr(namespace, key, value)
    return namespace


def _warm_up() -> None:
    """Import what the first reapply needs now, not when the user saves (--no-up skips
    ``up``, which would have imported them)."""
    import stackr.graph
    import stackr.plan
    import stackr.project.apply
    import stackr.project.desired
    import stackr.project.observe
    import stackr.project.requests
    import stackr.project.secrets  # noqa: F401


def _report(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    import signal
    import threading
    from pathlib import Path

    from stackr.commands import down, up
    from stackr.commands.project_options import load_options, load_project
    from stackr.commands.project_session import client_for, progress_sink
    from stackr.config.pipeline import load_stack
    from stackr.errors import UsageError
    from stackr.watch.debounce import Debouncer
    from stackr.watch.engine_applier import EngineApplier
    from stackr.watch.loop import WatchLoop
    from stackr.watch.watcher import Watcher

    if args.debounce < 0:
        raise UsageError("--debounce cannot be negative")
    loaded = load_project(args)
    if not args.no_up:
        progress = "quiet" if args.quiet else args.progress
        code = up.run(_namespace_for(up, args, detach=True, progress=progress))
        if code != 0:
            return int(code)
    _warm_up()
    client = client_for(args)
    applier = EngineApplier(client, None if args.quiet else progress_sink(args.progress),
                            on_wait=_report)
    debouncer: Debouncer[Path] = Debouncer(args.debounce / 1000)
    watchers: list[Watcher] = []

    def on_roots(roots: tuple[Path, ...]) -> None:
        for watcher in watchers:
            watcher.set_roots(roots)

    def on_paths(paths: list[Path]) -> None:
        for path in paths:
            debouncer.add(path)

    loop = WatchLoop(loaded, lambda: load_stack(load_options(args)), applier, _report,
                     on_roots=on_roots)
    watcher = Watcher(loop.roots, on_paths, _report)
    watchers.append(watcher)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        # The step under way finishes (never half an apply); a second Ctrl-C interrupts.
        stop.set()
        debouncer.close()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    watcher.start()
    try:
        loop.initial_sync()
        on_exit = "the stack is taken down" if args.down else "the stack stays up"
        _report(f"watching {len(loop.roots)} path(s) of project {loaded.stack.name}; "
                f"Ctrl-C to stop ({on_exit})")
        loop.run(debouncer, stop)
    finally:
        watcher.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _report("watch stopped")
    if args.down:
        return int(down.run(_namespace_for(down, args, progress=args.progress)))
    return 0
