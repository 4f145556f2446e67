"""``stackr runtime``: the runtime as a runc-compatible command line.

``stackr runtime [--root DIR] create|start|state|kill|delete|run|list`` drives
``stackr.runtime.container`` from OCI bundles, so OCI tooling (runtime-tools'
validation suite) can run it and it can be compared with runc on the same bundle.
Also runnable as ``python -m stackr.runtime.ocicli`` (no CLI verb table to import: the
fast path for benchmarks). Output and exit statuses follow runc: ``state`` prints
JSON, ``run`` exits with the container's status, errors go to stderr with status 1.
"""

from __future__ import annotations

import argparse
import json
import signal as signals
import sys
from pathlib import Path

from stackr.errors import StackrError, UsageError


def configure(parser: argparse.ArgumentParser) -> None:
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


def run(args: argparse.Namespace) -> int:
    from stackr.runtime import container, oci
    from stackr.runtime.forkserver import DirectFork
    from stackr.runtime.spec import ContainerStdio

    container.use_fork_server(DirectFork())  # one container per process: no 2nd interpreter
    if args.root is not None:
        container.set_containers_dir(args.root.resolve())
    verb = args.runtime_verb
    container_id: str = getattr(args, "container_id", "")
    if verb in ("create", "run"):
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
        if args.pid_file is not None and state.pid is not None:
            args.pid_file.write_text(str(state.pid))
        if verb == "create":
            return 0
        container.start(container_id)
        final = container.wait(container_id)
        container.delete(container_id)
        return final.exit_code if final.exit_code is not None else 255
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stackr runtime")
    configure(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except StackrError as error:
        print(error.render(), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
