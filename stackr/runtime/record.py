"""``frozen_record``: a frozen dataclass whose methods are not generated at import.

``@dataclass(frozen=True)`` writes the source of ``__init__``, ``__repr__``,
``__eq__``, ``__hash__``, ``__setattr__`` and ``__delattr__`` for each class and
compiles it with ``exec``: for the runtime's spec types that was ~11 ms of every
``stackr runtime run`` (a third of its own imports), and of every process that loads
the runtime. ``frozen_record`` keeps what callers rely on - a real dataclass
(``dataclasses.fields``, ``replace``, ``asdict``, ``is_dataclass``), keyword or
positional construction with the same defaults and ``__post_init__``, equality and
hash over the fields, the same ``repr``, ``FrozenInstanceError`` on assignment - but
registers the fields only (``init=False, repr=False, eq=False``: no code generated)
and shares one set of methods written here. Construction is a loop instead of
straight-line code: a few microseconds more per object, which these types can afford
(a handful per container).

For the type checker the decorator is a ``dataclass_transform``: mypy synthesises the
typed ``__init__`` and treats the fields as read-only, as for a frozen dataclass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform

_Record = TypeVar("_Record", bound=type[Any])
_MISSING = dataclasses.MISSING


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def frozen_record(cls: _Record) -> _Record:
    """Make ``cls`` a frozen dataclass (see the module's docstring); returns it."""
    for own in ("__init__", "__eq__", "__hash__", "__repr__", "__setattr__", "__delattr__"):
        if own in cls.__dict__:
            raise TypeError(f"{cls.__name__}: frozen_record writes {own} itself")
    if cls.__doc__ is None:
        cls.__doc__ = cls.__name__  # dataclass would build one with inspect.signature
    dataclasses.dataclass(init=False, repr=False, eq=False)(cls)  # the same class
    record = cls
    fields = [field for field in dataclasses.fields(record) if field.init]
    names = tuple(field.name for field in dataclasses.fields(record))
    known = frozenset(field.name for field in fields)
    defaults: dict[str, Callable[[], Any]] = {}
    for field in fields:
        if field.default is not _MISSING:
            defaults[field.name] = _constant(field.default)
        elif field.default_factory is not _MISSING:
            defaults[field.name] = field.default_factory
    init_names = tuple(field.name for field in fields)
    post_init = getattr(record, "__post_init__", None)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(init_names):
            raise TypeError(
                f"{record.__name__}() takes {len(init_names)} positional arguments "
                f"but {len(args)} were given"
            )
        values = dict(zip(init_names, args, strict=False))
        for name, value in kwargs.items():
            if name not in known:
                raise TypeError(f"{record.__name__}() got an unexpected keyword argument {name!r}")
            if name in values:
                raise TypeError(f"{record.__name__}() got multiple values for argument {name!r}")
            values[name] = value
        for name in init_names:
            if name not in values:
                default = defaults.get(name)
                if default is None:
                    raise TypeError(
                        f"{record.__name__}() missing required argument: {name!r}"
                    )
                values[name] = default()
        for name, value in values.items():
            object.__setattr__(self, name, value)
        if post_init is not None:
            post_init(self)

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in names)

    def __hash__(self: Any) -> int:
        return hash(tuple(getattr(self, name) for name in names))

    def __repr__(self: Any) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{self.__class__.__qualname__}({shown})"

    def __setattr__(self: Any, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self: Any, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    for method in (__init__, __eq__, __hash__, __repr__, __setattr__, __delattr__):
        method.__qualname__ = f"{record.__qualname__}.{method.__name__}"
        setattr(record, method.__name__, method)
    return record


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value
