"""Variable substitution in Dockerfile instructions, with Docker's word rules.

Docker (buildkit ``frontend/dockerfile/shell/lex.go``) expands ``$VAR``, ``${VAR}``,
``${VAR:-word}``, ``${VAR-word}``, ``${VAR:+word}``, ``${VAR+word}``, ``${VAR:?msg}``
and ``${VAR?msg}`` in ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME,
WORKDIR and ARG; RUN, CMD and ENTRYPOINT are left to the shell. While expanding it also
removes quotes: ``'...'`` is literal, ``"..."`` expands variables and honours the
escapes ``\\"``, ``\\$`` and ``\\\\``; outside quotes the escape character makes the
next character literal. An unset variable expands to nothing.

``expand_word`` treats its input as one word (ENV values, WORKDIR); ``expand_words``
also splits on unquoted whitespace (EXPOSE, VOLUME, COPY sources).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class SubstitutionError(ValueError):
    """A malformed ``${...}`` or a ``${VAR:?message}`` whose variable is unset."""


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


@dataclass
class _Scanner:
    text: str
    env: Mapping[str, str]
    escape: str
    pos: int = 0
    stopped: bool = False

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        char = self.peek()
        self.pos += 1
        return char

    def words(self, *, split: bool, stop: str = "") -> list[str]:
        """Scan up to ``stop`` (consumed) or the end; split on unquoted whitespace when
        ``split``. A word made only of quotes (``""``) is kept as an empty word."""
        words: list[str] = []
        current: list[str] = []
        in_word = False
        while self.pos < len(self.text):
            char = self.peek()
            if stop and char == stop:
                self.pos += 1
                self.stopped = True
                break
            if split and char in " \t\r\n":
                self.pos += 1
                if in_word:
                    words.append("".join(current))
                    current, in_word = [], False
                continue
            in_word = True
            self.pos += 1
            if char == "'":
                current.append(self._single_quoted())
            elif char == '"':
                current.append(self._double_quoted())
            elif char == "$":
                value = self._dollar()
                if not split:
                    current.append(value)
                    continue
                # An unquoted variable's value is split into words too, as Docker does.
                pieces = value.split()
                if value[:1].isspace() and current:
                    words.append("".join(current))
                    current = []
                for index, piece in enumerate(pieces):
                    current.append(piece)
                    if index < len(pieces) - 1 or value[-1:].isspace():
                        words.append("".join(current))
                        current = []
                in_word = bool(current)
            elif char == self.escape:
                # A trailing escape is dropped, as Docker does.
                current.append(self.next())
            else:
                current.append(char)
        if in_word or not split:
            words.append("".join(current))
        return words

    def _single_quoted(self) -> str:
        end = self.text.find("'", self.pos)
        if end < 0:
            raise SubstitutionError("unexpected end of text while looking for matching '")
        value = self.text[self.pos : end]
        self.pos = end + 1
        return value

    def _double_quoted(self) -> str:
        parts: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise SubstitutionError('unexpected end of text while looking for matching "')
            char = self.next()
            if char == '"':
                return "".join(parts)
            if char == "$":
                parts.append(self._dollar())
            elif char == self.escape:
                following = self.peek()
                if following in ('"', "$", self.escape) and following:
                    parts.append(self.next())
                elif following:
                    parts.append(char)
            else:
                parts.append(char)

    def _name(self) -> str:
        start = self.pos
        while self.peek() and self.peek() in _NAME_CHARS:
            self.pos += 1
        return self.text[start : self.pos]

    def _dollar(self) -> str:
        if self.peek() != "{":
            name = self._name()
            return self.env.get(name, "") if name else "$"
        self.pos += 1
        name = self._name()
        if not name:
            raise SubstitutionError(f"bad substitution: missing variable name at {self.text!r}")
        char = self.next()
        if char == "}":
            return self.env.get(name, "")
        if not char:
            raise SubstitutionError(f"bad substitution: missing '}}' in {self.text!r}")
        colon = char == ":"
        if colon:
            char = self.next()
        if char not in ("-", "+", "?"):
            raise SubstitutionError(f"bad substitution: unsupported modifier in {self.text!r}")
        self.stopped = False
        word = "".join(self.words(split=False, stop="}"))
        if not self.stopped:
            raise SubstitutionError(f"bad substitution: missing '}}' in {self.text!r}")
        is_set = name in self.env
        value = self.env.get(name, "")
        present = is_set and (value != "" or not colon)
        if char == "-":
            return value if present else word
        if char == "+":
            return word if present else ""
        if not present:
            raise SubstitutionError(f"{name}: {word or 'is not allowed to be unset'}")
        return value


def expand_word(text: str, env: Mapping[str, str], *, escape: str = "\\") -> str:
    """Expand variables and remove quotes in ``text``, taken as one word."""
    return _Scanner(text, env, escape).words(split=False)[0]


def expand_words(text: str, env: Mapping[str, str], *, escape: str = "\\") -> list[str]:
    """Expand variables and remove quotes, splitting on unquoted whitespace."""
    return _Scanner(text, env, escape).words(split=True)


def split_words(text: str, *, escape: str = "\\") -> list[str]:
    """Split on unquoted whitespace, keeping quotes, escapes and variables as written:
    the parser's view of ``ENV a="x y" b=$c`` before anything is expanded."""
    words: list[str] = []
    current: list[str] = []
    quote = ""
    index = 0
    while index < len(text):
        char = text[index]
        if quote:
            current.append(char)
            if char == escape and quote == '"' and index + 1 < len(text):
                current.append(text[index + 1])
                index += 1
            elif char == quote:
                quote = ""
        elif char in " \t\r\n":
            if current:
                words.append("".join(current))
                current = []
        elif char == escape and index + 1 < len(text):
            current.extend((char, text[index + 1]))
            index += 1
        else:
            if char in ("'", '"'):
                quote = char
            current.append(char)
        index += 1
    if quote:
        raise SubstitutionError(f"unmatched {quote} in {text!r}")
    if current:
        words.append("".join(current))
    return words


def expand_variables(text: str, env: Mapping[str, str], *, escape: str = "\\") -> str:
    """Expand ``$VAR`` / ``${VAR...}`` only, keeping quotes and other characters as they
    are (the body of a ``COPY <<EOF`` file); ``<escape>$`` is a literal ``$``."""
    scanner = _Scanner(text, env, escape)
    parts: list[str] = []
    while scanner.pos < len(text):
        char = scanner.next()
        if char == escape and scanner.peek() == "$":
            parts.append(scanner.next())
        elif char == "$":
            parts.append(scanner._dollar())
        else:
            parts.append(char)
    return "".join(parts)
