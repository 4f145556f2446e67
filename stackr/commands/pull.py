"""``stackr pull IMAGE...``: pull images into the engine's store, with per-layer progress.

The engine pulls (``POST /images/create``) and streams Docker's JSON progress lines; they
are shown here as the store's progress events would be.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="image references to pull")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    from stackr.client import EngineClient
    from stackr.errors import NotImplementedYetError
    from stackr.images.errors import ImageError
    from stackr.images.reference import parse_reference

    if not args.images:
        raise NotImplementedYetError(
            "stackr pull without IMAGE pulls the stack's images; that comes with `up` (issue #7)"
        )
    references = [parse_reference(image) for image in args.images]  # refused before any pull
    client = EngineClient(getattr(args, "host", None))
    show = _ProgressDisplay()
    for reference in references:
        digest = ""
        for line in client.image_pull(str(reference)):
            if "error" in line:
                show.end_line()
                raise ImageError(str(line["error"]))
            status = str(line.get("status", ""))
            if status.startswith("Digest: "):
                digest = status
            elif not args.quiet and not status.startswith(("Status: ", "Image: ")):
                show.line(line)
        show.end_line()
        if digest and not args.quiet:
            print(digest, file=sys.stderr)
        print(reference)
    return 0


class _ProgressDisplay:
    """One line per layer and phase. On a terminal a layer's download progress rewrites
    its line; elsewhere only its first download line is shown."""

    def __init__(self) -> None:
        self.rewriting = ""  # the layer whose download line is on screen, unfinished
        self.last_phase: dict[str, object] = {}

    def line(self, line: dict[str, Any]) -> None:
        from stackr.images.progress import Phase, ProgressEvent, render_event

        try:
            phase = Phase(line.get("status"))
        except ValueError:  # a status this client does not know: show it as it is
            self.end_line()
            print(str(line.get("status")), file=sys.stderr, flush=True)
            return
        detail = line.get("progressDetail") or {}
        event = ProgressEvent(
            phase,
            layer=str(line.get("id", "")),
            current=int(detail.get("current") or 0),
            total=int(detail.get("total") or 0),
            detail=str(line.get("detail", "")),
        )
        key = event.layer or event.detail
        tty = sys.stderr.isatty()
        again = phase is Phase.DOWNLOADING and self.last_phase.get(key) is Phase.DOWNLOADING
        self.last_phase[key] = phase
        if again and not tty:
            return
        if again and self.rewriting == key:
            print(f"\r{render_event(event)}", end="", file=sys.stderr, flush=True)
            return
        self.end_line()
        if phase is Phase.DOWNLOADING and tty:
            self.rewriting = key
            print(render_event(event), end="", file=sys.stderr, flush=True)
            return
        print(render_event(event), file=sys.stderr, flush=True)

    def end_line(self) -> None:
        if self.rewriting:
            print(file=sys.stderr)
            self.rewriting = ""
