from __future__ import annotations

from pathlib import Path

import pytest

from stackr.build.ignore import IgnoreMatcher, load_ignore


def matcher(*lines: str) -> IgnoreMatcher:
    return IgnoreMatcher.from_lines(list(lines))


@pytest.mark.parametrize(("patterns", "path", "ignored"), [
    (("*.log",), "a.log", True),
    (("*.log",), "dir/a.log", False),  # "*" does not cross directories
    (("**/*.log",), "dir/sub/a.log", True),
    (("**/*.log",), "a.log", True),  # "**" matches zero directories too
    (("dir/**",), "dir/a/b", True),
    (("dir",), "dir/a/b", True),  # a matched directory excludes what is below it
    (("/dir",), "dir/x", True),  # leading "/" is the context root
    (("./dir/../other",), "other", True),  # cleaned
    (("a?c",), "abc", True),
    (("a?c",), "a/c", False),
    (("[a-c]x",), "bx", True),
    (("[!a-c]x",), "dx", True),
    (("\\*x",), "*x", True),
    (("\\*x",), "ax", False),
    (("*", "!keep"), "keep", False),
    (("*", "!keep", "keep"), "keep", True),  # the last match decides
    (("docs", "!docs/README.md"), "docs/README.md", False),
    (("docs", "!docs/README.md"), "docs/other.md", True),
    (("# comment", ""), "# comment", False),
    (("node_modules",), "src/node_modules", False),
    (("**/node_modules",), "src/node_modules/x", True),
])
def test_patterns(patterns: tuple[str, ...], path: str, ignored: bool) -> None:
    assert matcher(*patterns).ignored(path) is ignored


def test_root_is_never_ignored() -> None:
    assert not matcher("*").ignored(".")


def test_may_reinclude_below() -> None:
    m = matcher("docs", "!docs/README.md", "!**/keep")
    assert m.may_reinclude_below("docs")
    assert matcher("docs", "!docs/README.md").may_reinclude_below("docs")
    assert not matcher("docs", "!other/x").may_reinclude_below("docs")
    assert matcher("*/tmp", "!*/tmp/keep").may_reinclude_below("a/tmp")


def test_dockerfile_specific_ignore_file_wins(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("a\n")
    (tmp_path / "web.Dockerfile.dockerignore").write_text("b\n")
    specific = load_ignore(tmp_path, tmp_path / "web.Dockerfile")
    assert specific.ignored("b") and not specific.ignored("a")
    general = load_ignore(tmp_path, tmp_path / "Dockerfile")
    assert general.ignored("a") and not general.ignored("b")
    assert not load_ignore(tmp_path / "missing").patterns
