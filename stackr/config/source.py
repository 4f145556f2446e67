"""YAML text → located nodes: every value and every mapping key keeps its file:line:col.

Compose reads stack files with go-yaml v3 (YAML 1.2 scalars), PyYAML resolves YAML 1.1
ones (``no`` → false, ``22:22`` → 1342). So only PyYAML's *parser* is used (libyaml
when available): its events are composed here, iteratively, into ``Node`` trees and
plain scalars are resolved as go-yaml v3 resolves them. Composing ourselves also gives
the limits that make hostile input fail fast: file size, nesting depth and the number
of nodes after alias expansion (a billion-laughs file stops at the cap).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from stackr.config.source_map import SourceMap
from stackr.errors import Diagnostic, KeyPath, Location, render_key_path

MAX_FILE_BYTES = 16 * 1024 * 1024
# A 50-service stack file has a few thousand nodes; 200k after alias expansion leaves
# ample room while stopping an alias bomb in well under a second.
MAX_NODES = 200_000
MAX_DEPTH = 200

RESET_TAG = "!reset"  # Compose merge tag: drop the value inherited from earlier files
OVERRIDE_TAG = "!override"  # Compose merge tag: replace instead of merging

_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_NULL_TAG = "tag:yaml.org,2002:null"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"

_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUES = frozenset({"true", "True", "TRUE"})
_FALSES = frozenset({"false", "False", "FALSE"})
_SPECIAL_FLOATS = {
    ".inf": math.inf, ".Inf": math.inf, ".INF": math.inf,
    "+.inf": math.inf, "+.Inf": math.inf, "+.INF": math.inf,
    "-.inf": -math.inf, "-.Inf": -math.inf, "-.INF": -math.inf,
    ".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan,
}  # fmt: skip
# go-yaml v3's yamlStyleFloat
_YAML_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_DOT_FLOAT = re.compile(r"^\.[0-9]+([eE][-+]?[0-9]+)?$")
_DIGITS = {2: "01", 8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}


@dataclass(frozen=True, slots=True)
class Node:
    """One YAML value with its position.

    ``value`` is a scalar, a ``list[Node]`` or a ``dict[str, Node]``; for a mapping,
    ``key_locations`` holds where each key is written. Nodes are never mutated once
    built, so an aliased subtree can be shared by every place that refers to it.
    """

    value: Any
    location: Location
    key_locations: Mapping[str, Location] = field(default_factory=dict)
    size: int = 1  # nodes in this subtree, aliases expanded
    tag: str | None = None  # RESET_TAG / OVERRIDE_TAG, else None
    tagged: bool = False  # a merge tag somewhere in this subtree (merge must strip it)

    @property
    def is_mapping(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_sequence(self) -> bool:
        return isinstance(self.value, list)


def with_entries(node: Node, entries: dict[str, Node],
                 key_locations: Mapping[str, Location] | None = None) -> Node:
    """The mapping ``node`` holding ``entries`` instead (its size counted again); its key
    positions are ``key_locations``, else its own for the keys it keeps."""
    if key_locations is None:
        key_locations = {k: v for k, v in node.key_locations.items() if k in entries}
    return replace(node, value=entries, key_locations=key_locations,
                   size=1 + sum(child.size for child in entries.values()))


def without_key(node: Node, key: str) -> Node:
    """The mapping ``node`` without ``key`` (the loader's resolved keys: extends, …)."""
    if not node.is_mapping or key not in node.value:
        return node
    return with_entries(node, {k: v for k, v in node.value.items() if k != key})


class _Abort(Exception):
    """Stops composing a file after a problem that makes the rest meaningless."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def go_parse_int(text: str) -> int | None:
    """Go's ``strconv.ParseInt(text, 0, 64)`` (then ``ParseUint``): sign, 0x/0o/0b
    prefixes, and a leading ``0`` meaning octal (go-yaml v3 keeps ``0755`` == 493)."""
    negative = text[:1] == "-"
    digits = text[1:] if text[:1] in "+-" else text
    base = 10
    prefix = digits[:2].lower()
    if prefix in ("0x", "0o", "0b"):
        base = {"0x": 16, "0o": 8, "0b": 2}[prefix]
        digits = digits[2:]
    elif len(digits) > 1 and digits[0] == "0":
        base = 8
        digits = digits[1:]
    if not digits or any(char not in _DIGITS[base] for char in digits):
        return None
    number = int(digits, base)
    if negative:
        number = -number
        return number if number >= -(2**63) else None
    if number < 2**63 or (number < 2**64 and text[:1] != "+"):
        return number
    return None


def resolve_plain_scalar(text: str) -> Any:
    """The value go-yaml v3 decodes an untagged plain scalar into (``interface{}``)."""
    if text in _NULLS:
        return None
    if text in _TRUES:
        return True
    if text in _FALSES:
        return False
    if text in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text]
    first = text[0]
    if first == ".":
        return float(text) if _DOT_FLOAT.match(text) else text
    if first in "+-0123456789":
        # Timestamps (2001-12-14) decode to strings into interface{}: nothing to do.
        plain = text.replace("_", "")
        number = go_parse_int(plain)
        if number is not None:
            return number
        if _YAML_FLOAT.match(plain):
            return float(plain)
    return text


def key_text(value: Any) -> str:
    """A mapping key as Compose sees it: every key becomes a string (``80:`` → "80")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        if math.isnan(value):
            return "NaN"
        return repr(value).removesuffix(".0") if value.is_integer() else repr(value)
    return str(value)


@dataclass
class _Frame:
    """A mapping or sequence being composed."""

    is_mapping: bool
    location: Location
    anchor: str | None
    tag: str | None
    items: list[Node] = field(default_factory=list)
    entries: dict[str, Node] = field(default_factory=dict)
    key_locations: dict[str, Location] = field(default_factory=dict)
    merged: dict[str, Node] = field(default_factory=dict)  # from `<<: *anchor`
    merged_key_locations: dict[str, Location] = field(default_factory=dict)
    pending_key: tuple[str, Location] | None = None
    pending_merge: Location | None = None
    size: int = 1
    tagged: bool = False


class _Composer:
    def __init__(self, display_name: str) -> None:
        self.file = display_name
        self.anchors: dict[str, Node] = {}
        self.open_anchors: set[str] = set()
        self.total_nodes = 0
        self.diagnostics: list[Diagnostic] = []
        self.stack: list[_Frame] = []
        self.documents: list[Node] = []

    def location(self, mark: Any) -> Location:
        return Location(self.file, mark.line + 1, mark.column + 1)

    def problem(self, location: Location, message: str, path: str = "") -> None:
        self.diagnostics.append(Diagnostic(location, path, message))

    def current_path(self) -> str:
        parts: list[str | int] = []
        for frame in self.stack:
            if frame.is_mapping:
                if frame.pending_key is not None:
                    parts.append(frame.pending_key[0])
                elif frame.pending_merge is not None:
                    parts.append("<<")
            else:
                parts.append(len(frame.items))
        return render_key_path(parts)

    def count(self, size: int, location: Location) -> None:
        self.total_nodes += size
        if self.total_nodes > MAX_NODES:
            raise _Abort(
                Diagnostic(
                    location,
                    "",
                    f"the document holds more than {MAX_NODES} values once aliases are "
                    "expanded (an alias bomb?); refusing to load it",
                )
            )

    # -- events ------------------------------------------------------------------
    def compose(self, parser: Any) -> None:
        from yaml import events

        handlers: dict[type, Any] = {
            events.ScalarEvent: self.on_scalar,
            events.AliasEvent: self.on_alias,
            events.MappingStartEvent: lambda event: self.on_start(event, True),
            events.SequenceStartEvent: lambda event: self.on_start(event, False),
            events.MappingEndEvent: lambda event: self.on_end(),
            events.SequenceEndEvent: lambda event: self.on_end(),
            events.DocumentStartEvent: lambda event: self.anchors.clear(),  # per document
        }
        while parser.check_event():
            event = parser.get_event()
            handler = handlers.get(type(event))
            if handler is not None:
                handler(event)

    def on_start(self, event: Any, is_mapping: bool) -> None:
        location = self.location(event.start_mark)
        if len(self.stack) >= MAX_DEPTH:
            raise _Abort(
                Diagnostic(location, self.current_path(), f"nesting deeper than {MAX_DEPTH} levels")
            )
        self.count(1, location)
        tag = self.collection_tag(event.tag, is_mapping, location)
        if event.anchor is not None:
            self.open_anchors.add(event.anchor)
        frame = _Frame(is_mapping, location, event.anchor, tag)
        frame.tagged = tag is not None
        self.stack.append(frame)

    def collection_tag(self, tag: str | None, is_mapping: bool, location: Location) -> str | None:
        if tag is None or tag == "!" or tag == (_MAP_TAG if is_mapping else _SEQ_TAG):
            return None
        if tag in (RESET_TAG, OVERRIDE_TAG):
            return tag
        self.problem(location, f"unsupported YAML tag {tag}", self.current_path())
        return None

    def on_end(self) -> None:
        frame = self.stack.pop()
        if frame.is_mapping:
            entries = dict(frame.merged)
            entries.update(frame.entries)
            key_locations = dict(frame.merged_key_locations)
            key_locations.update(frame.key_locations)
            node = Node(entries, frame.location, key_locations, frame.size, frame.tag, frame.tagged)
        else:
            node = Node(frame.items, frame.location, {}, frame.size, frame.tag, frame.tagged)
        if frame.anchor is not None:
            self.open_anchors.discard(frame.anchor)
            self.anchors[frame.anchor] = node
        self.attach(node)

    def on_alias(self, event: Any) -> None:
        location = self.location(event.start_mark)
        name = event.anchor
        if name in self.open_anchors:
            raise _Abort(
                Diagnostic(location, self.current_path(), f"alias *{name} refers to itself")
            )
        target = self.anchors.get(name)
        if target is None:
            self.problem(location, f"unknown alias *{name}", self.current_path())
            target = Node(None, location)
        self.count(target.size, location)
        # The aliased value stands where the alias is written; its inner values keep
        # the positions where the anchor defined them.
        node = Node(
            target.value, location, target.key_locations, target.size, target.tag, target.tagged
        )
        self.attach(node, alias_location=location)

    def on_scalar(self, event: Any) -> None:
        location = self.location(event.start_mark)
        self.count(1, location)
        value, tag = self.scalar_value(event, location)
        node = Node(value, location, {}, 1, tag, tag is not None)
        if event.anchor is not None:
            self.anchors[event.anchor] = node
        plain_merge = event.tag is None and event.implicit[0] and event.value == "<<"
        self.attach(node, is_merge_key=plain_merge)

    def scalar_value(self, event: Any, location: Location) -> tuple[Any, str | None]:
        text: str = event.value
        tag: str | None = event.tag
        if tag is None:
            return (resolve_plain_scalar(text) if event.implicit[0] else text), None
        if tag in ("!", _STR_TAG):
            return text, None
        if tag in (RESET_TAG, OVERRIDE_TAG):
            return (resolve_plain_scalar(text) if event.style in ("", None) else text), tag
        expected = {_INT_TAG: int, _FLOAT_TAG: float, _BOOL_TAG: bool, _NULL_TAG: type(None)}
        wanted = expected.get(tag)
        if wanted is None:
            self.problem(location, f"unsupported YAML tag {tag}", self.current_path())
            return text, None
        value = resolve_plain_scalar(text)
        if wanted is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
            self.problem(
                location, f"cannot read {text!r} as {tag.rsplit(':', 1)[-1]}", self.current_path()
            )
            return text, None
        return value, None

    def attach(self, node: Node, *, alias_location: Location | None = None,
               is_merge_key: bool = False) -> None:  # fmt: skip
        if not self.stack:
            self.documents.append(node)
            return
        frame = self.stack[-1]
        frame.size += node.size
        frame.tagged = frame.tagged or node.tagged
        if not frame.is_mapping:
            frame.items.append(node)
            return
        if frame.pending_merge is not None:
            self.apply_merge(frame, node, frame.pending_merge)
            frame.pending_merge = None
            return
        if frame.pending_key is None:
            if is_merge_key:
                frame.pending_merge = node.location
                return
            key_location = alias_location or node.location
            if node.is_mapping or node.is_sequence:
                self.problem(key_location, "a mapping key must be a scalar", self.current_path())
                frame.pending_key = (f"<invalid key at line {key_location.line}>", key_location)
                return
            frame.pending_key = (key_text(node.value), key_location)
            return
        key, key_location = frame.pending_key
        frame.pending_key = None
        if key in frame.entries:
            first = frame.key_locations[key]
            path = render_key_path([*self.path_of_frames(), key])
            self.problem(key_location, f"duplicate key {key} (first at line {first.line})", path)
            return
        frame.entries[key] = node
        frame.key_locations[key] = key_location

    def path_of_frames(self) -> list[str | int]:
        parts: list[str | int] = []
        for frame in self.stack[:-1]:
            if frame.is_mapping and frame.pending_key is not None:
                parts.append(frame.pending_key[0])
            elif not frame.is_mapping:
                parts.append(len(frame.items))
        return parts

    def apply_merge(self, frame: _Frame, node: Node, location: Location) -> None:
        """``<<: *base`` / ``<<: [*a, *b]``: keys not written explicitly come from the
        merged mappings, earlier ones first (YAML merge key semantics)."""
        sources = node.value if node.is_sequence else [node]
        for source in sources:
            if not source.is_mapping:
                self.problem(
                    location,
                    "<< (merge key) needs a mapping or a list of mappings",
                    self.current_path(),
                )
                return
            for key, value in source.value.items():
                if key not in frame.merged:
                    frame.merged[key] = value
                    frame.merged_key_locations[key] = source.key_locations.get(key, location)


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with a BOM, as go-yaml accepts."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    return data.decode("utf-8-sig")


def parse_text(text: str, display_name: str) -> tuple[list[Node], list[Diagnostic]]:
    """Compose every document of ``text``; returns the documents and the problems."""
    composer = _Composer(display_name)
    parser = _make_parser(text)
    try:
        composer.compose(parser)
    except _Abort as abort:
        return [], [*composer.diagnostics, abort.diagnostic]
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        location = composer.location(mark) if mark is not None else Location(display_name, 1, 1)
        message = error.problem or "invalid YAML"
        if error.context:
            context = error.context
            started = error.context_mark
            if started is not None and mark is not None and not _same_place(started, mark):
                context = (
                    f"{context} started at line {started.line + 1}, column {started.column + 1}"
                )
            message = f"{message} ({context})"
        hint = None
        if mark is not None and _char_at(text, mark.line, mark.column) == "\t":
            hint = "YAML does not allow tabs for indentation"
        return [], [
            *composer.diagnostics,
            Diagnostic(location, "", f"YAML syntax error: {message}", hint),
        ]
    except yaml.YAMLError as error:
        location = Location(display_name, 1, 1)
        return [], [*composer.diagnostics, Diagnostic(location, "", f"YAML error: {error}")]
    finally:
        dispose = getattr(parser, "dispose", None)
        if dispose is not None:
            dispose()
    return composer.documents, composer.diagnostics


def _same_place(first: Any, second: Any) -> bool:
    return bool(first.line == second.line and first.column == second.column)


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.split("\n", line + 1)
    return lines[line][column : column + 1] if line < len(lines) else ""


def _make_parser(text: str) -> Any:
    try:
        from yaml._yaml import CParser  # type: ignore[import-not-found, unused-ignore]
    except ImportError:  # pragma: no cover - libyaml missing: the pure-Python parser
        return yaml.SafeLoader(text)
    return CParser(text)


def read_stack_file(path: Path, display_name: str) -> tuple[list[Node], list[Diagnostic]]:
    """Read and compose one stack file; every failure is a diagnostic, never an OSError."""
    start = Location(display_name, 1, 1)
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return [], [Diagnostic(None, "", f"stack file {display_name} not found")]
    except IsADirectoryError:
        return [], [Diagnostic(None, "", f"stack file {display_name} is a directory")]
    except OSError as error:
        return [], [
            Diagnostic(None, "", f"cannot read stack file {display_name}: {error.strerror}")
        ]
    if len(data) > MAX_FILE_BYTES:
        limit = MAX_FILE_BYTES // (1024 * 1024)
        return [], [
            Diagnostic(start, "", f"the file is larger than {limit} MiB; refusing to load it")
        ]
    try:
        text = decode_text(data)
    except UnicodeDecodeError as error:
        message = f"the file is not valid UTF-8 (byte {error.start})"
        return [], [Diagnostic(start, "", message)]
    documents, diagnostics = parse_text(text, display_name)
    if not diagnostics and all(doc.value is None for doc in documents):
        return [], [Diagnostic(start, "", "the file is empty")]
    top_level: list[Node] = []
    for document in documents:
        if document.value is None and len(documents) > 1:
            continue  # an empty document between `---` lines adds nothing
        if not document.is_mapping:
            kind = "a list" if document.is_sequence else f"{_describe_scalar(document.value)}"
            diagnostics.append(
                Diagnostic(document.location, "", f"the top level must be a mapping, found {kind}")
            )
            continue
        top_level.append(document)
    return top_level, diagnostics


def _describe_scalar(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"the {type(value).__name__} {value!r}"


def to_plain(node: Node, path: KeyPath = (), source_map: SourceMap | None = None) -> Any:
    """The plain data of ``node``, recording every value's and key's position."""
    if source_map is not None:
        source_map.set_value(path, node.location)
    if node.is_mapping:
        data: dict[str, Any] = {}
        for key, child in node.value.items():
            child_path = (*path, key)
            if source_map is not None:
                source_map.set_key(child_path, node.key_locations.get(key, child.location))
            data[key] = to_plain(child, child_path, source_map)
        return data
    if node.is_sequence:
        return [
            to_plain(child, (*path, index), source_map) for index, child in enumerate(node.value)
        ]
    return node.value
