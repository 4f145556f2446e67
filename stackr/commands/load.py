"""``stackr load``: load images from a ``docker save`` or OCI archive (file or stdin)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-i",
        "--input",
        metavar="FILE",
        help="archive (tar, tar.gz) or OCI layout directory; default: standard input",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")


def run(args: argparse.Namespace) -> int:
    from stackr.errors import UsageError
    from stackr.images.inspect import familiar
    from stackr.images.store import ImageStore

    if args.input:
        source = Path(args.input)
        records = ImageStore().load_archive(source)
    else:
        if sys.stdin.isatty():
            raise UsageError("requested load from stdin, but stdin is a terminal (use -i FILE)")
        records = ImageStore().load_archive(sys.stdin.buffer)
    if not args.quiet:
        for record in records:
            for tag in record.repo_tags:
                print(f"Loaded image: {familiar(tag)}")
            if not record.repo_tags:
                print(f"Loaded image ID: {record.id}")
    return 0
