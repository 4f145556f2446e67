"""``stackr image inspect|ls|rm|prune|pull|load|tag``: manage images."""

from __future__ import annotations

import argparse
import json
from types import ModuleType


def _delegate(name: str) -> ModuleType:
    import importlib

    return importlib.import_module(f"stackr.commands.{name}")


def configure(parser: argparse.ArgumentParser) -> None:
    subcommands = parser.add_subparsers(dest="image_command", metavar="SUBCOMMAND", required=True)
    inspect = subcommands.add_parser("inspect", help="show images as JSON")
    inspect.add_argument("images", nargs="+", metavar="IMAGE")
    prune = subcommands.add_parser("prune", help="remove untagged images and unused layers")
    prune.add_argument(
        "--force", action="store_true", help="do not ask (accepted; -f is the stack file)"
    )
    tag = subcommands.add_parser("tag", help="give an image another name")
    tag.add_argument("source", metavar="SOURCE_IMAGE")
    tag.add_argument("target", metavar="TARGET_IMAGE")
    import_ = subcommands.add_parser(
        "import", help="make a one-layer image from a root directory or tar (offline base images)"
    )
    import_.add_argument("source", metavar="ROOTFS", help="directory or tar of a root filesystem")
    import_.add_argument("name", metavar="REPOSITORY:TAG")
    import_.add_argument(
        "--cmd", nargs=argparse.REMAINDER, default=None, help="the image's Cmd (rest of the line)"
    )
    for name, verb in (("ls", "images"), ("rm", "rmi"), ("pull", "pull"), ("load", "load")):
        sub = subcommands.add_parser(name, help=f"same as `stackr {verb}`")
        _delegate(verb).configure(sub)
        sub.set_defaults(delegate=verb)


def run(args: argparse.Namespace) -> int:
    from stackr.client import EngineClient

    if getattr(args, "delegate", None):
        exit_code: int = _delegate(args.delegate).run(args)
        return exit_code
    if args.image_command == "import":
        return _import(args)
    client = EngineClient(getattr(args, "host", None))
    if args.image_command == "inspect":
        documents = [client.image_inspect(image) for image in args.images]
        print(json.dumps(documents, indent=2))
    elif args.image_command == "prune":
        removed = [f"{kind}: {value}" for answer in client.images_prune()
                   for kind, value in answer.items()]
        if removed:
            print("Deleted Images:")
            print("\n".join(removed))
        print(f"Total removed: {sum(1 for line in removed if line.startswith('Deleted'))}")
    elif args.image_command == "tag":
        from stackr.images.errors import InvalidReferenceError
        from stackr.images.reference import parse_reference

        target = parse_reference(args.target)
        if not target.tag:
            raise InvalidReferenceError(f"{args.target!r}: a tag cannot carry a digest")
        client.image_tag(args.source, target.repository, target.tag)
    return 0


def _import(args: argparse.Namespace) -> int:
    """The root file system goes to the engine as a tar (a directory is packed first)."""
    from pathlib import Path

    from stackr.client import EngineClient, EngineError
    from stackr.commands.load import packed_directory
    from stackr.images.errors import ArchiveError, InvalidReferenceError
    from stackr.images.reference import parse_reference

    name = parse_reference(args.name)
    if not name.tag:
        raise InvalidReferenceError(f"{args.name!r}: an imported image needs a tag, not a digest")
    source = Path(args.source)
    if not source.exists():
        raise ArchiveError(f"{source}: no such file or directory")
    changes = [f"CMD {json.dumps(args.cmd)}"] if args.cmd else []
    client = EngineClient(getattr(args, "host", None))
    with packed_directory(source) if source.is_dir() else open(source, "rb") as rootfs:
        try:
            image_id = client.image_import(
                rootfs, name.repository, name.tag, changes=changes, message=source.name
            )
        except EngineError as error:
            if error.status != 400:
                raise
            raise ArchiveError(f"{source}: {error.message}") from None
    print(image_id)
    return 0
