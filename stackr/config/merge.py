"""Several stack files merged into one, by the Compose specification's merge rules.

Mappings merge recursively, a later file's scalar replaces an earlier one, and a null
leaves the earlier value. Sequences append, except where Compose says otherwise
(compose-go ``override/merge.go`` and ``override/uncity.go``):

* key/value settings (``environment``, ``labels``, ``build.args``, ``sysctls``…) merge
  by key, a list ``KEY=VALUE`` and a mapping being the same thing;
* ``ports``, ``volumes`` (by target), ``expose``, ``dns``, ``cap_add``, ``secrets``…
  append and then keep one entry per key, the later one in the earlier one's place;
* ``command``, ``entrypoint`` and ``healthcheck.test`` are replaced whole;
* ``depends_on`` and a service's ``networks`` (list or mapping) merge by name;
* ``build: path`` is ``build: {context: path}``; ``logging`` with another driver
  replaces the whole block;
* the ``!override`` tag replaces without merging, ``!reset`` removes the value.

Each value keeps the position of the file that supplied it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from stackr.config.source import OVERRIDE_TAG, RESET_TAG, Node
from stackr.errors import Location

Path = tuple[str | int, ...]
Pattern = tuple[str, ...]


def _pattern(text: str) -> Pattern:
    return tuple(text.split("."))


def _matches(path: Path, pattern: Pattern) -> bool:
    if len(path) != len(pattern):
        return False
    return all(part == "*" or part == step for step, part in zip(path, pattern, strict=True))


_KEY_VALUE = [
    _pattern(text)
    for text in (
        "services.*.environment",
        "services.*.labels",
        "services.*.annotations",
        "services.*.sysctls",
        "services.*.build.args",
        "services.*.build.labels",
        "services.*.build.additional_contexts",
        "services.*.deploy.labels",
        "services.*.extra_hosts",
        "services.*.build.extra_hosts",
        "networks.*.labels",
        "volumes.*.labels",
        "secrets.*.labels",
        "configs.*.labels",
    )
]
_REPLACED = [
    _pattern(text)
    for text in ("services.*.command", "services.*.entrypoint", "services.*.healthcheck.test")
]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _key_value_key(item: Node) -> str | None:
    """``KEY=VALUE`` → KEY (``host:ip`` too for extra_hosts, handled by the caller)."""
    if isinstance(item.value, str):
        return item.value.partition("=")[0]
    if isinstance(item.value, int | float):
        return str(item.value)
    return None


def _extra_host_key(item: Node) -> str | None:
    if not isinstance(item.value, str):
        return None
    if "=" in item.value:
        return item.value.partition("=")[0]
    return item.value.partition(":")[0]


def _scalar_key(item: Node) -> str | None:
    if item.is_mapping or item.is_sequence:
        return None
    return _text(item.value)


def _port_key(item: Node) -> str | None:
    if item.is_mapping:
        fields = {name: node.value for name, node in item.value.items()}
        return (
            f"{_text(fields.get('host_ip')) or '0.0.0.0'}:{_text(fields.get('published'))}:"
            f"{_text(fields.get('target'))}/{_text(fields.get('protocol')) or 'tcp'}"
        )
    return _scalar_key(item)


def _volume_key(item: Node) -> str | None:
    if item.is_mapping:
        target = item.value.get("target")
        return _text(target.value) if target is not None else None
    if isinstance(item.value, str):
        parts = item.value.split(":")
        return parts[1] if len(parts) > 1 else parts[0]
    return None


def _mount_key(default_dir: str) -> Callable[[Node], str | None]:
    def key(item: Node) -> str | None:
        if isinstance(item.value, str):
            return f"{default_dir}/{item.value}"
        if item.is_mapping:
            target = item.value.get("target")
            if target is not None and isinstance(target.value, str):
                text = target.value
                return text if text.startswith("/") else f"{default_dir}/{text}"
            source = item.value.get("source")
            if source is not None:
                return f"{default_dir}/{_text(source.value)}"
        return None

    return key


def _env_file_key(item: Node) -> str | None:
    if isinstance(item.value, str):
        return item.value
    if item.is_mapping and "path" in item.value:
        return _text(item.value["path"].value)
    return None


_UNIQUE: list[tuple[Pattern, Callable[[Node], str | None]]] = [
    (_pattern("services.*.ports"), _port_key),
    (_pattern("services.*.volumes"), _volume_key),
    (_pattern("services.*.devices"), _volume_key),
    (_pattern("services.*.secrets"), _mount_key("/run/secrets")),
    (_pattern("services.*.configs"), _mount_key("")),
    (_pattern("services.*.env_file"), _env_file_key),
    (_pattern("services.*.links"), _key_value_key),
    *(
        (_pattern(text), _scalar_key)
        for text in (
            "services.*.expose",
            "services.*.dns",
            "services.*.dns_opt",
            "services.*.dns_search",
            "services.*.cap_add",
            "services.*.cap_drop",
            "services.*.profiles",
            "services.*.tmpfs",
            "services.*.group_add",
            "services.*.security_opt",
            "services.*.networks.*.aliases",
            "services.*.networks.*.link_local_ips",
            "services.*.build.tags",
            "services.*.build.platforms",
            "services.*.build.cache_from",
            "services.*.build.cache_to",
        )
    ),
]


def strip_resets(node: Node) -> Node:
    """The first file has nothing to reset: ``!reset`` values simply disappear."""
    if not node.tagged:
        return node
    if node.is_mapping:
        entries = {k: strip_resets(v) for k, v in node.value.items() if v.tag != RESET_TAG}
        keys = {k: loc for k, loc in node.key_locations.items() if k in entries}
        return replace(node, value=entries, key_locations=keys, tag=None)
    if node.is_sequence:
        items = [strip_resets(item) for item in node.value if item.tag != RESET_TAG]
        return replace(node, value=items, tag=None)
    return replace(node, tag=None) if node.tag is not None else node


def merge_files(documents: list[Node]) -> Node:
    """Merge the top-level mappings of the stack files, in order."""
    merged = strip_resets(documents[0])
    for document in documents[1:]:
        merged = merge_nodes(merged, document, ())
    return merged


def merge_nodes(base: Node, override: Node, path: Path) -> Node:
    if override.tag == OVERRIDE_TAG:
        return strip_resets(override)
    if override.value is None:
        return base  # a null in a later file leaves the earlier value
    if any(_matches(path, pattern) for pattern in _REPLACED):
        return strip_resets(override)
    if any(_matches(path, pattern) for pattern in _KEY_VALUE):
        return _merge_key_values(base, override, path)
    for pattern, index in _UNIQUE:
        if _matches(path, pattern) and base.is_sequence and override.is_sequence:
            return _merge_unique(base, override, index)
    if _matches(path, ("services", "*", "depends_on")):
        base, override = _depends_on_mapping(base), _depends_on_mapping(override)
    elif _matches(path, ("services", "*", "networks")):
        base, override = _names_mapping(base), _names_mapping(override)
    elif _matches(path, ("services", "*", "build")):
        base, override = _build_mapping(base), _build_mapping(override)
    elif _matches(path, ("services", "*", "logging")) and _drivers_differ(base, override):
        return strip_resets(override)
    elif (
        _matches(path, ("networks", "*", "ipam", "config"))
        and base.is_sequence
        and override.is_sequence
    ):
        return _merge_unique(base, override, _subnet_key)
    if base.is_mapping and override.is_mapping:
        return _merge_mappings(base, override, path)
    if base.is_sequence and override.is_sequence:
        items = [*base.value, *(strip_resets(item) for item in override.value)]
        return replace(base, value=items, size=base.size + override.size)
    return strip_resets(override)


def _merge_mappings(base: Node, override: Node, path: Path) -> Node:
    entries = dict(base.value)
    key_locations = dict(base.key_locations)
    for key, value in override.value.items():
        if value.tag == RESET_TAG:
            entries.pop(key, None)
            key_locations.pop(key, None)
            continue
        if key in entries:
            entries[key] = merge_nodes(entries[key], value, (*path, key))
        else:
            entries[key] = strip_resets(value)
        key_locations[key] = override.key_locations.get(key, value.location)
    size = 1 + sum(child.size for child in entries.values())
    return Node(entries, base.location, key_locations, size, None)


def _merge_unique(base: Node, override: Node, index: Callable[[Node], str | None]) -> Node:
    items: list[Node] = []
    positions: dict[str, int] = {}
    for item in [*base.value, *(strip_resets(item) for item in override.value)]:
        key = index(item)
        if key is not None and key in positions:
            items[positions[key]] = item
            continue
        if key is not None:
            positions[key] = len(items)
        items.append(item)
    size = 1 + sum(item.size for item in items)
    return Node(items, base.location, {}, size, None)


def _subnet_key(item: Node) -> str | None:
    if item.is_mapping and "subnet" in item.value:
        return _text(item.value["subnet"].value)
    return None


def _merge_key_values(base: Node, override: Node, path: Path) -> Node:
    index = _extra_host_key if path[-1] == "extra_hosts" else _key_value_key
    if base.is_sequence and override.is_sequence:
        return _merge_unique(base, override, index)
    base_map, override_map = _as_mapping(base, index), _as_mapping(override, index)
    if base_map is None or override_map is None:
        return strip_resets(override)
    return _merge_mappings(base_map, override_map, path)


def _as_mapping(node: Node, index: Callable[[Node], str | None]) -> Node | None:
    """A ``KEY=VALUE`` list as the mapping it means (``KEY`` alone → null)."""
    if node.is_mapping:
        return node
    if not node.is_sequence:
        return None
    entries: dict[str, Node] = {}
    key_locations: dict[str, Location] = {}
    for item in node.value:
        key = index(item)
        if key is None or not isinstance(item.value, str):
            return None
        rest = item.value[len(key) :]
        value = rest[1:] if rest else None
        entries[key] = Node(value, item.location)
        key_locations[key] = item.location
    return Node(entries, node.location, key_locations, len(entries) + 1)


def _depends_on_mapping(node: Node) -> Node:
    """``[db]`` → ``{db: {condition: service_started, required: true}}`` (Compose's
    meaning of the short form), so that a long form in another file merges into it."""
    if not node.is_sequence:
        return node
    entries: dict[str, Node] = {}
    key_locations: dict[str, Location] = {}
    for item in node.value:
        if not isinstance(item.value, str):
            return node
        location = item.location
        entries[item.value] = Node(
            {
                "condition": Node("service_started", location),
                "required": Node(True, location),
            },
            location,
            {"condition": location, "required": location},
            3,
        )
        key_locations[item.value] = location
    return Node(entries, node.location, key_locations, 1 + 3 * len(entries))


def _names_mapping(node: Node) -> Node:
    """A service's ``networks: [a, b]`` → ``{a: null, b: null}``."""
    if not node.is_sequence:
        return node
    entries: dict[str, Node] = {}
    key_locations: dict[str, Location] = {}
    for item in node.value:
        if not isinstance(item.value, str):
            return node
        entries[item.value] = Node(None, item.location)
        key_locations[item.value] = item.location
    return Node(entries, node.location, key_locations, 1 + len(entries))


def _build_mapping(node: Node) -> Node:
    if isinstance(node.value, str):
        return Node({"context": node}, node.location, {"context": node.location}, 2)
    return node


def _drivers_differ(base: Node, override: Node) -> bool:
    if not (base.is_mapping and override.is_mapping):
        return False
    base_driver = base.value.get("driver")
    override_driver = override.value.get("driver")
    if base_driver is None or override_driver is None:
        return False
    return bool(base_driver.value != override_driver.value)
