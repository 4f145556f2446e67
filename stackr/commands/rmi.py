"""``stackr rmi IMAGE...``: untag and remove images (``docker rmi`` rules), in the engine."""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="name[:tag], digest or id")
    parser.add_argument(
        "-f", "--force", action="store_true", help="remove an image that has several names"
    )


def run(args: argparse.Namespace) -> int:
    from stackr.client import EngineClient
    from stackr.errors import StackrError

    client = EngineClient(getattr(args, "host", None))
    failed = 0
    for image in args.images:
        try:
            check_reference(image)
            answers = client.image_remove(image, force=args.force)
        except StackrError as error:  # go on with the others, as docker rmi does
            print(error.render(), file=sys.stderr)
            failed = error.exit_code
            continue
        for answer in answers:
            for kind, value in answer.items():  # {"Untagged": name} / {"Deleted": id}
                print(f"{kind}: {value}")
    return failed


def check_reference(text: str) -> None:
    """Refuse here what is neither a name nor an id (prefix): a usage error (exit 2)."""
    from stackr.images.errors import InvalidReferenceError
    from stackr.images.reference import is_id_prefix, parse_reference

    try:
        parse_reference(text)
    except InvalidReferenceError:
        if not is_id_prefix(text):
            raise
