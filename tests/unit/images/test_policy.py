from __future__ import annotations

from pathlib import Path

import pytest

from stackr.errors import UsageError
from stackr.images.config import ImageConfig
from stackr.images.errors import ImageNotFoundError
from stackr.images.policy import ensure_image
from stackr.images.progress import ProgressCallback
from stackr.images.store import ImageRecord

RECORD = ImageRecord("sha256:" + "1" * 64, (), ImageConfig(), "", "amd64", "linux", 0)
PULLED = ImageRecord("sha256:" + "2" * 64, (), ImageConfig(), "", "amd64", "linux", 0)


class FakeStore:
    def __init__(self, has: bool) -> None:
        self.has = has
        self.pulls: list[str] = []

    def resolve(self, reference: str) -> ImageRecord | None:
        return RECORD if self.has else None

    def pull(self, reference: str, progress: ProgressCallback | None = None) -> ImageRecord:
        self.pulls.append(reference)
        return PULLED


@pytest.mark.parametrize(
    ("policy", "has", "result", "pulled"),
    [
        ("missing", True, RECORD, False),
        ("missing", False, PULLED, True),
        ("if_not_present", False, PULLED, True),
        ("always", True, PULLED, True),
        ("never", True, RECORD, False),
        ("build", True, RECORD, False),
    ],
)
def test_policies(policy: str, has: bool, result: ImageRecord, pulled: bool) -> None:
    store = FakeStore(has)
    assert ensure_image(store, "busybox", policy) == result
    assert store.pulls == (["busybox"] if pulled else [])


@pytest.mark.parametrize("policy", ["never", "build"])
def test_no_pull_policies_fail_when_missing(policy: str) -> None:
    with pytest.raises(ImageNotFoundError, match=f"pull_policy is {policy}"):
        ensure_image(FakeStore(False), "busybox", policy)


def test_unknown_policy() -> None:
    with pytest.raises(UsageError, match="'sometimes' is not supported"):
        ensure_image(FakeStore(True), "busybox", "sometimes")


def test_store_in_a_place_it_cannot_write(tmp_path: Path) -> None:
    import os

    from stackr.errors import PreconditionError
    from stackr.images.store import ImageStore

    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(PreconditionError, match="permission denied"):
        ImageStore(locked / "images")
