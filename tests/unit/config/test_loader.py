"""``load_raw`` end to end: every problem at once; nothing but StackFileError escapes."""

from __future__ import annotations

import string
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackr.config.loader import LoadOptions, load_raw, stack_file_paths
from stackr.errors import Location, StackFileError
from tests.unit.config.loader_helpers import errors_of, load


def test_problems_of_every_file_and_phase_are_reported_together(tmp_path: Path) -> None:
    errors = errors_of(
        tmp_path,
        {
            "a.yml": "services:\n  web:\n    image: a\n    image: b\n",
            "b.yml": "services:\n  db:\n    image: ${DB:?need DB}\n    env_file: missing.env\n",
            "c.yml": "services: [\n",
            ".env": "OK=1\n",
        },
        files=("a.yml", "b.yml", "c.yml"),
    )
    assert errors[:3] == [
        "a.yml:4:5: services.web.image: duplicate key image (first at line 3)",
        "b.yml:3:12: services.db.image: required variable DB is missing a value: need DB",
        "b.yml:4:15: services.db.env_file: env file missing.env not found",
    ]
    assert errors[3].startswith("c.yml:2:1: YAML syntax error: ")
    assert len(errors) == 4


def test_a_typical_stack_loads_with_positions(tmp_path: Path) -> None:
    raw = load(
        tmp_path / "shop",
        {
            "compose.yaml": """
            x-env: &env
              TZ: UTC
            services:
              web:
                build: .
                ports:
                  - "8080:80"
                depends_on:
                  db:
                    condition: service_healthy
                environment:
                  <<: *env
                  DB_HOST: db
              db:
                image: postgres:${PG:-16}
                volumes:
                  - data:/var/lib/postgresql/data
                healthcheck:
                  test: ["CMD-SHELL", "pg_isready"]
                  interval: 5s
                restart: on-failure:3
            volumes:
              data:
            """,
        },
    )
    assert raw.project_name == "shop"
    assert raw.data["services"]["web"]["environment"] == {"TZ": "UTC", "DB_HOST": "db"}
    assert raw.data["services"]["db"]["image"] == "postgres:16"
    assert raw.data["services"]["db"]["restart"] == "on-failure:3"
    assert raw.data["volumes"] == {"data": None}
    assert raw.source_map.value(("services", "db", "image")) == Location("compose.yaml", 16, 12)
    assert raw.warnings == ()


def test_stack_file_paths_lists_stack_and_env_files(tmp_path: Path) -> None:
    raw = load(
        tmp_path,
        {"stack.yml": "services:\n  web:\n    env_file: a.env\n", "a.env": "A=1\n"},
    )
    assert stack_file_paths(raw) == (tmp_path / "stack.yml", tmp_path / "a.env")


def test_unreadable_stack_file_is_a_diagnostic(tmp_path: Path) -> None:
    (tmp_path / "loop.yml").symlink_to(tmp_path / "loop.yml")
    errors = errors_of(tmp_path, {}, files=("loop.yml",))
    assert errors == ["cannot read stack file loop.yml: Too many levels of symbolic links"]


BROKEN = Path(__file__).parents[2] / "data" / "stacks" / "loader" / "broken"


@pytest.mark.parametrize("stack_file", sorted(BROKEN.glob("*.yml")), ids=lambda path: path.stem)
def test_broken_stack_files_are_rejected_with_position_and_message(stack_file: Path) -> None:
    """Each ``broken/NAME.yml`` fails with exactly the lines of ``NAME.expected``."""
    expected = stack_file.with_suffix(".expected").read_text().splitlines()
    with pytest.raises(StackFileError) as caught:
        load_raw(LoadOptions(files=(Path(stack_file.name),), cwd=BROKEN, environ={}))
    assert [diagnostic.render() for diagnostic in caught.value.diagnostics] == expected


def test_there_are_at_least_fifteen_broken_files() -> None:
    assert len(list(BROKEN.glob("*.yml"))) >= 15


# -- fuzzing: arbitrary YAML in, only StackFileError out ----------------------------

_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
_STRUCTURE_SETTINGS = settings(_SETTINGS, max_examples=120)
_YAML_ALPHABET = string.ascii_letters + string.digits + " \t\n:-[]{},&*!|>'\"#%@`$?<=~._/\\"


def _load_text(text: str, environ: dict[str, str] | None = None) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "stack.yml").write_text(text, encoding="utf-8")
        (root / ".env").write_text(text, encoding="utf-8")
        try:
            load_raw(LoadOptions(cwd=root, environ=environ or {}))
        except StackFileError as error:
            assert error.diagnostics
            error.render()


@_SETTINGS
@given(st.text(alphabet=_YAML_ALPHABET, max_size=300))
def test_random_yaml_like_text_raises_only_stack_file_errors(text: str) -> None:
    _load_text(text)


@_SETTINGS
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_random_unicode_text_raises_only_stack_file_errors(text: str) -> None:
    _load_text(text)


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=string.printable + "${}:-?+", max_size=20),
    st.sampled_from(["no", "yes", "22:22", "0755", "${A:-x}", "$$", "${B:?err}", "${", "!reset"]),
)
_KEYS = st.one_of(
    st.sampled_from(
        ["services", "web", "image", "environment", "env_file", "ports", "volumes", "name",
         "networks", "depends_on", "command", "build", "labels", "x-a", "<<", "path", "required"]
    ),
    st.text(alphabet=string.ascii_lowercase + "_-.$", min_size=1, max_size=8),
    st.integers(min_value=0, max_value=100),
)  # fmt: skip


def _structures() -> st.SearchStrategy[Any]:
    return st.recursive(
        _SCALARS,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(_KEYS, children, max_size=4),
        ),
        max_leaves=25,
    )


@_STRUCTURE_SETTINGS
@given(
    st.dictionaries(_KEYS, _structures(), max_size=4),
    st.dictionaries(st.sampled_from(["A", "B", "COMPOSE_PROJECT_NAME"]), st.text(max_size=5)),
)
def test_random_structures_dumped_to_yaml_raise_only_stack_file_errors(
    data: dict[Any, Any], environ: dict[str, str]
) -> None:
    text = yaml.safe_dump(data, allow_unicode=True)
    _load_text(text, {k: v for k, v in environ.items() if "\x00" not in v})


@_STRUCTURE_SETTINGS
@given(st.dictionaries(st.sampled_from(["web", "db"]), _structures(), max_size=2))
def test_random_services_raise_only_stack_file_errors(services: dict[str, Any]) -> None:
    _load_text(yaml.safe_dump({"services": services}))


_SERVICE_KEYS = st.sampled_from(
    ["image", "environment", "env_file", "ports", "volumes", "depends_on", "networks",
     "command", "build", "labels", "logging", "extra_hosts", "healthcheck", "ulimits"]
)  # fmt: skip


def _service() -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(_SERVICE_KEYS, _structures(), max_size=4)


@settings(_SETTINGS, max_examples=60)
@given(
    st.dictionaries(st.sampled_from(["web", "db"]), _service(), max_size=2),
    st.dictionaries(st.sampled_from(["web", "db"]), _service(), max_size=2),
    st.sampled_from(["", "!reset ", "!override "]),
)
def test_random_files_merged_raise_only_stack_file_errors(
    first: dict[str, Any], second: dict[str, Any], tag: str
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "a.yml").write_text(yaml.safe_dump({"services": first}))
        second_text = yaml.safe_dump({"services": second})
        if tag and "\n    " in second_text:
            # Tag the first value of a service key to exercise !reset / !override.
            head, _, rest = second_text.partition(": ")
            second_text = f"{head}: {tag}{rest}" if not rest.startswith("\n") else second_text
        (root / "b.yml").write_text(second_text)
        try:
            load_raw(LoadOptions(files=(root / "a.yml", root / "b.yml"), cwd=root, environ={}))
        except StackFileError as error:
            assert error.diagnostics
