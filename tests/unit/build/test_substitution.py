from __future__ import annotations

import pytest

from stackr.build.substitution import (
    SubstitutionError,
    expand_word,
    expand_words,
    split_words,
)

ENV = {"A": "x", "EMPTY": "", "SP": "a b"}


@pytest.mark.parametrize(("text", "expected"), [
    ("$A", "x"), ("${A}y", "xy"), ("$Ay", ""), ("${NOPE}", ""),
    ("${NOPE:-d}", "d"), ("${EMPTY:-d}", "d"), ("${EMPTY-d}", ""), ("${NOPE-d}", "d"),
    ("${A:+set}", "set"), ("${EMPTY:+set}", ""), ("${EMPTY+set}", "set"), ("${NOPE+set}", ""),
    ("${NOPE:-${A}}", "x"), ("${NOPE:-a b}", "a b"),
    ("'$A'", "$A"), ('"$A"', "x"), ('"\\$A"', "$A"), ("\\$A", "$A"), ('"a\\b"', "a\\b"),
    ('"\\""', '"'), ("a\\ b", "a b"), ("$", "$"), ("a$", "a$"), ("$1", ""),
    ("${A:?missing}", "x"),
])
def test_expand_word(text: str, expected: str) -> None:
    assert expand_word(text, ENV) == expected


def test_expand_words_splits_unquoted_whitespace_only() -> None:
    assert expand_words('a "b c" $SP \'d e\'', ENV) == ["a", "b c", "a", "b", "d e"]
    assert expand_words('""', ENV) == [""]


def test_backtick_escape() -> None:
    assert expand_word("C:\\dir`$A", ENV, escape="`") == "C:\\dir$A"


@pytest.mark.parametrize("text", ["${A", "${}", "${A:*x}", "${NOPE:?is required}", "'open"])
def test_errors(text: str) -> None:
    with pytest.raises(SubstitutionError):
        expand_word(text, ENV)


def test_required_message() -> None:
    with pytest.raises(SubstitutionError, match="NOPE: is required"):
        expand_word("${NOPE:?is required}", ENV)


def test_split_words_keeps_quotes_and_variables() -> None:
    assert split_words('a="x y" b=$c d\\ e') == ['a="x y"', "b=$c", "d\\ e"]
    with pytest.raises(SubstitutionError):
        split_words('a="open')


def test_expand_variables_keeps_quotes() -> None:
    from stackr.build.substitution import expand_variables

    assert expand_variables("a='$A' \"${NOPE:-d}\" \\$A", ENV) == "a='x' \"d\" $A"
