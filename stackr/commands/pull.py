"""``stackr pull IMAGE...``: pull images from their registries, with per-layer progress."""

from __future__ import annotations

import argparse
import sys
import threading


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="image references to pull")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    from stackr.errors import NotImplementedYetError
    from stackr.images.progress import Phase, ProgressEvent, render_event
    from stackr.images.reference import parse_reference
    from stackr.images.store import ImageStore

    if not args.images:
        raise NotImplementedYetError(
            "stackr pull without IMAGE pulls the stack's images; that comes with `up` (issue #7)"
        )
    store = ImageStore()
    lock = threading.Lock()
    last_phase: dict[str, Phase] = {}

    def show(event: ProgressEvent) -> None:
        key = event.layer or event.detail
        with lock:  # events come from download threads
            if event.phase is Phase.DOWNLOADING and last_phase.get(key) is Phase.DOWNLOADING:
                if not sys.stderr.isatty():
                    return
                print(f"\r{render_event(event)}", end="", file=sys.stderr, flush=True)
                return
            if last_phase.get(key) is Phase.DOWNLOADING and sys.stderr.isatty():
                print(file=sys.stderr)
            last_phase[key] = event.phase
            print(render_event(event), file=sys.stderr, flush=True)

    for image in args.images:
        reference = parse_reference(image)
        record = store.pull(image, None if args.quiet else show)
        if not args.quiet:
            for digest in record.repo_digests:
                if digest.startswith(reference.repository + "@"):
                    print(f"Digest: {digest.rpartition('@')[2]}", file=sys.stderr)
        print(reference)
    return 0
