"""State files: atomic replacement, durable writes, corruption reported as StateError."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackr.errors import StateError
from stackr.statefile import read_json, read_json_object, write_atomic, write_json_atomic


def test_write_replaces_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "records" / "a.json"
    write_json_atomic(target, {"b": 1, "a": 2})
    write_json_atomic(target, {"b": 3}, durable=True)
    assert read_json(target) == {"b": 3}
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]


def test_write_through_a_temp_dir_on_the_same_filesystem(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    write_atomic(tmp_path / "blob", b"data", temp_dir=tmp_path / "tmp")
    assert (tmp_path / "blob").read_bytes() == b"data"
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_failed_write_keeps_the_old_content(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    write_json_atomic(target, {"v": 1})
    with pytest.raises(TypeError):
        write_json_atomic(target, {"v": object()})
    assert read_json(target) == {"v": 1}


def test_missing_is_none_and_corrupt_is_a_state_error(tmp_path: Path) -> None:
    assert read_json(tmp_path / "absent.json") is None
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(StateError, match=r"bad.json: corrupt record"):
        read_json(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(StateError, match="not an object"):
        read_json_object(tmp_path / "list.json")
