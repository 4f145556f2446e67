"""``${VAR}`` and friends in every string value, as Compose interpolates them.

Syntax (compose-go ``template``): ``$$`` is a literal ``$``; ``$NAME`` and ``${NAME}``;
``${NAME:-default}`` / ``${NAME-default}`` (unset-or-empty / unset); ``${NAME:?msg}`` /
``${NAME?msg}`` (required); ``${NAME:+alt}`` / ``${NAME+alt}`` (replacement when set);
defaults nest (``${A:-${B:-x}}``). Any other ``$`` is an error, as in Compose. Keys are
never interpolated; an unset variable without default becomes "" with a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from stackr.config.source import Node
from stackr.errors import Diagnostic, KeyPath, render_key_path

_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NAME_CHARS = _NAME_START | frozenset("0123456789")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")
ESCAPE_HINT = "you may need to escape any $ with another $"


class TemplateError(Exception):
    """A template cannot be expanded: invalid syntax or a required variable missing."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass
class Substitution:
    """Expands templates against ``environment``, collecting the unset variables used."""

    environment: Mapping[str, str]
    unset: list[str] = field(default_factory=list)

    def expand(self, text: str) -> str:
        if "$" not in text:
            return text
        out: list[str] = []
        index = 0
        length = len(text)
        while index < length:
            dollar = text.find("$", index)
            if dollar < 0:
                out.append(text[index:])
                break
            out.append(text[index:dollar])
            following = text[dollar + 1] if dollar + 1 < length else ""
            if following == "$":
                out.append("$")
                index = dollar + 2
            elif following in _NAME_START and following:
                end = dollar + 1
                while end < length and text[end] in _NAME_CHARS:
                    end += 1
                out.append(self.lookup(text[dollar + 1 : end]))
                index = end
            elif following == "{":
                close = _closing_brace(text, dollar + 2)
                if close < 0:
                    raise _invalid(text)
                out.append(self.expand_braced(text[dollar + 2 : close], text))
                index = close + 1
            else:
                raise _invalid(text)
        return "".join(out)

    def lookup(self, name: str) -> str:
        value = self.environment.get(name)
        if value is None:
            self.unset.append(name)
            return ""
        return value

    def expand_braced(self, content: str, whole: str) -> str:
        end = 0
        if not content or content[0] not in _NAME_START:
            raise _invalid(whole)
        while end < len(content) and content[end] in _NAME_CHARS:
            end += 1
        name, rest = content[:end], content[end:]
        if not rest:
            return self.lookup(name)
        operator = next((op for op in _OPERATORS if rest.startswith(op)), None)
        if operator is None:
            raise _invalid(whole)
        argument = rest[len(operator) :]
        value = self.environment.get(name)
        is_set = value is not None
        # The ":" forms treat an empty value like an unset one.
        has_value = is_set and (value != "" or not operator.startswith(":"))
        if operator in (":-", "-"):
            return value if has_value and value is not None else self.expand(argument)
        if operator in (":?", "?"):
            if has_value and value is not None:
                return value
            reason = self.expand(argument)
            message = f"required variable {name} is missing a value"
            raise TemplateError(f"{message}: {reason}" if reason else message)
        return self.expand(argument) if has_value else ""


def _closing_brace(text: str, start: int) -> int:
    """Index of the ``}`` closing a ``${`` whose content starts at ``start``; nested
    ``${…}`` count, so a default may itself hold a template."""
    depth = 1
    index = start
    while index < len(text):
        if text.startswith("${", index):
            depth += 1
            index += 2
            continue
        if text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return -1


def _invalid(text: str) -> TemplateError:
    return TemplateError(f"invalid interpolation format in {text!r}", ESCAPE_HINT)


def expand_text(text: str, environment: Mapping[str, str]) -> tuple[str, list[str]]:
    """Expand one string; returns it and the unset variables it used (TemplateError on
    bad syntax or a missing required variable)."""
    substitution = Substitution(environment)
    return substitution.expand(text), substitution.unset


@dataclass
class InterpolationResult:
    node: Node
    errors: list[Diagnostic]
    warnings: list[Diagnostic]


def interpolate_node(
    node: Node, environment: Mapping[str, str], path: KeyPath = ()
) -> InterpolationResult:
    """Interpolate every string value under ``node`` (keys stay as written)."""
    errors: list[Diagnostic] = []
    warnings: list[Diagnostic] = []
    result = _interpolate(node, environment, path, errors, warnings)
    return InterpolationResult(result, errors, warnings)


def _interpolate(
    node: Node,
    environment: Mapping[str, str],
    path: KeyPath,
    errors: list[Diagnostic],
    warnings: list[Diagnostic],
) -> Node:
    # Nodes are shared and immutable: a subtree without templates is returned as is.
    if isinstance(node.value, dict):
        entries = {
            key: _interpolate(child, environment, (*path, key), errors, warnings)
            for key, child in node.value.items()
        }
        if all(entries[key] is child for key, child in node.value.items()):
            return node
        return replace(node, value=entries)
    if isinstance(node.value, list):
        items = [
            _interpolate(child, environment, (*path, index), errors, warnings)
            for index, child in enumerate(node.value)
        ]
        if all(new is old for new, old in zip(items, node.value, strict=True)):
            return node
        return replace(node, value=items)
    if not isinstance(node.value, str) or "$" not in node.value:
        return node
    where = render_key_path(path)
    try:
        text, unset = expand_text(node.value, environment)
    except TemplateError as error:
        errors.append(Diagnostic(node.location, where, error.message, error.hint))
        return node
    for name in dict.fromkeys(unset):
        message = f'The "{name}" variable is not set. Defaulting to a blank string.'
        warnings.append(Diagnostic(node.location, where, message))
    return replace(node, value=text)
