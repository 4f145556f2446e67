""".dockerignore: which build-context files COPY and ADD may see, with Docker's rules.

As moby's ``patternmatcher``:

* one pattern a line; ``#`` starts a comment line; blank lines are skipped;
* a leading ``!`` re-includes what an earlier pattern excluded; the LAST matching
  pattern decides;
* patterns are cleaned (``./a//b/`` → ``a/b``) and a leading ``/`` is dropped: every
  pattern is relative to the context root;
* ``*`` matches within one path segment, ``?`` one character, ``[...]`` a class,
  ``**`` any number of segments (also zero), ``\\`` escapes;
* a pattern that matches a directory also matches everything below it.

``<Dockerfile>.dockerignore`` next to the Dockerfile takes precedence over the context
root's ``.dockerignore`` (BuildKit's Dockerfile-specific ignore files).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class IgnorePattern:
    text: str  # cleaned, without the "!"
    exclusion: bool  # a "!" pattern: re-includes
    regex: re.Pattern[str]


def _clean(pattern: str) -> str:
    cleaned = posixpath.normpath(pattern.strip())
    cleaned = cleaned.lstrip("/")
    return cleaned or "."


def _to_regex(pattern: str) -> re.Pattern[str]:
    out = ["^"]
    index = 0
    while index < len(pattern):
        char = pattern[index]
        index += 1
        if char == "*":
            if index < len(pattern) and pattern[index] == "*":
                index += 1
                if index < len(pattern) and pattern[index] == "/":
                    index += 1  # "**/" behaves as "**"
                if index >= len(pattern):
                    out.append(".*")
                else:
                    out.append("(.*/)?")
            else:
                out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and index < len(pattern):
            out.append(re.escape(pattern[index]))
            index += 1
        elif char == "[":
            end = pattern.find("]", index + 1)
            if end < 0:
                out.append(re.escape(char))
                continue
            body = pattern[index:end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            index = end + 1
        else:
            out.append(re.escape(char))
    out.append("$")
    return re.compile("".join(out))


@dataclass(frozen=True)
class IgnoreMatcher:
    patterns: tuple[IgnorePattern, ...] = ()

    @classmethod
    def from_lines(cls, lines: list[str] | tuple[str, ...]) -> IgnoreMatcher:
        patterns: list[IgnorePattern] = []
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            exclusion = line.startswith("!")
            if exclusion:
                line = line[1:].strip()
                if not line:
                    continue
            cleaned = _clean(line)
            patterns.append(IgnorePattern(cleaned, exclusion, _to_regex(cleaned)))
        return cls(tuple(patterns))

    @property
    def has_exclusions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def ignored(self, relative_path: str) -> bool:
        """Whether the context path (``a/b/c``, relative, ``/``-separated) is ignored:
        a pattern matches the path itself or any of its parent directories."""
        path = _clean(relative_path)
        if path == ".":
            return False
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        ignored = False
        for pattern in self.patterns:
            if any(pattern.regex.match(prefix) for prefix in prefixes):
                ignored = not pattern.exclusion
        return ignored

    def may_reinclude_below(self, relative_dir: str) -> bool:
        """Whether an exclusion pattern could re-include something under an ignored
        directory, so a walk must still descend into it (Docker does the same)."""
        directory = _clean(relative_dir)
        for pattern in self.patterns:
            if not pattern.exclusion:
                continue
            if "**" in pattern.text or pattern.text.startswith(directory + "/"):
                return True
            # A wildcard in the directory part of the pattern may match this directory.
            head = pattern.text.split("/")[: directory.count("/") + 1]
            if _to_regex("/".join(head)).match(directory):
                return True
        return False


def load_ignore(context_dir: Path, dockerfile: Path | None = None) -> IgnoreMatcher:
    """The matcher for a build: ``<dockerfile>.dockerignore`` when it exists, else the
    context's ``.dockerignore``, else one that ignores nothing."""
    candidates = []
    if dockerfile is not None:
        candidates.append(dockerfile.with_name(dockerfile.name + ".dockerignore"))
    candidates.append(context_dir / ".dockerignore")
    for candidate in candidates:
        if candidate.is_file():
            return IgnoreMatcher.from_lines(candidate.read_text().splitlines())
    return IgnoreMatcher()
