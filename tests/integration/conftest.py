"""Integration tests run on the real kernel, as root, and must leave nothing behind.

Every test in this directory is marked ``root`` and skipped with a reason where the
host cannot run it. The autouse ``no_leaks`` fixture snapshots the host objects stackr
could make (mounts, network links, network namespaces, cgroups, processes) before the
test and fails the test if new ones remain afterwards. ``STACKR_LEAK_SCOPE=own`` limits
the check to the objects that name the test's own state directories, for machines where
several test runs share the host at once (CI runs one at a time and checks everything).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.hoststate import HostSnapshot, take_snapshot


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.root)


@pytest.fixture(autouse=True)
def requires_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (namespaces, mounts, netlink, cgroups)")


@pytest.fixture(autouse=True)
def no_leaks(requires_root: None, stackr_dirs: tuple[Path, Path]) -> Iterator[None]:
    before = take_snapshot(stackr_dirs)
    yield
    after = take_snapshot(stackr_dirs)
    leaked = after.minus(before)
    if os.environ.get("STACKR_LEAK_SCOPE") == "own":
        # Several test runs on one machine at once (developers side by side): links,
        # cgroups and nft tables do not say which run made them, so check only the
        # objects that do (mounts under this test's dirs, processes naming them).
        leaked = leaked.own_only()
    if leaked.is_empty():
        return
    if os.environ.get("STACKR_KEEP_FAILED") != "1":
        leaked_text = leaked.describe()  # describe first: cleanup would change it
        pytest.fail(f"the test left host objects behind:\n{leaked_text}")
    pytest.fail(f"the test left host objects behind (kept):\n{leaked.describe()}")


__all__ = ["HostSnapshot"]
