"""``stackr images``: list the images of the engine's store."""

from __future__ import annotations

import argparse
import json


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]", help="only these")
    parser.add_argument("-q", "--quiet", action="store_true", help="only image ids")
    parser.add_argument("--no-trunc", action="store_true", help="full image ids")
    parser.add_argument(
        "--format", choices=("table", "json"), default="table", help="output format"
    )


def run(args: argparse.Namespace) -> int:
    from stackr.client import EngineClient
    from stackr.images.inspect import listing_from_api, render_table, summary, table_rows
    from stackr.images.reference import parse_reference

    wanted = parse_reference(args.reference) if args.reference else None  # before the engine
    records = [listing_from_api(i) for i in EngineClient(getattr(args, "host", None)).images()]
    if wanted is not None:
        explicit_tag = ":" in args.reference.rpartition("/")[2]
        records = [
            r
            for r in records
            if any(
                parse_reference(t).repository == wanted.repository
                and (not explicit_tag or parse_reference(t).tag == wanted.tag)
                for t in r.repo_tags
            )
        ]
    if args.quiet:
        seen: list[str] = []
        for record in records:
            image_id = record.id if args.no_trunc else record.short_id
            if image_id not in seen:
                seen.append(image_id)
        if seen:
            print("\n".join(seen))
    elif args.format == "json":
        print(json.dumps([summary(r) for r in records], indent=2))
    else:
        print(render_table(table_rows(records, no_trunc=args.no_trunc)))
    return 0
