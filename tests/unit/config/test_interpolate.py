"""``${VAR}`` interpolation: Compose's syntax, errors located at the scalar."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackr.config.interpolate import TemplateError, expand_text
from stackr.errors import Location
from tests.unit.config.loader_helpers import errors_of, load

ENV = {"SET": "value", "EMPTY": "", "NESTED": "inner"}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("plain", "plain"),
        ("$SET", "value"),
        ("${SET}", "value"),
        ("a${SET}b", "avalueb"),
        ("$SET.txt", "value.txt"),
        ("$$SET", "$SET"),
        ("$${SET}", "${SET}"),
        ("cost: $$5", "cost: $5"),
        ("${UNSET:-default}", "default"),
        ("${EMPTY:-default}", "default"),
        ("${EMPTY-default}", ""),
        ("${UNSET-default}", "default"),
        ("${SET:-default}", "value"),
        ("${SET:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("${UNSET:-${NESTED}}", "inner"),
        ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
        ("${UNSET:-a:b}", "a:b"),
        ("${UNSET:-{x}", "{x"),
        ("${UNSET:-}", ""),
        ("${SET:?must be set}", "value"),
        ("${EMPTY?must be set}", ""),
    ],
)
def test_templates_expand_like_compose(template: str, expected: str) -> None:
    assert expand_text(template, ENV)[0] == expected


def test_unset_variables_are_collected_for_warnings() -> None:
    assert expand_text("$A ${B} ${C:-x} ${SET}", ENV) == ("  x value", ["A", "B"])


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("${UNSET:?must be set}", "required variable UNSET is missing a value: must be set"),
        ("${EMPTY:?}", "required variable EMPTY is missing a value"),
        ("${UNSET?no ${SET}}", "required variable UNSET is missing a value: no value"),
        ("$1", "invalid interpolation format in '$1'"),
        ("a $ b", "invalid interpolation format in 'a $ b'"),
        ("end$", "invalid interpolation format in 'end$'"),
        ("${SET", "invalid interpolation format in '${SET'"),
        ("${}", "invalid interpolation format in '${}'"),
        ("${A B}", "invalid interpolation format in '${A B}'"),
        ("${A:=x}", "invalid interpolation format in '${A:=x}'"),
        ("${1A}", "invalid interpolation format in '${1A}'"),
    ],
)
def test_bad_templates_raise_template_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        expand_text(template, ENV)
    assert caught.value.message == message


def test_values_are_interpolated_and_keys_are_not(tmp_path: Path) -> None:
    raw = load(
        tmp_path,
        {
            "stack.yml": """
            services:
              web:
                image: "busybox:${TAG}"
                labels:
                  ${KEY}: ${TAG}
            """
        },
        environ={"TAG": "1.36", "KEY": "k"},
    )
    web = raw.data["services"]["web"]
    assert web["image"] == "busybox:1.36"
    assert web["labels"] == {"${KEY}": "1.36"}


def test_interpolated_values_keep_their_position(tmp_path: Path) -> None:
    raw = load(
        tmp_path, {"stack.yml": "services:\n  web:\n    image: ${IMG}\n"}, environ={"IMG": "x"}
    )
    assert raw.source_map.value(("services", "web", "image")) == Location("stack.yml", 3, 12)


def test_non_string_values_are_untouched(tmp_path: Path) -> None:
    raw = load(tmp_path, {"stack.yml": "x-a: [1, true, null, 1.5]\n"})
    assert raw.data["x-a"] == [1, True, None, 1.5]


def test_unset_variable_becomes_empty_with_a_located_warning(tmp_path: Path) -> None:
    raw = load(tmp_path, {"stack.yml": "services:\n  web:\n    image: busybox${SUFFIX}\n"})
    assert raw.data["services"]["web"]["image"] == "busybox"
    assert [w.render() for w in raw.warnings] == [
        'stack.yml:3:12: services.web.image: The "SUFFIX" variable is not set. '
        "Defaulting to a blank string."
    ]


def test_required_variable_error_is_located_at_the_scalar(tmp_path: Path) -> None:
    errors = errors_of(
        tmp_path,
        {"stack.yml": "services:\n  db:\n    environment:\n      PW: ${DB_PW:?set DB_PW}\n"},
    )
    assert errors == [
        "stack.yml:4:11: services.db.environment.PW: "
        "required variable DB_PW is missing a value: set DB_PW"
    ]


def test_invalid_template_error_has_position_and_hint(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, {"stack.yml": "services:\n  web:\n    command: echo $1\n"})
    assert errors == [
        "stack.yml:3:14: services.web.command: invalid interpolation format in 'echo $1' "
        "(you may need to escape any $ with another $)"
    ]


def test_every_interpolation_error_is_reported(tmp_path: Path) -> None:
    errors = errors_of(
        tmp_path,
        {"stack.yml": "x-a:\n  - ${A:?a}\n  - ${B:?b}\n  - ok\n  - ${C\n"},
    )
    assert errors == [
        "stack.yml:2:5: x-a[0]: required variable A is missing a value: a",
        "stack.yml:3:5: x-a[1]: required variable B is missing a value: b",
        "stack.yml:5:5: x-a[3]: invalid interpolation format in '${C' "
        "(you may need to escape any $ with another $)",
    ]


def test_dollar_escape_survives_into_the_data(tmp_path: Path) -> None:
    raw = load(tmp_path, {"stack.yml": "services:\n  web:\n    command: sh -c 'echo $$HOME'\n"})
    assert raw.data["services"]["web"]["command"] == "sh -c 'echo $HOME'"
    assert raw.warnings == ()
