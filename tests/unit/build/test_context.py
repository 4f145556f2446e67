from __future__ import annotations

import os
from pathlib import Path

import pytest

from stackr.build.context import SourceError, SourceTree, resolve_in_root
from stackr.build.ignore import IgnoreMatcher


def tree(tmp_path: Path, files: dict[str, str], ignore: tuple[str, ...] = ()) -> SourceTree:
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return SourceTree(tmp_path, IgnoreMatcher.from_lines(list(ignore)))


def names(source: SourceTree, pattern: str) -> list[str]:
    return [s.relative for s in source.select(pattern)]


def test_select_plain_paths_and_globs(tmp_path: Path) -> None:
    source = tree(tmp_path, {"a.txt": "", "b.txt": "", "c.md": "", "sub/d.txt": "",
                             "sub/deep/e.txt": ""})
    assert names(source, "a.txt") == ["a.txt"]
    assert names(source, "/a.txt") == ["a.txt"]
    assert names(source, "./sub/../a.txt") == ["a.txt"]
    assert names(source, "*.txt") == ["a.txt", "b.txt"]
    assert names(source, "*/*.txt") == ["sub/d.txt"]
    assert names(source, "s?b") == ["sub"]
    assert names(source, ".") == ["."]


def test_select_errors(tmp_path: Path) -> None:
    source = tree(tmp_path, {"a.txt": "", "secret": ""}, ignore=("secret",))
    with pytest.raises(SourceError, match="'missing' not found in the build context"):
        source.select("missing")
    with pytest.raises(SourceError, match="no source files were matched by"):
        source.select("*.md")
    with pytest.raises(SourceError, match="outside the build context"):
        source.select("../etc/passwd")
    with pytest.raises(SourceError, match="'secret' not found"):
        source.select("secret")  # an ignored file is not in the context


def test_hash_follows_content_mode_and_names_not_mtime(tmp_path: Path) -> None:
    source = tree(tmp_path, {"d/a": "1", "d/b": "2", "d/ignored.log": "x"},
                  ignore=("**/*.log",))

    def digest() -> str:
        return source.content_hash(source.select("d"))

    first = digest()
    os.utime(tmp_path / "d/a", (5, 5))
    assert digest() == first
    (tmp_path / "d/ignored.log").write_text("changed")
    assert digest() == first
    (tmp_path / "d/a").write_text("changed")
    second = digest()
    assert second != first
    os.chmod(tmp_path / "d/a", 0o755)
    assert digest() != second
    third = digest()
    (tmp_path / "d/a").rename(tmp_path / "d/c")
    assert digest() != third
    os.symlink("target", tmp_path / "d/link")
    assert digest().startswith("sha256:")


def test_walk_lists_everything_below_a_directory(tmp_path: Path) -> None:
    source = tree(tmp_path, {"d/a": "", "d/e/f": ""})
    [selected] = source.select("d")
    assert [relative for relative, _ in source.walk(selected)] == [".", "a", "e", "e/f"]


def test_resolve_in_root_keeps_symlinks_inside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    os.symlink("/usr/bin", root / "bin")
    os.symlink("../../../../etc", root / "escape")
    assert resolve_in_root(root, "bin/sh") == root / "usr/bin/sh"
    assert resolve_in_root(root, "escape/passwd") == root / "etc/passwd"
    assert resolve_in_root(root, "/../../x") == root / "x"
    assert resolve_in_root(root, "bin", follow_last=False) == root / "bin"
    os.symlink("loop", root / "loop")
    with pytest.raises(SourceError, match="too many levels"):
        resolve_in_root(root, "loop/x")


def test_scoped_tree_selects_through_symlinks_inside_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/lib/libx.so").write_text("x")
    os.symlink("/usr/lib", root / "lib")
    source = SourceTree(root, scoped=True)
    [selected] = source.select("/lib/libx.so")
    assert selected.path == root / "usr/lib/libx.so"
    assert names(source, "/lib/*.so") == ["lib/libx.so"]


def test_file_digests_are_reused_across_processes_until_a_file_changes(tmp_path: Path) -> None:
    from stackr.build.context import FileDigests

    source = tree(tmp_path / "ctx", {"a": "1", "b": "2"})
    store = tmp_path / "digests.json"
    source.digests = FileDigests(store)
    first = source.content_hash(source.select("."))
    source.digests.save()
    assert store.is_file()

    reread: list[str] = []
    later = FileDigests(store)
    original = later.digest

    def counting(path: Path, info: os.stat_result) -> str:
        entry = later.known.get(str(path))
        if entry is None or entry[:4] != [info.st_ino, info.st_size, info.st_mtime_ns,
                                           info.st_ctime_ns]:
            reread.append(path.name)
        return original(path, info)

    later.digest = counting  # type: ignore[method-assign]
    source.digests = later
    assert source.content_hash(source.select(".")) == first
    assert reread == []
    (tmp_path / "ctx/a").write_text("changed")
    assert source.content_hash(source.select(".")) != first
    assert reread == ["a"]
