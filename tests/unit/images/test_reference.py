from __future__ import annotations

import pytest

from stackr.images.errors import InvalidReferenceError
from stackr.images.reference import is_id_prefix, parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "normalised", "familiar"),
    [
        ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("index.docker.io/user/app:v1", "docker.io/user/app:v1", "user/app:v1"),
        ("user/app", "docker.io/user/app:latest", "user/app:latest"),
        ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
        ("localhost:5000/a/b/c:t", "localhost:5000/a/b/c:t", "localhost:5000/a/b/c:t"),
        ("host:5000/x", "host:5000/x:latest", "host:5000/x:latest"),
        ("127.0.0.1:5000/x:1", "127.0.0.1:5000/x:1", "127.0.0.1:5000/x:1"),
        ("ghcr.io/org/app:1.0-rc_2", "ghcr.io/org/app:1.0-rc_2", "ghcr.io/org/app:1.0-rc_2"),
        (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}", f"busybox@{DIGEST}"),
        (f"r.io/a:t@{DIGEST}", f"r.io/a:t@{DIGEST}", f"r.io/a:t@{DIGEST}"),
        ("a__b/c-d.e", "docker.io/a__b/c-d.e:latest", "a__b/c-d.e:latest"),
        ("[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x:latest"),
    ],
)
def test_normalisation(text: str, normalised: str, familiar: str) -> None:
    reference = parse_reference(text)
    assert str(reference) == normalised
    assert reference.familiar() == familiar


def test_parts() -> None:
    reference = parse_reference(f"host:5000/team/app@{DIGEST}")
    assert (reference.domain, reference.path, reference.tag, reference.digest) == (
        "host:5000",
        "team/app",
        None,
        DIGEST,
    )
    assert reference.repository == "host:5000/team/app"
    assert reference.registry_reference == DIGEST
    assert parse_reference("busybox").registry_reference == "latest"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("Busybox", "lowercase"),
        ("busybox:", "bad tag"),
        ("busybox:-x", "bad tag"),
        ("a::b", "bad"),
        ("busybox@sha256:123", "not a sha256 digest"),
        ("busybox@md5:" + "a" * 32, "not a sha256 digest"),
        ("a" * 64, "hexadecimal"),
        ("-bad/x", "bad"),
        ("x//y", "bad name component"),
        ("x/" + "a" * 300, "too long"),
        (":tag", "no repository"),
    ],
)
def test_invalid(text: str, words: str) -> None:
    with pytest.raises(InvalidReferenceError, match=words):
        parse_reference(text)


def test_id_prefix() -> None:
    assert is_id_prefix("3f90c6")
    assert is_id_prefix("sha256:" + "0" * 64)
    assert not is_id_prefix("busybox")
    assert not is_id_prefix("0" * 65)
    assert not is_id_prefix("")
