"""The ``stackr`` command line: the only module that prints errors or exits.

Each verb lives in ``stackr/commands/<verb>.py`` with ``configure(parser)`` and
``run(args) -> int`` (one file per subcommand, as docker/compose's ``cmd/compose``).
A verb whose module does not exist yet is listed in ``--help`` and says it is not
implemented. Command modules import heavy libraries inside ``run`` only, so printing
help or the version stays fast.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

from stackr import __version__
from stackr.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    NotImplementedYetError,
    StackrError,
)
from stackr.record import frozen_record

TYPE_CHECKING = False  # mypy reads True: typing is not loaded by `stackr runtime`
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Collection, Sequence


@frozen_record
class Verb:
    name: str
    summary: str
    issue: int  # the issue that brings it, named while it is not implemented
    # After these verbs Docker's users type -f for "follow" or "force" (`logs -f`,
    # `rm -f`, `rmi -f`): there, -f is the verb's own flag and the stack file is
    # given as --file (or -f before the verb).
    f_is_file: bool = True


VERBS: tuple[Verb, ...] = (
    Verb("config", "Validate the stack file and print its normalised form", 2),
    Verb("graph", "Print the dependency graph of the stack", 2),
    Verb("up", "Create and start the stack (converge the host to the file)", 7),
    Verb("down", "Stop and remove everything the project owns", 7),
    Verb("watch", "Up, then reapply on every change of the stack's files", 8),
    Verb("ps", "List the project's containers", 7),
    Verb("logs", "Show the output of the project's containers", 7, f_is_file=False),
    Verb("exec", "Run a command in a running container", 7),
    Verb("run", "Run a one-off command in a new container of a service", 7),
    Verb("stop", "Stop services without removing them", 7),
    Verb("start", "Start stopped services", 7),
    Verb("restart", "Restart services", 7),
    Verb("kill", "Send a signal to services' containers", 7),
    Verb("rm", "Remove stopped service containers", 7, f_is_file=False),
    Verb("pause", "Freeze services' containers", 7),
    Verb("unpause", "Let paused containers go on", 7),
    Verb("top", "Show the processes of services' containers", 7),
    Verb("stats", "Show CPU, memory and pids of services' containers", 7),
    Verb("port", "Show the host address a container port is published on", 7),
    Verb("ls", "List the projects on this host", 7),
    Verb("pull", "Pull the images of the stack's services", 5),
    Verb("images", "List images in the store", 5),
    Verb("image", "Manage images (inspect, prune)", 5),
    Verb("rmi", "Remove images", 5, f_is_file=False),
    Verb("load", "Load an image from a docker save / OCI archive", 5),
    Verb("build", "Build images from Dockerfiles", 9),
    Verb("engine", "Run the engine in the foreground (or `engine stop`)", 4),
    Verb("info", "Show what the engine and the host support", 4),
    Verb("runtime", "Run OCI bundles with a runc-compatible command line", 3),
)


def _command_module(verb: Verb) -> ModuleType | None:
    import importlib

    try:
        return importlib.import_module(f"stackr.commands.{verb.name}")
    except ModuleNotFoundError as error:
        if error.name != f"stackr.commands.{verb.name}":
            raise
        return None


def _add_project_options(
    parser: argparse.ArgumentParser, *, suppress: bool, f_is_file: bool = True
) -> None:
    """Options every verb accepts, before or after the verb (``stackr up -f x`` and
    ``stackr -f x up`` both work, as with docker compose)."""
    import argparse

    default = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("project options")
    group.add_argument(
        *(("-f", "--file") if f_is_file else ("--file",)),
        dest="files",
        action="append",
        metavar="FILE",
        default=default,
        help="stack file (repeat to merge several)",
    )
    group.add_argument("-p", "--project-name", default=default, help="project name")
    group.add_argument(
        "--profile",
        dest="profiles",
        action="append",
        metavar="PROFILE",
        default=default,
        help="enable a profile (repeatable)",
    )
    group.add_argument(
        "--env-file",
        dest="env_files",
        action="append",
        metavar="PATH",
        default=default,
        help="read variables from this file instead of .env (repeatable)",
    )
    group.add_argument(
        "--project-directory",
        default=default,
        metavar="DIR",
        help="directory that relative paths are resolved against",
    )
    group.add_argument(
        "-H",
        "--host",
        default=default,
        metavar="URL",
        help="engine to talk to (unix:///path or ssh://user@host); default STACKR_HOST",
    )
    group.add_argument(
        "--debug",
        action="store_true",
        default=default or False,
        help="show internal details of errors",
    )


def build_parser(configured: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line. ``configured``: the verbs named on the command line, the
    only ones set up (importing and configuring every verb cost every command ~50 ms,
    and even listing them ~25 ms); empty: every verb listed by name and summary (for
    help and for an unknown verb's error); None: all, fully."""
    import argparse
    import functools
    import importlib.util

    # argparse makes a HelpFormatter for every add_argument; given no width, each asks
    # shutil for the terminal's, and shutil's import (bz2, lzma) costs ~5 ms a command.
    formatter = functools.partial(argparse.HelpFormatter, width=_help_width())
    parser = argparse.ArgumentParser(
        prog="stackr",
        description="Run multi-container stacks from a Compose file, with stackr's own engine.",
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"stackr {__version__}")
    _add_project_options(parser, suppress=False)
    subparsers = parser.add_subparsers(dest="verb", metavar="COMMAND")
    for verb in VERBS:
        if configured and verb.name not in configured:
            continue  # a verb was named: the others are not needed to parse this line
        full = configured is None or verb.name in configured
        module = _command_module(verb) if full else None
        exists = (module is not None if full
                  else importlib.util.find_spec(f"stackr.commands.{verb.name}") is not None)
        summary = verb.summary if exists else f"{verb.summary} (not implemented yet)"
        sub = subparsers.add_parser(verb.name, help=summary, description=verb.summary,
                                    formatter_class=formatter)
        if full:
            _add_project_options(sub, suppress=True, f_is_file=verb.f_is_file)
            if module is not None:
                module.configure(sub)
        sub.set_defaults(verb_spec=verb, verb_module=module)
    return parser


def _help_width() -> int:
    """The width argparse's help is wrapped to, as it computes it from
    ``shutil.get_terminal_size()`` (``COLUMNS``, else stdout's terminal, else 80), less 2."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    stdout = sys.__stdout__
    if columns <= 0 and stdout is not None:
        try:
            columns = os.get_terminal_size(stdout.fileno()).columns
        except (ValueError, OSError):  # not a terminal, or closed
            columns = 0
    return (columns or 80) - 2


def _run(args: argparse.Namespace) -> int:
    verb: Verb = args.verb_spec
    module: ModuleType | None = args.verb_module
    if module is None:
        raise NotImplementedYetError(
            f"stackr {verb.name} is not implemented yet (it comes with issue #{verb.issue})"
        )
    exit_code: int = module.run(args)
    return exit_code


def _write_crash_log(error: BaseException) -> str:
    import traceback

    from stackr.paths import run_root

    text = "".join(traceback.format_exception(error))
    header = f"stackr {__version__}\npython {sys.version}\nargv {sys.argv}\n\n"
    for directory in (run_root(), os.environ.get("TMPDIR", "/tmp")):
        try:
            os.makedirs(directory, exist_ok=True)
            path = os.path.join(directory, "stackr-crash.log")
            with open(path, "w") as log:
                log.write(header + text)
            return path
        except OSError:
            continue
    return "(no writable place for a crash log)"


# Verbs that serve until stopped: they end as any process does.
LONG_RUNNING_VERBS = frozenset({"engine", "watch"})
# A command allocates most of its objects importing its modules, and the collector's
# default first generation (700) runs dozens of collections over them that find nothing:
# ~6 ms of every `down`. The verbs that serve until stopped keep Python's default.
COMMAND_GC_THRESHOLD = (20_000, 10, 10)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments == ["--version"]:  # the fast path: no parser, no command imports
        print(f"stackr {__version__}")
        return 0
    if arguments[:1] == ["runtime"]:
        # argv None: main is the process's entry, the command is the whole process.
        exit_code = _runtime_fast_path(arguments[1:], whole_process=argv is None)
        if exit_code is not None:
            if argv is None:  # leave without the interpreter's teardown
                from stackr.leave import exit_now

                exit_now(exit_code)
            return exit_code
    import gc

    default_gc_threshold = gc.get_threshold()
    if argv is None:  # the whole process (not a caller's, such as a test's)
        gc.set_threshold(*COMMAND_GC_THRESHOLD)
    verb_names = {verb.name for verb in VERBS}
    parser = build_parser({argument for argument in arguments if argument in verb_names})
    # Unknown arguments are tolerated only for verbs that are not implemented yet, so
    # that `stackr up -d` says "not implemented" rather than "unrecognized -d".
    args, unknown = parser.parse_known_args(arguments)
    if unknown and getattr(args, "verb_module", None) is not None:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.verb is None:
        parser.print_help()
        return 0
    if args.verb in LONG_RUNNING_VERBS:
        gc.set_threshold(*default_gc_threshold)
    exit_code = _guarded(lambda: _run(args), debug=args.debug)
    if argv is None and args.verb not in LONG_RUNNING_VERBS:
        # The whole process: nothing is left to do but the interpreter's teardown.
        from stackr.leave import exit_now

        exit_now(exit_code)
    return exit_code


def _runtime_fast_path(arguments: list[str], *, whole_process: bool) -> int | None:
    """``stackr runtime ...`` without building the verb table (every verb's module).

    ``stackr runtime run`` is compared with runc as a whole process, so its start-up
    must stay small (issue #3). None when the runtime's own fast parser defers (help,
    mistakes, project options): the full parser then handles it as any verb.
    """
    from stackr.runtime import ocicli

    args = ocicli.parse_fast(arguments)
    if args is None:
        return None
    if whole_process:
        ocicli.one_shot_process()
    return _guarded(lambda: ocicli.run(args), debug=False)


def _guarded(call: Callable[[], int], *, debug: bool) -> int:
    """Run a verb; render its errors for the user (the only place that does)."""
    try:
        return call()
    except StackrError as error:
        print(error.render(), file=sys.stderr)
        if debug and error.__cause__ is not None:
            import traceback

            traceback.print_exception(error.__cause__, file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except Exception as error:  # a bug: say so, keep the traceback out of the user's way
        log_path = _write_crash_log(error)
        print(f"internal error: {type(error).__name__}: {error}", file=sys.stderr)
        print(f"this is a bug in stackr; details are in {log_path}", file=sys.stderr)
        if debug:
            import traceback

            traceback.print_exception(error, file=sys.stderr)
        return EXIT_INTERNAL
