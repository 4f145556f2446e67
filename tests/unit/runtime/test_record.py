"""``frozen_record`` behaves as ``@dataclass(frozen=True)`` does, for what callers use."""

from __future__ import annotations

import dataclasses
import json

import pytest

from stackr.record import (
    as_plain,
    frozen_record,
    ordered_record,
    record_field,
    record_names,
    replace_record,
)
from stackr.runtime.spec import ContainerSpec, NetworkSpec, RootfsSpec, Ulimit


@frozen_record
class Pair:
    """Two values and a tag."""

    first: int
    second: str = "b"
    tags: dict[str, str] = record_field(default_factory=dict)


@frozen_record
class WithDataclassField:
    """dataclasses.field works too."""

    first: int = dataclasses.field(default=1)
    items: list[int] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class PairDataclass:
    """The same, made by dataclasses."""

    first: int
    second: str = "b"
    tags: dict[str, str] = dataclasses.field(default_factory=dict)


@frozen_record
class Checked:
    """Validated on construction (and on replace)."""

    value: int

    def __post_init__(self) -> None:
        if self.value < 0:
            raise ValueError("negative")


def test_construction_positional_keyword_and_defaults() -> None:
    assert Pair(1).second == "b"
    assert Pair(1, "x").second == "x"
    assert Pair(first=2, second="y").first == 2
    assert Pair(1).tags == {} and Pair(1).tags is not Pair(1).tags  # a factory per object


def test_dataclasses_field_is_understood() -> None:
    assert WithDataclassField().first == 1
    assert WithDataclassField().items == [] and WithDataclassField(2, [3]).items == [3]


def test_bad_definitions_are_refused() -> None:
    with pytest.raises(ValueError, match="mutable"):

        @frozen_record
        class Shared:
            items: list[int] = []  # noqa: RUF012

    with pytest.raises(TypeError, match="after a default"):

        @frozen_record
        class Order:
            first: int = 1
            second: int  # type: ignore[misc]


def test_bad_arguments_are_refused_as_by_dataclass() -> None:
    with pytest.raises(TypeError, match="missing"):
        Pair()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected"):
        Pair(1, third=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple"):
        Pair(1, first=2)  # type: ignore[misc]
    with pytest.raises(TypeError, match="positional"):
        Pair(1, "a", {}, 4)  # type: ignore[call-arg]


def test_frozen() -> None:
    pair = Pair(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        pair.first = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del pair.first  # type: ignore[misc]


def test_equality_hash_and_repr_as_dataclass() -> None:
    assert Pair(1, "x") == Pair(1, "x")
    assert Pair(1, "x") != Pair(1, "y")
    assert Pair(1) != PairDataclass(1)  # another class is never equal
    assert hash(NetworkSpec("join", "/n")) == hash(NetworkSpec("join", "/n"))
    assert len({NetworkSpec(), NetworkSpec(), NetworkSpec("host")}) == 2
    assert repr(Pair(1, "x")).replace("Pair", "PairDataclass") == repr(PairDataclass(1, "x"))
    with pytest.raises(TypeError):
        hash(Pair(1))  # a dict field: unhashable, as with dataclass


def test_as_plain_and_names_without_dataclasses() -> None:
    spec = ContainerSpec(
        container_id="c1", rootfs=RootfsSpec(layer_dirs=("/l",)), args=("t",),
        ulimits=(Ulimit("nofile", 1, 2),), sysctls={"net.x": "1"},
    )  # fmt: skip
    as_json = json.dumps(dataclasses.asdict(spec), sort_keys=True)
    assert spec.to_json() == as_json and as_plain(spec) == json.loads(as_json)
    assert record_names(Pair) == ("first", "second", "tags")


def test_dataclasses_functions_work() -> None:
    pair = Pair(1, "x", {"k": "v"})
    assert dataclasses.is_dataclass(pair)
    assert [field.name for field in dataclasses.fields(pair)] == ["first", "second", "tags"]
    assert dataclasses.asdict(pair) == {"first": 1, "second": "x", "tags": {"k": "v"}}
    assert dataclasses.replace(pair, second="z") == Pair(1, "z", {"k": "v"})
    with pytest.raises(ValueError, match="negative"):
        dataclasses.replace(Checked(1), value=-1)  # __post_init__ runs again
    assert Pair.__match_args__ == ("first", "second", "tags")


def test_container_spec_round_trips_and_replaces() -> None:
    spec = ContainerSpec(
        container_id="c1", rootfs=RootfsSpec(rootfs_dir="/r"), args=("true",), labels={"a": "b"}
    )
    assert ContainerSpec.from_json(spec.to_json()) == spec
    joined = dataclasses.replace(spec, network=NetworkSpec("join", "/run/netns/x"))
    assert joined.network.netns_path == "/run/netns/x" and joined.labels == {"a": "b"}
    assert "container_id='c1'" in repr(spec)


def test_own_methods_are_refused() -> None:
    with pytest.raises(TypeError, match="__eq__"):

        @frozen_record
        class Own:
            value: int

            def __eq__(self, other: object) -> bool:
                return True


@ordered_record
class Place:
    """Ordered as dataclass(order=True) orders."""

    file: str
    line: int


@dataclasses.dataclass(frozen=True, order=True)
class PlaceDataclass:
    """The same, made by dataclasses."""

    file: str
    line: int


def test_ordered_record_orders_as_dataclass() -> None:
    pairs = [("b", 1), ("a", 2), ("a", 1), ("b", 0)]
    ours = sorted(Place(*pair) for pair in pairs)
    theirs = sorted(PlaceDataclass(*pair) for pair in pairs)
    assert [(p.file, p.line) for p in ours] == [(p.file, p.line) for p in theirs]
    assert Place("a", 1) <= Place("a", 1) < Place("a", 2) and Place("b", 0) > Place("a", 9)
    assert Place("a", 1) >= Place("a", 1)
    with pytest.raises(TypeError):
        assert Place("a", 1) < PlaceDataclass("a", 1)  # type: ignore[operator]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Place("a", 1).line = 2  # type: ignore[misc]


def test_replace_record_as_dataclasses_replace() -> None:
    spec = ContainerSpec(container_id="c1", rootfs=RootfsSpec(rootfs_dir="/r"), args=("true",))
    changed = replace_record(spec, args=("sh",), tty=True)
    assert changed == dataclasses.replace(spec, args=("sh",), tty=True)
    assert changed.args == ("sh",) and spec.args == ("true",)
    with pytest.raises(TypeError, match="no field"):
        replace_record(spec, bogus=1)
    with pytest.raises(ValueError, match="negative"):
        replace_record(Checked(1), value=-1)
