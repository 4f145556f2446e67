"""The netlink helpers that need no link of their own: parsing notifications, errors of
deletions made in threads."""

from __future__ import annotations

import errno
import socket
import struct

import pytest

from stackr.errors import HostError
from stackr.network import netlink
from stackr.network.netlink import RTM_DELLINK_TYPE, RawNetlink, deleted_links

RTM_NEWLINK = 16


def message(kind: int, family: int, index: int, payload: bytes = b"") -> bytes:
    """One netlink message: header, struct ifinfomsg, attributes; padded to 4 bytes."""
    body = struct.pack("=BBHiII", family, 0, 1, index, 0, 0) + payload
    length = 16 + len(body)
    return struct.pack("=IHHII", length, kind, 0, 0, 0) + body + b"\0" * (-length % 4)


def test_deletions_are_read_from_several_messages_in_one_buffer() -> None:
    data = (message(RTM_NEWLINK, socket.AF_UNSPEC, 3)
            + message(RTM_DELLINK_TYPE, socket.AF_BRIDGE, 5)  # a port let go by its bridge
            + message(RTM_DELLINK_TYPE, socket.AF_UNSPEC, 7, payload=b"xyz")  # unaligned
            + message(RTM_DELLINK_TYPE, socket.AF_UNSPEC, 9))
    assert deleted_links(data) == [7, 9]
    assert deleted_links(data[:-1]) == [7]  # a truncated last message is not read
    assert deleted_links(b"") == []
    zero_length = struct.pack("=IHHII", 0, RTM_DELLINK_TYPE, 0, 0, 0) + bytes(16)
    assert deleted_links(zero_length + data) == []  # a broken length ends the reading


def test_a_deletion_failing_in_its_thread_reaches_the_caller(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(self: RawNetlink, ifname: str) -> None:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(netlink.RawNetlink, "delete_link", fail)
    handle = RawNetlink()
    try:
        with pytest.raises(HostError, match=r"delete link lo.*EMFILE"):
            handle.unlist_links(["lo"])  # (nothing is deleted: the request fails first)
    finally:
        handle.close()
