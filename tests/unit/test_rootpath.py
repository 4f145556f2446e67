"""Paths inside another root: symlinks never lead out of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stackr.rootpath import resolve_in_root


def test_absolute_and_dotdot_links_stay_inside_the_root(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    os.symlink("/etc", tmp_path / "abs")
    os.symlink("../../../../etc", tmp_path / "etc" / "up")
    assert resolve_in_root(tmp_path, "abs/passwd") == tmp_path / "etc" / "passwd"
    assert resolve_in_root(tmp_path, "etc/up/passwd") == tmp_path / "etc" / "passwd"
    assert resolve_in_root(tmp_path, "/../../x") == tmp_path / "x"


def test_the_last_link_is_kept_when_asked(tmp_path: Path) -> None:
    os.symlink("/target", tmp_path / "link")
    assert resolve_in_root(tmp_path, "link", follow_last=False) == tmp_path / "link"
    assert resolve_in_root(tmp_path, "link") == tmp_path / "target"


def test_missing_components_are_kept(tmp_path: Path) -> None:
    assert resolve_in_root(tmp_path, "a/b/../c") == tmp_path / "a" / "c"


def test_a_loop_is_eloop(tmp_path: Path) -> None:
    os.symlink("loop", tmp_path / "loop")
    with pytest.raises(OSError, match="too many levels of symbolic links"):
        resolve_in_root(tmp_path, "loop/x")
