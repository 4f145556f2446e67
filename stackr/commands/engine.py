"""``stackr engine``: run the engine in the foreground; ``engine stop``; ``engine dial-stdio``."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action", nargs="?", choices=("run", "stop", "dial-stdio"), default="run",
        help="run (default, foreground), stop the running engine, or dial-stdio "
             "(bridge stdin/stdout to the engine socket: what ssh:// hosts run)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.add_argument("--socket", help="engine socket for dial-stdio (default: local)")


def run(args: argparse.Namespace) -> int:
    if args.action == "stop":
        from stackr.engine.daemon import stop_engine

        pid = stop_engine()
        print("engine stopped" if pid else "no engine was running")
        return 0
    if args.action == "dial-stdio":
        from stackr.engine.dial import dial_stdio

        return dial_stdio(args.socket)
    from stackr.engine.daemon import serve

    return serve(verbose=args.verbose)
