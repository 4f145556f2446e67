"""The state and writable-layer dirs go without shutil, and never through a symlink."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stackr.errors import HostError
from stackr.runtime.container import _remove_tree


def test_removes_a_tree_and_leaves_what_its_symlinks_point_to(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "deep" / "keep.txt").write_text("kept")
    tree = tmp_path / "tree"
    (tree / "a" / "b" / "c").mkdir(parents=True)
    (tree / "a" / "b" / "c" / "file").write_text("x")
    (tree / "a" / "top").write_text("y")
    os.mkfifo(tree / "exec.fifo")
    (tree / "a" / "to-dir").symlink_to(outside)
    (tree / "a" / "to-file").symlink_to(outside / "deep" / "keep.txt")
    (tree / "dangling").symlink_to(tmp_path / "nowhere")
    (tree / "locked").mkdir(mode=0)  # as overlayfs leaves work/work
    _remove_tree(tree)
    assert not tree.exists()
    assert (outside / "deep" / "keep.txt").read_text() == "kept"


def test_a_missing_tree_is_fine(tmp_path: Path) -> None:
    _remove_tree(tmp_path / "gone")


def test_a_file_where_the_tree_should_be_is_a_host_error(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("not a dir")
    with pytest.raises(HostError):
        _remove_tree(tmp_path / "plain")
