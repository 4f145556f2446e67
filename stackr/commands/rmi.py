"""``stackr rmi IMAGE...``: untag and remove images (``docker rmi`` rules)."""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="name[:tag], digest or id")
    parser.add_argument(
        "-f", "--force", action="store_true", help="remove an image that has several names"
    )


def run(args: argparse.Namespace) -> int:
    from stackr.errors import StackrError
    from stackr.images.store import ImageStore

    store = ImageStore()
    failed = 0
    for image in args.images:
        try:
            lines = store.remove(image, force=args.force)
        except StackrError as error:  # go on with the others, as docker rmi does
            print(error.render(), file=sys.stderr)
            failed = error.exit_code
            continue
        for line in lines:
            print(line)
    return failed
