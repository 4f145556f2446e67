"""Dotenv files (``.env``, ``--env-file``, a service's ``env_file``) as Compose reads them.

Syntax (compose-go ``dotenv``): ``KEY=value`` or ``KEY: value``, optional ``export``
prefix; ``#`` starts a comment line, and ends an unquoted value when preceded by a
space; single quotes are literal; double quotes may span lines, understand ``\\n``,
``\\t``, ``\\"``… and are interpolated, like unquoted values (``${VAR}`` from the
lookup first, then from entries earlier in the file); a bare ``KEY`` takes the
variable from the lookup when it is set there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from stackr.config.interpolate import Substitution, TemplateError
from stackr.config.source import Node
from stackr.errors import Diagnostic, Location, render_key_path

Lookup = Callable[[str], str | None]

_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_KEY_PUNCTUATION = frozenset("_.-[]")
MAX_ENV_FILE_BYTES = 4 * 1024 * 1024


class DotenvError(Exception):
    """A dotenv file cannot be parsed; ``line`` counts from 1."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


class _LayeredEnvironment(Mapping[str, str]):
    """The lookup first, then the entries parsed so far (compose-go's order)."""

    def __init__(self, lookup: Lookup, parsed: Mapping[str, str]) -> None:
        self._lookup = lookup
        self._parsed = parsed

    def __getitem__(self, name: str) -> str:
        value = self._lookup(name)
        if value is not None:
            return value
        return self._parsed[name]

    def __iter__(self) -> Any:
        return iter(self._parsed)

    def __len__(self) -> int:
        return len(self._parsed)


def _no_lookup(name: str) -> str | None:
    return None


def parse_dotenv(
    text: str, lookup: Lookup = _no_lookup, *, interpolate: bool = True
) -> dict[str, str]:
    """Parse dotenv ``text``; raises ``DotenvError`` with the line of the problem."""
    values: dict[str, str] = {}
    environment = _LayeredEnvironment(lookup, values)
    text = text.replace("\r\n", "\n")
    position = 0
    line = 1
    length = len(text)
    while True:
        # Skip blank space and comment lines to the next statement.
        while position < length:
            char = text[position]
            if char == "\n":
                line += 1
                position += 1
            elif char.isspace():
                position += 1
            elif char == "#":
                newline = text.find("\n", position)
                position = length if newline < 0 else newline
            else:
                break
        if position >= length:
            return values
        position, line = _parse_statement(
            text, position, line, values, lookup, environment, interpolate
        )


def _parse_statement(
    text: str,
    position: int,
    line: int,
    values: dict[str, str],
    lookup: Lookup,
    environment: Mapping[str, str],
    interpolate: bool,
) -> tuple[int, int]:
    length = len(text)
    if (
        text.startswith("export", position)
        and position + 6 < length
        and text[position + 6] in " \t"
    ):
        position += 6
        while position < length and text[position] in " \t":
            position += 1
    start = position
    separator = ""
    while position < length:
        char = text[position]
        if char in "=:\n":
            separator = char
            break
        if not (char.isalnum() or char in _KEY_PUNCTUATION or char in " \t"):
            first_line = text[start:].split("\n", 1)[0]
            raise DotenvError(
                line, f"unexpected character {char!r} in variable name {first_line!r}"
            )
        position += 1
    key = text[start:position].strip()
    if " " in key or "\t" in key:
        raise DotenvError(line, f"variable name {key!r} contains a space")
    if not key:
        raise DotenvError(line, "a line without a variable name")
    if separator in ("\n", ""):
        # A bare KEY passes the variable through from the environment, when set.
        inherited = lookup(key)
        if inherited is not None:
            values[key] = inherited
        return position, line
    position += 1
    while position < length and text[position] in " \t":
        position += 1
    quote = text[position] if position < length and text[position] in "'\"" else ""
    if not quote:
        newline = text.find("\n", position)
        end = length if newline < 0 else newline
        raw = text[position:end].split(" #", 1)[0].rstrip()
        values[key] = _expand(raw, environment, line) if interpolate else raw
        return end, line
    chars: list[str] = []
    escaped = False
    start_line = line
    index = position + 1
    while index < length:
        char = text[index]
        if char == "\n":
            line += 1
        if char != quote:
            if char == "\\" and not escaped:
                escaped = True
            else:
                if escaped:
                    chars.append("\\")
                    escaped = False
                chars.append(char)
            index += 1
            continue
        if escaped:  # \" inside "…" or \' inside '…'
            escaped = False
            chars.append(char)
            index += 1
            continue
        value = "".join(chars)
        if quote == '"':
            value = _expand_escapes(value)
            if interpolate:
                value = _expand(value, environment, start_line)
        values[key] = value
        return index + 1, line
    unterminated = text[position:].split("\n", 1)[0]
    raise DotenvError(start_line, f"unterminated quoted value {unterminated}")


def _expand_escapes(value: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value):
            following = value[index + 1]
            if following == "$":
                out.append("$$")  # stays a literal $ through interpolation
            elif following in _ESCAPES:
                out.append(_ESCAPES[following])
            elif following in "\\\"'":
                out.append(following)
            else:
                out.append(char + following)
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def _expand(value: str, environment: Mapping[str, str], line: int) -> str:
    try:
        return Substitution(environment).expand(value)
    except TemplateError as error:
        raise DotenvError(line, error.message) from None


def read_dotenv(
    path: Path, display_name: str, lookup: Lookup = _no_lookup, *, interpolate: bool = True
) -> tuple[dict[str, str], Diagnostic | None]:
    """Read a dotenv file; a problem (unreadable, bad syntax) comes back as a diagnostic."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_ENV_FILE_BYTES + 1)
    except FileNotFoundError:
        return {}, Diagnostic(None, "", f"env file {display_name} not found")
    except OSError as error:
        return {}, Diagnostic(None, "", f"cannot read env file {display_name}: {error.strerror}")
    if len(data) > MAX_ENV_FILE_BYTES:
        return {}, Diagnostic(Location(display_name, 1, 1), "", "the env file is larger than 4 MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        message = f"the env file is not valid UTF-8 (byte {error.start})"
        return {}, Diagnostic(Location(display_name, 1, 1), "", message)
    try:
        return parse_dotenv(text, lookup, interpolate=interpolate), None
    except DotenvError as error:
        return {}, Diagnostic(Location(display_name, error.line, 1), "", error.message)


def read_raw_env_file(path: Path, display_name: str) -> tuple[dict[str, str], Diagnostic | None]:
    """``format: raw``: each ``KEY=VALUE`` line taken literally (no quotes, no ``$``)."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return {}, Diagnostic(None, "", f"env file {display_name} not found")
    except (OSError, UnicodeDecodeError) as error:
        return {}, Diagnostic(None, "", f"cannot read env file {display_name}: {error}")
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value
    return values, None


# -- env_file in services ------------------------------------------------------------


def resolve_service_env_files(
    services: Node,
    project_dir: Path,
    environment: Mapping[str, str],
    display: Callable[[Path], str],
) -> tuple[Node, list[Diagnostic]]:
    """Normalise each service's ``env_file`` to ``[{path, required}]`` and
    ``environment`` to a mapping, with the files' variables merged under it."""
    diagnostics: list[Diagnostic] = []
    entries: dict[str, Node] = {}
    for service_name, service in services.value.items():
        if service.is_mapping:
            path = ("services", service_name)
            service = _resolve_service(
                service, path, project_dir, environment, display, diagnostics
            )
        entries[service_name] = service
    return replace(services, value=entries), diagnostics


def _resolve_service(
    service: Node,
    path: tuple[str, ...],
    project_dir: Path,
    environment: Mapping[str, str],
    display: Callable[[Path], str],
    diagnostics: list[Diagnostic],
) -> Node:
    env_file_node = service.value.get("env_file")
    environment_node = service.value.get("environment")
    if env_file_node is None and environment_node is None:
        return service
    if not _is_list_or_mapping(environment_node) or not _is_path_or_list(env_file_node):
        return service  # a wrong shape is the model's to report, once
    file_values: dict[str, Node] = {}
    key_locations: dict[str, Location] = {}
    normalised_files: Node | None = None

    def resolve(name: str) -> str | None:
        # Variables of earlier env files first, then the project environment.
        found = file_values.get(name)
        if found is not None and isinstance(found.value, str):
            return found.value
        return environment.get(name)

    if env_file_node is not None:
        specs = _env_file_specs(env_file_node, (*path, "env_file"), diagnostics)
        items: list[Node] = []
        for spec in specs:
            absolute = (project_dir / spec.path).resolve() if spec.path else project_dir
            items.append(_env_file_entry(spec, absolute))
            if not spec.path:
                continue

            if not absolute.exists() and not spec.required:
                continue  # `required: false`: a missing file is skipped silently
            if spec.format == "raw":
                values, problem = read_raw_env_file(absolute, display(absolute))
            else:
                values, problem = read_dotenv(absolute, display(absolute), resolve)
            if problem is not None:
                where = render_key_path(spec.key_path)
                if problem.location is None:
                    diagnostics.append(Diagnostic(spec.node.location, where, problem.message))
                else:
                    diagnostics.append(replace(problem, path=where))
                continue
            for key, text in values.items():
                file_values[key] = Node(text, spec.node.location)
                key_locations[key] = spec.node.location
        normalised_files = Node(items, env_file_node.location, {}, len(items) + 1)
    merged = dict(file_values)
    env_entries, env_key_locations = _environment_entries(
        environment_node, (*path, "environment"), environment, diagnostics
    )
    for key, value in env_entries.items():
        if value.value is None and key in merged:
            continue  # `KEY` unset in the shell keeps the env_file's value
        merged[key] = value
        key_locations[key] = env_key_locations[key]
    new_service = dict(service.value)
    new_keys = dict(service.key_locations)
    if normalised_files is not None:
        new_service["env_file"] = normalised_files
    if env_file_node is not None or environment_node is not None:
        location = environment_node.location if environment_node is not None else service.location
        new_service["environment"] = Node(merged, location, key_locations, len(merged) + 1)
        new_keys.setdefault("environment", location)
    return replace(service, value=new_service, key_locations=new_keys)


def _is_list_or_mapping(node: Node | None) -> bool:
    return node is None or node.value is None or node.is_mapping or node.is_sequence


def _is_path_or_list(node: Node | None) -> bool:
    return node is None or isinstance(node.value, str) or node.is_sequence


class _EnvFileSpec:
    def __init__(self, path: str, required: bool, format: str | None, node: Node,
                 key_path: tuple[str | int, ...]) -> None:  # fmt: skip
        self.path = path
        self.required = required
        self.format = format
        self.node = node
        self.key_path = key_path


def _env_file_specs(
    node: Node, path: tuple[str | int, ...], diagnostics: list[Diagnostic]
) -> list[_EnvFileSpec]:
    items: list[tuple[Node, tuple[str | int, ...]]]
    if isinstance(node.value, str):
        items = [(node, path)]
    elif node.is_sequence:
        items = [(item, (*path, index)) for index, item in enumerate(node.value)]
    else:
        where = render_key_path(path)
        diagnostics.append(Diagnostic(node.location, where, "env_file must be a path or a list"))
        return []
    specs: list[_EnvFileSpec] = []
    for item, item_path in items:
        where = render_key_path(item_path)
        if isinstance(item.value, str):
            specs.append(_EnvFileSpec(item.value, True, None, item, item_path))
            continue
        if not item.is_mapping:
            message = "an env_file entry must be a path or a mapping with a path"
            diagnostics.append(Diagnostic(item.location, where, message))
            continue
        path_node = item.value.get("path")
        if path_node is None or not isinstance(path_node.value, str):
            location = path_node.location if path_node is not None else item.location
            diagnostics.append(
                Diagnostic(location, where, "env_file entry needs a path (a string)")
            )
            continue
        required_node = item.value.get("required")
        required = True
        if required_node is not None:
            if not isinstance(required_node.value, bool):
                message = f"required must be true or false, not {describe(required_node)}"
                diagnostics.append(Diagnostic(required_node.location, f"{where}.required", message))
                continue
            required = required_node.value
        format_node = item.value.get("format")
        file_format = None
        if format_node is not None:
            if format_node.value not in ("raw",):
                message = f"unknown env_file format {format_node.value!r} (known: raw)"
                diagnostics.append(Diagnostic(format_node.location, f"{where}.format", message))
                continue
            file_format = "raw"
        unknown = sorted(set(item.value) - {"path", "required", "format"})
        for key in unknown:
            location = item.key_locations.get(key, item.location)
            diagnostics.append(
                Diagnostic(location, f"{where}.{key}", "unknown key in env_file entry")
            )
        specs.append(_EnvFileSpec(path_node.value, required, file_format, item, item_path))
    return specs


def _env_file_entry(spec: _EnvFileSpec, absolute: Path) -> Node:
    location = spec.node.location
    entry: dict[str, Node] = {
        "path": Node(str(absolute), location),
        "required": Node(spec.required, location),
    }
    if spec.format is not None:
        entry["format"] = Node(spec.format, location)
    return Node(entry, location, dict.fromkeys(entry, location), len(entry) + 1)


def _environment_entries(
    node: Node | None,
    path: tuple[str, ...],
    environment: Mapping[str, str],
    diagnostics: list[Diagnostic],
) -> tuple[dict[str, Node], dict[str, Location]]:
    """``environment`` as a mapping; ``KEY`` without a value is taken from the
    project environment when set there, else stays null (unset in the container)."""
    if node is None:
        return {}, {}
    pairs = environment_pairs(node, path, diagnostics)
    entries: dict[str, Node] = {}
    key_locations: dict[str, Location] = {}
    for key, (value, key_location) in pairs.items():
        if value.value is None and key in environment:
            value = Node(environment[key], value.location)
        entries[key] = value
        key_locations[key] = key_location
    return entries, key_locations


def describe(node: Node) -> str:
    """A value as a message names it: ``'text'``, ``3``, ``a list``, ``a mapping``."""
    if node.is_mapping:
        return "a mapping"
    if node.is_sequence:
        return "a list"
    if node.value is None:
        return "null"
    if isinstance(node.value, bool):
        return "true" if node.value else "false"
    return repr(node.value)


def environment_pairs(
    node: Node, path: tuple[str | int, ...], diagnostics: list[Diagnostic]
) -> dict[str, tuple[Node, Location]]:
    """A list (``KEY=VALUE`` / ``KEY``) or mapping of variables → {key: (value, key position)}."""
    pairs: dict[str, tuple[Node, Location]] = {}
    where = render_key_path(path)
    if node.is_mapping:
        for key, value in node.value.items():
            pairs[key] = (value, node.key_locations.get(key, value.location))
        return pairs
    if node.is_sequence:
        for index, item in enumerate(node.value):
            if not isinstance(item.value, str):
                message = f"an entry must be a KEY=VALUE string, not {describe(item)}"
                diagnostics.append(Diagnostic(item.location, f"{where}[{index}]", message))
                continue
            key, has_value, value = item.value.partition("=")
            pairs[key] = (Node(value if has_value else None, item.location), item.location)
        return pairs
    if node.value is None:
        return pairs
    diagnostics.append(Diagnostic(node.location, where, "must be a mapping or a list of KEY=VALUE"))
    return pairs
