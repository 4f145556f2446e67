"""The Dockerfile instructions ``POST /images/create?fromSrc=-`` applies to an import."""

from __future__ import annotations

import pytest

from stackr.engine.api_images import parse_changes
from stackr.engine.routing import ApiError


def test_the_supported_changes() -> None:
    assert parse_changes([
        'CMD ["sh", "-c", "true"]',
        "entrypoint /bin/init --quiet",
        "ENV A=1",
        'ENV B "two words"',
        "WORKDIR /srv",
    ]) == {
        "cmd": ["sh", "-c", "true"],
        "entrypoint": ["/bin/sh", "-c", "/bin/init --quiet"],
        "env": ["A=1", "B=two words"],
        "working_dir": "/srv",
    }
    assert parse_changes([]) == {}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("EXPOSE 80", "not supported"),
        ('CMD ["sh", 1]', "list of strings"),
        ("CMD [not json", "JSON"),
        ("ENV =x", "names no variable"),
    ],
)
def test_refused_changes(change: str, words: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse_changes([change])
    assert raised.value.status == 400
    assert words in raised.value.message
