"""``frozen_record``: a frozen dataclass that costs nothing to define.

``@dataclass(frozen=True)`` writes the source of ``__init__``, ``__repr__``,
``__eq__``, ``__hash__``, ``__setattr__`` and ``__delattr__`` for each class and
compiles it with ``exec``, and ``dataclasses`` itself loads ``inspect`` (and with it
``ast``, ``dis``, ``tokenize``...): for the runtime's types that was ~11 ms of every
``stackr runtime run`` and of every process that loads the runtime, for a handful of
objects per container. ``frozen_record`` reads the annotated fields and their defaults
once, shares one set of methods written here, and keeps what callers rely on:

* keyword or positional construction with the same defaults (``record_field``, or
  ``dataclasses.field``, for a ``default_factory``) and ``__post_init__``;
  ``TypeError`` for a bad call;
* equality and hash over the fields, the dataclass ``repr``, ``__match_args__``,
  ``dataclasses.FrozenInstanceError`` on assignment or deletion;
* it is a real dataclass for whoever asks: ``__dataclass_fields__`` is made on first
  access (``dataclasses.fields``, ``replace``, ``asdict``, ``is_dataclass``), and only
  then is ``dataclasses`` imported.

Construction is a loop instead of straight-line code: microseconds more per object.
For the type checker the decorator is a ``dataclass_transform``: mypy synthesises the
typed ``__init__`` and treats the fields as read-only, as for a frozen dataclass.
Nothing here imports ``typing`` at run time (``TYPE_CHECKING`` is only for mypy).
"""

from __future__ import annotations

import _thread
import sys

TYPE_CHECKING = False  # typing costs ~16 M instructions to import; mypy reads True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, dataclass_transform

    _Record = TypeVar("_Record", bound=type[Any])
    _Instance = TypeVar("_Instance")
else:

    def dataclass_transform(**_options: object) -> Callable[[Any], Any]:
        return lambda decorator: decorator


_GENERATED = ("__init__", "__eq__", "__hash__", "__repr__", "__setattr__", "__delattr__")
_NO_DEFAULT = object()


class _Factory:
    """A field's ``default_factory`` (what ``record_field`` returns)."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


def record_field(*, default_factory: Callable[[], Any]) -> Any:
    """``dataclasses.field(default_factory=...)`` for a ``frozen_record``."""
    return _Factory(default_factory)


def record_names(cls: type[Any]) -> tuple[str, ...]:
    """The field names of a ``frozen_record`` class, in order (``dataclasses.fields``)."""
    names: tuple[str, ...] = cls.__record_names__
    return names


def replace_record(record: _Instance, **changes: Any) -> _Instance:
    """``dataclasses.replace`` for a record, without ``dataclasses`` (and so usable
    where the host's modules can no longer be loaded, as after entering a container's
    mount namespace): a new record, validated again by ``__post_init__``."""
    values = {name: getattr(record, name) for name in record_names(type(record))}
    unknown = set(changes) - set(values)
    if unknown:
        raise TypeError(f"{type(record).__name__}: no field {sorted(unknown)[0]!r}")
    values.update(changes)
    return type(record)(**values)


def as_plain(value: Any) -> Any:
    """``dataclasses.asdict`` for records: records become dicts, tuples lists, recursively.

    For JSON: what ``json.dumps(asdict(record))`` gave, without ``dataclasses``.
    """
    names = getattr(type(value), "__record_names__", None)
    if names is not None:
        return {name: as_plain(getattr(value, name)) for name in names}
    if isinstance(value, list | tuple):
        return [as_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: as_plain(item) for key, item in value.items()}
    return value


_registering = _thread.allocate_lock()


def _from_dataclass_field(default: Any) -> Any:
    """A ``dataclasses.field(...)`` given as a default: its default or factory."""
    dataclasses = sys.modules.get("dataclasses")  # a Field exists only if it is loaded
    if dataclasses is None or not isinstance(default, dataclasses.Field):
        return default
    if default.default_factory is not dataclasses.MISSING:
        return _Factory(default.default_factory)
    return _NO_DEFAULT if default.default is dataclasses.MISSING else default.default


class _DataclassFields:
    """``__dataclass_fields__``, made (by ``dataclasses`` itself) when first asked for.

    ``dataclass(init=False, repr=False, eq=False)`` registers the fields and generates
    nothing (the methods stay ours); it replaces this descriptor with the real dict.
    Under a lock: the engine's threads may ask for the first time together.
    """

    def __get__(self, instance: object, owner: type[Any]) -> Any:
        import dataclasses

        with _registering:
            if isinstance(owner.__dict__["__dataclass_fields__"], _DataclassFields):
                for name, default in owner.__record_defaults__.items():
                    if isinstance(default, _Factory):
                        setattr(owner, name, dataclasses.field(default_factory=default.make))
                dataclasses.dataclass(init=False, repr=False, eq=False)(owner)
        return owner.__dict__["__dataclass_fields__"]


@dataclass_transform(frozen_default=True, field_specifiers=(record_field,))
def frozen_record(cls: _Record) -> _Record:
    """Make ``cls`` a frozen record (see the module's docstring); returns it."""
    for own in (*_GENERATED, "__dataclass_fields__"):
        if own in cls.__dict__:
            raise TypeError(f"{cls.__name__}: frozen_record writes {own} itself")
    if any(hasattr(base, "__record_names__") for base in cls.__mro__[1:]):
        raise TypeError(f"{cls.__name__}: a frozen_record cannot derive from another")
    names = tuple(
        name
        # Not inspect.get_annotations: inspect is what this module saves loading.
        for name, annotation in cls.__dict__.get("__annotations__", {}).items()  # noqa: RUF063
        if not str(annotation).startswith(("ClassVar", "typing.ClassVar"))
    )
    defaults: dict[str, Any] = {}
    for name in names:
        default = cls.__dict__.get(name, _NO_DEFAULT)
        if default is _NO_DEFAULT:
            if defaults:
                raise TypeError(f"{cls.__name__}: non-default field {name!r} after a default")
            continue
        default = _from_dataclass_field(default)
        if default is _NO_DEFAULT:
            delattr(cls, name)
            if defaults:
                raise TypeError(f"{cls.__name__}: non-default field {name!r} after a default")
            continue
        if type(default).__hash__ is None:  # dataclasses' rule against shared mutables
            raise ValueError(f"{cls.__name__}.{name}: mutable default; use record_field")
        defaults[name] = default
        if isinstance(default, _Factory):
            delattr(cls, name)  # as dataclasses does: no class attribute for a factory
    _install(cls, names, defaults)
    return cls


@dataclass_transform(frozen_default=True, order_default=True, field_specifiers=(record_field,))
def ordered_record(cls: _Record) -> _Record:
    """A ``frozen_record`` that also orders (``dataclass(frozen=True, order=True)``):
    ``<``, ``<=``, ``>``, ``>=`` compare the fields as a tuple, within one class."""
    frozen_record(cls)
    names = record_names(cls)

    def fields_of(record: Any) -> tuple[Any, ...]:
        return tuple(getattr(record, name) for name in names)

    def __lt__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return fields_of(self) < fields_of(other)

    def __le__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return fields_of(self) <= fields_of(other)

    def __gt__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return fields_of(self) > fields_of(other)

    def __ge__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return fields_of(self) >= fields_of(other)

    for method in (__lt__, __le__, __gt__, __ge__):
        if method.__name__ in cls.__dict__:
            raise TypeError(f"{cls.__name__}: ordered_record writes {method.__name__} itself")
        method.__qualname__ = f"{cls.__qualname__}.{method.__name__}"
        setattr(cls, method.__name__, method)
    return cls


def _install(cls: type[Any], names: tuple[str, ...], defaults: dict[str, Any]) -> None:
    class_name = cls.__name__
    known = frozenset(names)
    post_init = cls.__dict__.get("__post_init__")

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            raise TypeError(
                f"{class_name}() takes {len(names)} positional arguments "
                f"but {len(args)} were given"
            )
        values = dict(zip(names, args, strict=False))
        for name, value in kwargs.items():
            if name not in known:
                raise TypeError(f"{class_name}() got an unexpected keyword argument {name!r}")
            if name in values:
                raise TypeError(f"{class_name}() got multiple values for argument {name!r}")
            values[name] = value
        for name in names:
            if name not in values:
                default = defaults.get(name, _NO_DEFAULT)
                if default is _NO_DEFAULT:
                    raise TypeError(f"{class_name}() missing required argument: {name!r}")
                values[name] = default.make() if isinstance(default, _Factory) else default
            object.__setattr__(self, name, values[name])
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
        raise _frozen_error(f"cannot assign to field {name!r}")

    def __delattr__(self: Any, name: str) -> None:
        raise _frozen_error(f"cannot delete field {name!r}")

    for method in (__init__, __eq__, __hash__, __repr__, __setattr__, __delattr__):
        method.__qualname__ = f"{cls.__qualname__}.{method.__name__}"
        setattr(cls, method.__name__, method)
    cls.__record_names__ = names
    cls.__record_defaults__ = defaults
    setattr(cls, "__match_args__", names)  # noqa: B010 (mypy: a read-only name)
    cls.__dataclass_fields__ = _DataclassFields()


def _frozen_error(message: str) -> Exception:
    from dataclasses import FrozenInstanceError  # only when someone tries

    return FrozenInstanceError(message)
