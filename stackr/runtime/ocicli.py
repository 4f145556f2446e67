"""``stackr runtime``: the runtime as a runc-compatible command line.

``stackr runtime [--root DIR] create|start|state|kill|delete|run|list`` drives
``stackr.runtime.container`` from OCI bundles, so OCI tooling (runtime-tools'
validation suite) can run it and it can be compared with runc on the same bundle.
Also runnable as ``python -m stackr.runtime.ocicli`` (no CLI verb table to import: the
fast path for benchmarks). Output and exit statuses follow runc: ``state`` prints
JSON, ``run`` exits with the container's status, errors go to stderr with status 1.

Start-up cost matters here (``runtime run`` is compared with runc as a whole process):
the command line is read by ``parse_fast`` (runc's grammar, no argparse) and argparse
is imported only for what it does not understand (help, mistakes); nothing heavier
than the runtime itself is imported, and ``exit_now`` skips the interpreter's teardown.
"""

from __future__ import annotations

import gc
import json
import signal as signals
import sys
from pathlib import Path
from types import SimpleNamespace

from stackr.errors import StackrError, UsageError

TYPE_CHECKING = False  # mypy reads True: typing is not imported at run time
if TYPE_CHECKING:
    import argparse

    Arguments = argparse.Namespace | SimpleNamespace

# runc's global options that take a value and are accepted but ignored here.
_IGNORED_GLOBAL_VALUES = ("--log", "--log-format", "--criu")
# Per verb: flags without a value, options with a (path) value, positional names.
_VERB_GRAMMAR: dict[str, tuple[dict[str, str], dict[str, str], tuple[str, ...]]] = {
    "create": (
        {"--no-pivot": "no_pivot", "--no-new-keyring": "no_new_keyring"},
        {"--bundle": "bundle", "-b": "bundle", "--pid-file": "pid_file",
         "--console-socket": "console_socket"},
        ("container_id",),
    ),
    "start": ({}, {}, ("container_id",)),
    "state": ({}, {}, ("container_id",)),
    "kill": ({"--all": "all", "-a": "all"}, {}, ("container_id", "signal")),
    "delete": ({"--force": "force", "-f": "force"}, {}, ("container_id",)),
    "list": ({}, {}, ()),
}  # fmt: skip
_VERB_GRAMMAR["run"] = _VERB_GRAMMAR["create"]
_VERB_DEFAULTS: dict[str, dict[str, object]] = {
    "create": {"bundle": Path("."), "pid_file": None, "console_socket": None,
               "no_pivot": False, "no_new_keyring": False},
    "kill": {"all": False, "signal": "TERM"},
    "delete": {"force": False},
}  # fmt: skip
_VERB_DEFAULTS["run"] = _VERB_DEFAULTS["create"]


def parse_fast(argv: list[str]) -> SimpleNamespace | None:
    """runc's command line without argparse; None when argparse must decide.

    Understands the forms OCI tooling uses (global ``--root``, one verb, its options
    as ``--opt value`` or ``--opt=value``, its positionals, flags anywhere after the
    verb). Anything else (``--help``, abbreviations, a missing id, an unknown option)
    returns None, so that ``configure``'s argparse parser reports it as before.
    """
    values: dict[str, object] = {"root": None, "systemd_cgroup": False}
    values.update(dict.fromkeys(("log", "log_format", "criu")))
    index = 0
    while index < len(argv) and argv[index].startswith("-"):
        name, has_value, value = argv[index].partition("=")
        if name == "--systemd-cgroup" and not has_value:
            values["systemd_cgroup"] = True
            index += 1
            continue
        if name != "--root" and name not in _IGNORED_GLOBAL_VALUES:
            return None
        if not has_value:
            index += 1
            if index >= len(argv) or argv[index].startswith("-"):
                return None
            value = argv[index]
        values[name[2:].replace("-", "_")] = Path(value) if name == "--root" else value
        index += 1
    if index >= len(argv) or argv[index] not in _VERB_GRAMMAR:
        return None
    verb = argv[index]
    flags, options, positional_names = _VERB_GRAMMAR[verb]
    values.update(_VERB_DEFAULTS.get(verb, {}), runtime_verb=verb)
    positionals: list[str] = []
    rest = argv[index + 1 :]
    position = 0
    while position < len(rest):
        argument = rest[position]
        position += 1
        if not argument.startswith("-") or argument == "-":
            positionals.append(argument)
            continue
        if positionals and len(positional_names) > 1:
            return None  # argparse splits ``kill ID -a SIG`` its own way: let it
        name, has_value, value = argument.partition("=")
        if name in flags and not has_value:
            values[flags[name]] = True
        elif name in options:
            if not has_value:
                if position >= len(rest) or rest[position].startswith("-"):
                    return None
                value = rest[position]
                position += 1
            values[options[name]] = Path(value)
        else:
            return None  # "--", "-h", an abbreviation, a typo: argparse's to judge
    required = 1 if positional_names else 0
    if not required <= len(positionals) <= len(positional_names):
        return None
    values.update(zip(positional_names, positionals, strict=False))
    return SimpleNamespace(**values)


def configure(parser: argparse.ArgumentParser) -> None:
    import argparse

    parser.add_argument(
        "--root", type=Path, help="state directory (default $STACKR_RUN/containers)"
    )
    for ignored in ("--log", "--log-format", "--criu"):
        parser.add_argument(ignored, help=argparse.SUPPRESS)
    parser.add_argument("--systemd-cgroup", action="store_true", help=argparse.SUPPRESS)
    verbs = parser.add_subparsers(dest="runtime_verb", metavar="VERB", required=True)
    for name in ("create", "run"):
        verb = verbs.add_parser(name, help=f"{name} a container from an OCI bundle")
        verb.add_argument("--bundle", "-b", type=Path, default=Path("."))
        verb.add_argument("--pid-file", type=Path)
        verb.add_argument(
            "--console-socket", type=Path, help="AF_UNIX socket to send the pty master to"
        )
        verb.add_argument("--no-pivot", action="store_true", help=argparse.SUPPRESS)
        verb.add_argument("--no-new-keyring", action="store_true", help=argparse.SUPPRESS)
        verb.add_argument("container_id")
    verbs.add_parser("start", help="run the created container's process").add_argument(
        "container_id"
    )
    verbs.add_parser("state", help="print the container's state as JSON").add_argument(
        "container_id"
    )
    kill = verbs.add_parser("kill", help="send a signal to the container's process")
    kill.add_argument("--all", "-a", action="store_true")
    kill.add_argument("container_id")
    kill.add_argument("signal", nargs="?", default="TERM")
    delete = verbs.add_parser("delete", help="remove the container")
    delete.add_argument("--force", "-f", action="store_true")
    delete.add_argument("container_id")
    verbs.add_parser("list", help="list containers")


def parse_signal(text: str) -> int:
    """runc's forms: 9, KILL, SIGKILL."""
    if text.isdigit():
        return int(text)
    name = text.upper()
    name = name if name.startswith("SIG") else f"SIG{name}"
    try:
        return int(signals.Signals[name])
    except KeyError:
        raise UsageError(f"unknown signal {text!r}") from None


def _state_json(state: object) -> dict[str, object]:
    from stackr.runtime.container import ContainerState

    assert isinstance(state, ContainerState)
    return {
        "ociVersion": "1.0.2",
        "id": state.container_id,
        "status": state.status.value,
        "pid": state.pid if state.status.value in ("created", "running") else 0,
        "bundle": state.bundle,
        "annotations": state.annotations,
    }


def run(args: Arguments) -> int:
    verb = args.runtime_verb
    container_id: str = getattr(args, "container_id", "")
    if verb in ("create", "run"):
        return _create(args, container_id, wait=verb == "run")
    from stackr.runtime import container

    if args.root is not None:
        container.set_containers_dir(args.root.resolve())
    if verb == "start":
        container.start(container_id)
    elif verb == "state":
        print(json.dumps(_state_json(container.state(container_id)), indent=2))
    elif verb == "kill":
        container.kill(container_id, parse_signal(args.signal), all_processes=args.all)
    elif verb == "delete":
        container.delete(container_id, force=args.force)
    elif verb == "list":
        print(f"{'ID':<24} {'PID':<8} {'STATUS':<10} BUNDLE")
        for state in container.list_containers():
            pid = state.pid or 0
            print(f"{state.container_id:<24} {pid:<8} {state.status.value:<10} {state.bundle}")
    return 0


def _create(args: Arguments, container_id: str, *, wait: bool) -> int:
    """``create``, and for ``run`` also start, wait and delete; ``run`` returns the status."""
    # What both sides of the fork below need, imported once, before it (open_manager
    # would import the cgroup drivers later, on each side).
    import stackr.cgroups.v1
    import stackr.cgroups.v2
    import stackr.runtime.process
    import stackr.runtime.security
    import stackr.statefile  # noqa: F401
    from stackr.runtime import prefork
    from stackr.runtime.spec import ContainerStdio

    # One container per process: its init helper is forked from here, not re-executed
    # (no second interpreter), and forked first, so that it loads the init code while
    # this process reads the bundle and makes the cgroup (see prefork). A caller with
    # threads (in-process use) keeps the re-executed helper: forking it is unsafe.
    launcher = prefork.PreFork.start() if prefork.single_threaded() else None
    try:
        # What only this side needs, loaded while the child loads the init code (the
        # child, which has more to load, is the one the container waits for).
        from stackr.runtime import container, oci

        if args.root is not None:
            container.set_containers_dir(args.root.resolve())
        container.use_fork_server(launcher)
        bundle = args.bundle.resolve()
        try:
            config = json.loads((bundle / "config.json").read_text())
        except (OSError, ValueError) as error:
            raise UsageError(f"bundle {bundle}: cannot read config.json ({error})") from error
        if container.state_dir(container_id).exists():
            raise UsageError(f"container {container_id}: already exists")
        spec = oci.spec_from_config(config, bundle, container_id)
        if spec.tty and args.console_socket is not None:
            import socket

            console = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            console.connect(str(args.console_socket))
            stdio = ContainerStdio(console_socket=console.fileno())
        else:  # runc passes its own stdio straight to the container process
            stdio = ContainerStdio(0, 1, 2)
        state = container.create(spec, stdio, bundle_dir=bundle)
    finally:
        if launcher is not None:
            launcher.close()  # used (its child is gone already) or not: no child left
        loaded = sys.modules.get("stackr.runtime.container")  # None if its import failed
        if loaded is not None:
            loaded.use_fork_server(None)
    if args.pid_file is not None and state.pid is not None:
        args.pid_file.write_text(str(state.pid))
    if not wait:
        return 0
    container.start(container_id)
    final = container.wait(container_id)
    container.delete(container_id)
    return final.exit_code if final.exit_code is not None else 255


def parse(argv: list[str]) -> Arguments:
    """``parse_fast``, or argparse for what it leaves (which exits on a mistake)."""
    args = parse_fast(argv)
    if args is not None:
        return args
    import argparse

    parser = argparse.ArgumentParser(prog="stackr runtime")
    configure(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        return run(args)
    except StackrError as error:
        print(error.render(), file=sys.stderr)
        return 1


def one_shot_process() -> None:
    """Tune this interpreter for one command that is the whole process.

    The cyclic garbage collector goes off: while the runtime's modules load it ran
    about 20 times, some 10 ms of a ~100 ms ``runtime run``, and a one-shot command
    gives its memory back by exiting (``exit_now``). The container's long-lived
    processes collect again (``prefork``).
    """
    gc.disable()


if __name__ == "__main__":
    from stackr.leave import exit_now

    one_shot_process()
    exit_now(main())
