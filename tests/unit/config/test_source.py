"""YAML → located data: YAML 1.2 scalars as Compose reads them, positions, limits."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from stackr.config import source
from stackr.config.source import parse_text, resolve_plain_scalar
from stackr.errors import Location
from tests.unit.config.loader_helpers import errors_of, load


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no", "no"),
        ("yes", "yes"),
        ("on", "on"),
        ("off", "off"),
        ("y", "y"),
        ("n", "n"),
        ("NO", "NO"),
        ("22:22", "22:22"),
        ("1:30:00", "1:30:00"),
        ("2001-12-14", "2001-12-14"),
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("tRue", "tRue"),
        ("false", False),
        ("FALSE", False),
        ("null", None),
        ("~", None),
        ("", None),
        ("0x1F", 31),
        ("0o17", 15),
        ("0755", 493),
        ("0b101", 5),
        ("-0x10", -16),
        ("+5", 5),
        ("1_000", 1000),
        ("08", 8.0),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("-.inf", -math.inf),
        ("9223372036854775808", 9223372036854775808),
        ("99999999999999999999", 1e20),
        ("-", "-"),
        (".", "."),
        ("1.2.3", "1.2.3"),
        ("0x", "0x"),
    ],
)
def test_plain_scalars_resolve_as_go_yaml_v3(text: str, expected: object) -> None:
    value = resolve_plain_scalar(text) if text else None
    assert value == expected
    assert type(value) is type(expected)


def test_restart_no_and_port_pairs_stay_strings_in_a_stack(tmp_path: Path) -> None:
    raw = load(
        tmp_path,
        {
            "stack.yml": """
            services:
              web:
                image: busybox
                restart: no
                ports:
                  - 22:22
                  - 8080:80
                tty: yes
            """
        },
    )
    web = raw.data["services"]["web"]
    assert web["restart"] == "no"
    assert web["ports"] == ["22:22", "8080:80"]
    assert web["tty"] == "yes"


def test_quoted_and_block_scalars_are_strings(tmp_path: Path) -> None:
    raw = load(tmp_path, {"stack.yml": "a: \"true\"\nb: '12'\nc: |\n  08\nd: !!str 123\n"})
    assert raw.data["a"] == "true"
    assert raw.data["b"] == "12"
    assert raw.data["c"] == "08\n"
    assert raw.data["d"] == "123"


def test_mapping_keys_become_strings(tmp_path: Path) -> None:
    raw = load(tmp_path, {"stack.yml": "x-k:\n  80: a\n  true: b\n  0x10: c\n  null: d\n"})
    assert list(raw.data["x-k"]) == ["80", "true", "16", "null"]


def test_values_and_keys_keep_their_line_and_column(tmp_path: Path) -> None:
    raw = load(
        tmp_path,
        {"stack.yml": "services:\n  web:\n    image: busybox\n    ports:\n      - '80:80'\n"},
    )
    assert raw.source_map.value(("services", "web", "image")) == Location("stack.yml", 3, 12)
    assert raw.source_map.key(("services", "web", "image")) == Location("stack.yml", 3, 5)
    assert raw.source_map.value(("services", "web", "ports", 0)) == Location("stack.yml", 5, 9)
    assert raw.source_map.key(("services", "web")) == Location("stack.yml", 2, 3)


def test_duplicate_key_is_reported_at_the_second_key(tmp_path: Path) -> None:
    errors = errors_of(
        tmp_path,
        {"stack.yml": "services:\n  web:\n    image: a\n    image: b\n  db:\n    image: c\n"},
    )
    assert errors == ["stack.yml:4:5: services.web.image: duplicate key image (first at line 3)"]


def test_duplicate_top_level_service_is_reported(tmp_path: Path) -> None:
    errors = errors_of(
        tmp_path, {"stack.yml": "services:\n  web:\n    image: a\n  web:\n    image: b\n"}
    )
    assert errors == ["stack.yml:4:3: services.web: duplicate key web (first at line 2)"]


def test_billion_laughs_fails_fast_with_a_clear_message(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 9)}]")
    started = time.perf_counter()
    errors = errors_of(tmp_path, {"stack.yml": "\n".join(lines) + "\n"})
    elapsed = time.perf_counter() - started
    assert len(errors) == 1
    assert errors[0].startswith("stack.yml:")
    assert errors[0].endswith(
        "the document holds more than 200000 values once aliases are expanded "
        "(an alias bomb?); refusing to load it"
    )
    assert elapsed < 5  # generous: measured ~0.1 s; the point is that it terminates


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, {"stack.yml": "x-a: &a\n  - *a\n"})
    assert errors == ["stack.yml:2:5: x-a[0]: alias *a refers to itself"]


def test_unknown_alias_is_reported(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, {"stack.yml": "services:\n  web: *nothing\n"})
    assert errors == ["stack.yml:2:8: services.web: unknown alias *nothing"]


def test_merge_keys_fill_in_without_overriding_explicit_keys(tmp_path: Path) -> None:
    raw = load(
        tmp_path,
        {
            "stack.yml": """
            x-one: &one {image: one, restart: always, tty: true}
            x-two: &two {image: two, init: true}
            services:
              web:
                image: mine
                <<: [*one, *two]
            """
        },
    )
    assert raw.data["services"]["web"] == {
        "image": "mine",
        "restart": "always",
        "tty": True,
        "init": True,
    }
    # A merged value is reported where the anchor defines it.
    assert raw.source_map.value(("services", "web", "restart")).line == 2


def test_merge_key_with_a_scalar_is_an_error(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, {"stack.yml": "x-a: &a 3\nservices:\n  web:\n    <<: *a\n"})
    assert errors == [
        "stack.yml:4:5: services.web.<<: << (merge key) needs a mapping or a list of mappings"
    ]


def test_syntax_error_has_file_line_and_column(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, {"stack.yml": "services:\n  web:\n    image: [a\n"})
    assert len(errors) == 1
    assert errors[0].startswith("stack.yml:4:1: YAML syntax error: ")


def test_tab_indentation_is_a_syntax_error(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, {"stack.yml": "services:\n\tweb: {}\n"})
    assert errors == [
        "stack.yml:2:1: YAML syntax error: found character that cannot start any token "
        "(while scanning for the next token) (YAML does not allow tabs for indentation)"
    ]


def test_empty_file_is_reported(tmp_path: Path) -> None:
    assert errors_of(tmp_path, {"stack.yml": "# only a comment\n"}) == [
        "stack.yml:1:1: the file is empty"
    ]


def test_top_level_list_is_reported(tmp_path: Path) -> None:
    assert errors_of(tmp_path, {"stack.yml": "- a\n- b\n"}) == [
        "stack.yml:1:1: the top level must be a mapping, found a list"
    ]


def test_top_level_scalar_is_reported(tmp_path: Path) -> None:
    assert errors_of(tmp_path, {"stack.yml": "hello\n"}) == [
        "stack.yml:1:1: the top level must be a mapping, found the str 'hello'"
    ]


def test_a_collection_as_mapping_key_is_reported(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, {"stack.yml": "x-a:\n  ? [1, 2]\n  : v\n"})
    assert errors == ["stack.yml:2:5: x-a: a mapping key must be a scalar"]


def test_explicit_int_tag_on_text_is_an_error(tmp_path: Path) -> None:
    assert errors_of(tmp_path, {"stack.yml": "x-a: !!int abc\n"}) == [
        "stack.yml:1:6: x-a: cannot read 'abc' as int"
    ]


def test_unknown_tag_is_an_error(tmp_path: Path) -> None:
    assert errors_of(tmp_path, {"stack.yml": "x-a: !secret abc\n"}) == [
        "stack.yml:1:6: x-a: unsupported YAML tag !secret"
    ]


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    text = "x-a: " + "[" * 300 + "]" * 300 + "\n"
    errors = errors_of(tmp_path, {"stack.yml": text})
    assert len(errors) == 1
    assert "nesting deeper than 200 levels" in errors[0]


def test_oversized_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source, "MAX_FILE_BYTES", 1024 * 1024)
    text = "x-a: '" + "a" * (1024 * 1024) + "'\n"
    assert errors_of(tmp_path, {"stack.yml": text}) == [
        "stack.yml:1:1: the file is larger than 1 MiB; refusing to load it"
    ]


def test_invalid_utf8_is_reported(tmp_path: Path) -> None:
    (tmp_path / "stack.yml").write_bytes(b"x-a: \xff\xfe\xfa\n")
    assert errors_of(tmp_path, {}) == ["stack.yml:1:1: the file is not valid UTF-8 (byte 5)"]


def test_several_documents_in_one_file_merge_in_order(tmp_path: Path) -> None:
    raw = load(
        tmp_path,
        {"stack.yml": "services:\n  web:\n    image: a\n---\nservices:\n  web:\n    image: b\n"},
    )
    assert raw.data["services"]["web"]["image"] == "b"
    assert raw.source_map.value(("services", "web", "image")) == Location("stack.yml", 7, 12)


def test_parse_text_reports_every_duplicate() -> None:
    _, problems = parse_text("a: 1\na: 2\nb: 1\nb: 2\n", "f.yml")
    assert [p.render() for p in problems] == [
        "f.yml:2:1: a: duplicate key a (first at line 1)",
        "f.yml:4:1: b: duplicate key b (first at line 3)",
    ]
