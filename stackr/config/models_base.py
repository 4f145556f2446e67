"""The base of every stack-file model, and the helpers its validators share.

Validators raise ``invalid(...)``: a pydantic custom error carrying one or more
``(sub-path, message)`` problems. ``describe_errors`` turns a pydantic ``ValidationError``
into those problems with human messages (never a pydantic dump); ``validate.py`` locates
them. Short syntax is rewritten to long syntax in ``mode="before"`` validators so that
the stored model is always canonical.
"""

import json
import os
import platform
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from stackr.config.pydantic_plugins import skip_discovery
from stackr.config.units import format_duration, parse_byte_size, parse_duration

SubPath = tuple[str | int, ...]
Problem = tuple[SubPath, str]

EXTENSION_PREFIX = "x-"
ERROR_TYPE = "stackr"

skip_discovery()  # before the first model is built (see the module)


class Model(BaseModel):
    """Frozen, strict about keys; ``x-*`` keys of the input are kept in ``extensions``."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        coerce_numbers_to_str=True,  # Compose reads `user: 1000` or `image: 1` as text
        validate_default=False,
        # Built at class creation, children first, each once: deferred, every model
        # validated or dumped later rebuilt its nested models' schemas again (~0.1 s of
        # each command that loads a stack). The verbs that need no model import none.
        defer_build=False,
    )

    # Excluded from model_dump (so x-* keys never change a config hash); dump() shows them.
    extensions: dict[str, Any] = Field(default_factory=dict, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _collect_extensions(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and any(
            isinstance(key, str) and key.startswith(EXTENSION_PREFIX) for key in data
        ):
            plain = {k: v for k, v in data.items() if not str(k).startswith(EXTENSION_PREFIX)}
            plain["extensions"] = {
                k: v for k, v in data.items() if str(k).startswith(EXTENSION_PREFIX)
            }
            return plain
        return data


def dump(model: BaseModel) -> dict[str, Any]:
    """A model as plain JSON-able data spelled like a stack file: ``model_dump`` (which
    leaves ``extensions`` out) with the ``x-*`` keys put back at their level."""
    data: dict[str, Any] = model.model_dump(mode="json")
    _put_extensions(model, data)
    return data


def _put_extensions(value: Any, data: Any) -> None:
    if isinstance(value, Model) and isinstance(data, dict):
        data.update(value.extensions)
        for name in type(value).model_fields:
            if name in data:
                _put_extensions(getattr(value, name), data[name])
    elif isinstance(value, dict) and isinstance(data, dict):
        for key, item in value.items():
            if key in data:
                _put_extensions(item, data[key])
    elif isinstance(value, list | tuple) and isinstance(data, list):
        for item, item_data in zip(value, data, strict=False):
            _put_extensions(item, item_data)


# -- errors ---------------------------------------------------------------------------------


def invalid(message: str, subpath: SubPath = ()) -> PydanticCustomError:
    return problems_error([(subpath, message)])


def problems_error(problems: Sequence[Problem]) -> PydanticCustomError:
    text = "; ".join(message for _, message in problems)
    return PydanticCustomError(
        ERROR_TYPE, "{message}", {"message": text, "problems": list(problems)}
    )


def fail(message: str, subpath: SubPath = ()) -> NoReturn:
    raise invalid(message, subpath)


def under(prefix: SubPath, error: PydanticCustomError) -> PydanticCustomError:
    """``error``'s problems, moved below ``prefix`` (a model validator checking one key)."""
    assert error.context is not None
    return problems_error([((*prefix, *sub), msg) for sub, msg in error.context["problems"]])


def show(value: Any) -> str:
    """A value as a message quotes it: strings in double quotes, YAML spelling otherwise."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        if all(isinstance(item, str | int | float) for item in value):
            text = json.dumps(list(value), ensure_ascii=False)
            if len(text) <= 60:
                return text
        return "a list"
    return str(value)


_TYPE_MESSAGES = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
}


_TYPE_FAMILIES = {"int": "an integer", "float": "a number", "bool": "true or false"}


def describe_errors(error: ValidationError, prefix: SubPath = ()) -> list[Problem]:
    """Each pydantic error as ``(path, human message)``."""
    problems: list[Problem] = []
    for detail in error.errors(include_url=False):
        loc: SubPath = prefix + tuple(detail["loc"])
        kind = detail["type"]
        value = detail.get("input")
        context = detail.get("ctx") or {}
        if kind == ERROR_TYPE:
            problems.extend((loc + tuple(sub), message) for sub, message in context["problems"])
        elif kind == "missing":
            problems.append((loc[:-1], f'"{loc[-1]}" is required'))
        elif kind == "extra_forbidden":
            problems.append((loc[:-1], f'unknown key "{loc[-1]}"'))
        elif kind in _TYPE_MESSAGES or kind.split("_")[0] in _TYPE_FAMILIES:
            expected = _TYPE_MESSAGES.get(kind) or _TYPE_FAMILIES[kind.split("_")[0]]
            problems.append((loc, f"{show(value)} is not {expected}"))
        elif kind in ("literal_error", "enum"):
            expected = str(context.get("expected", "")).replace("'", "").replace(" or ", ", ")
            problems.append((loc, f"{show(value)} is not one of {expected}"))
        elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
            bound = next(iter(context.values()), "")
            words = {
                "greater_than_equal": "at least",
                "greater_than": "greater than",
                "less_than_equal": "at most",
                "less_than": "less than",
            }[kind]
            problems.append((loc, f"{show(value)} must be {words} {bound}"))
        else:
            problems.append((loc, f"{show(value)}: {detail['msg']}"))
    return problems


T = TypeVar("T")


def each_item(
    value: Any, parse: Callable[[Any, int], list[T] | T], what: str = "a list"
) -> list[T]:
    """Parse every item of a list; all items' problems are reported together."""
    if not isinstance(value, list | tuple):
        fail(f"{show(value)} is not {what}")
    results: list[T] = []
    problems: list[Problem] = []
    for index, item in enumerate(value):
        try:
            parsed = parse(item, index)
        except PydanticCustomError as error:
            assert error.context is not None
            problems.extend(((index, *sub), msg) for sub, msg in error.context["problems"])
            continue
        except ValidationError as error:
            problems.extend(describe_errors(error, (index,)))
            continue
        if isinstance(parsed, list):
            results.extend(parsed)
        else:
            results.append(parsed)
    if problems:
        raise problems_error(problems)
    return results


# -- coercions shared by several keys --------------------------------------------------------


def scalar_text(value: Any, subpath: SubPath = ()) -> str:
    """A YAML scalar as Compose turns it into text: ``true`` → ``"true"``, ``1.5`` → ``"1.5"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    fail(f"{show(value)} is not a string, number or boolean", subpath)


def string_list(value: Any) -> tuple[str, ...]:
    """A string or a list of strings (``string_or_list`` in the Compose spec)."""
    if value is None:
        return ()
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return (scalar_text(value),)
    return tuple(each_item(value, lambda item, index: scalar_text(item), "a string or a list"))


def text_list(value: Any) -> tuple[str, ...]:
    """A list of scalars, as text (``list_of_strings``)."""
    if value is None:
        return ()
    return tuple(each_item(value, lambda item, index: scalar_text(item)))


def key_value_mapping(
    value: Any, *, missing: str | None, separator: str = "="
) -> dict[str, str | None]:
    """``list_or_dict``: ``["A=1", "B"]`` or ``{A: 1, B: null}`` → ``{"A": "1", "B": missing}``."""
    if value is None:
        return {}
    result: dict[str, str | None] = {}
    if isinstance(value, Mapping):
        problems: list[Problem] = []
        for raw_key, item in value.items():
            key = scalar_text(raw_key) if isinstance(raw_key, bool | int | float) else str(raw_key)
            if item is None:
                result[key] = missing
                continue
            try:
                result[key] = scalar_text(item)
            except PydanticCustomError:
                problems.append(((key,), f"{show(item)} is not a string, number or boolean"))
        if problems:
            raise problems_error(problems)
        return result
    if isinstance(value, list | tuple):

        def parse(item: Any, index: int) -> tuple[str, str | None]:
            text = scalar_text(item)
            key, found, rest = text.partition(separator)
            if not key:
                fail(f"{show(text)} is not KEY{separator}VALUE")
            return key, rest if found else missing

        for key, item in each_item(value, parse):
            result[key] = item
        return result
    fail(f"{show(value)} is not a mapping or a list of KEY{separator}VALUE")


def text_mapping(value: Any) -> dict[str, str]:
    """Labels, sysctls, options: a ``list_or_dict`` whose values are text (``KEY`` alone → "")."""
    return {k: v or "" for k, v in key_value_mapping(value, missing="").items()}


def command_list(value: Any) -> tuple[str, ...] | None:
    """``command``/``entrypoint``: a string is split like a shell would; a list stays."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return tuple(shlex.split(value))
        except ValueError as error:
            fail(f"{show(value)} cannot be split into words: {error}")
    return tuple(each_item(value, lambda item, index: scalar_text(item), "a string or a list"))


def project_dir(info: ValidationInfo) -> Path | None:
    context = info.context
    if isinstance(context, Mapping):
        found = context.get("project_dir")
        if isinstance(found, Path):
            return found
    return None


def resolve_path(path: str, info: ValidationInfo) -> str:
    """A host path of the stack file, absolute: ``~`` expanded, relative to the project."""
    expanded = os.path.expanduser(path)
    base = project_dir(info)
    if os.path.isabs(expanded) or base is None:
        return os.path.normpath(expanded) if os.path.isabs(expanded) else expanded
    return os.path.normpath(os.path.join(base, expanded))


def host_platform() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )
    return f"linux/{arch}"


HOST_PLATFORM = host_platform()
_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64"}


def normalise_platform(text: str) -> str:
    parts = text.strip().lower().split("/")
    if len(parts) == 1:
        parts = ["linux", *parts]
    parts[1] = _ARCH_ALIASES.get(parts[1], parts[1])
    if parts[1] == "arm64" and parts[2:] == ["v8"]:
        parts = parts[:2]
    return "/".join(parts)


def ensure_unique(items: Iterable[str]) -> None:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            fail(f"{show(item)} is listed twice")
        seen.add(item)


# -- small parts ----------------------------------------------------------------------------


def byte_size(value: Any) -> int:
    try:
        return parse_byte_size(value)
    except ValueError:
        fail(f"{show(value)} is not a byte size (e.g. 512m, 1g)")


def bytes_or_none(value: Any) -> int | None:
    return None if value is None else byte_size(value)


def duration(value: Any) -> float:
    try:
        return parse_duration(value)
    except ValueError:
        fail(f"{show(value)} is not a duration (e.g. 30s, 1m30s, 500ms)")


def file_mode(value: Any) -> int | None:
    """``0440`` (octal text) or a number: Compose reads mode strings as octal."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value, 8)
        except ValueError:
            pass
    fail(f"{show(value)} is not a file mode (e.g. 0440)")


# Seconds in Python, Compose text ("1m30s") when dumped: `stackr config` reads like the file.
Seconds = Annotated[float, PlainSerializer(format_duration, return_type=str)]


# -- what the JSON schema shows as accepted input (short syntax included) -------------------

ScalarIn = str | int | float | bool
ListOrDictIn = dict[str, ScalarIn | None] | list[ScalarIn]
StringOrListIn = str | list[ScalarIn]
ListIn = list[ScalarIn]
DurationIn = str | int | float
ByteSizeIn = str | int


def container_path(value: str | None) -> str | None:
    """A path in the container: absolute (a relative one would depend on the image)."""
    if value is not None and not value.startswith("/"):
        fail(f"{show(value)} is not an absolute path")
    return value
