"""Resolve Docker's ``user`` and ``group_add`` against the image's /etc/passwd and /etc/group.

Pure functions over the files' text (runc's libcontainer/user): the init process reads
the files inside the container's root after pivot_root and calls ``resolve_user``.
"""

from __future__ import annotations

from stackr.record import frozen_record


class UserLookupError(Exception):
    """The user or a group named in the spec does not exist in the image."""


@frozen_record
class ExecUser:
    """Who runs the command: ids, supplementary groups, home."""

    uid: int
    gid: int
    supplementary_gids: tuple[int, ...]
    home: str


@frozen_record
class _PasswdEntry:
    """One line of /etc/passwd."""

    name: str
    uid: int
    gid: int
    home: str


@frozen_record
class _GroupEntry:
    """One line of /etc/group."""

    name: str
    gid: int
    members: tuple[str, ...]


def _parse_passwd(text: str) -> list[_PasswdEntry]:
    entries = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) < 7 or line.startswith("#"):
            continue
        try:
            entries.append(_PasswdEntry(parts[0], int(parts[2]), int(parts[3]), parts[5]))
        except ValueError:
            continue
    return entries


def _parse_group(text: str) -> list[_GroupEntry]:
    entries = []
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) < 4 or line.startswith("#"):
            continue
        try:
            members = tuple(m for m in parts[3].split(",") if m)
            entries.append(_GroupEntry(parts[0], int(parts[2]), members))
        except ValueError:
            continue
    return entries


def _group_id(name_or_id: str, groups: list[_GroupEntry]) -> int:
    for entry in groups:
        if entry.name == name_or_id:
            return entry.gid
    if name_or_id.isdigit():
        return int(name_or_id)
    raise UserLookupError(f"unable to find group {name_or_id}: no matching entries in group file")


def resolve_user(
    user: str, group_add: tuple[str, ...], passwd_text: str, group_text: str
) -> ExecUser:
    """Docker's rules: ``name|uid[:group|gid]``; a numeric uid need not exist (gid 0).

    Supplementary groups are the groups listing the user as a member, plus
    ``group_add``. An unknown user *name* or group *name* is an error.
    """
    passwd = _parse_passwd(passwd_text)
    groups = _parse_group(group_text)
    user_part, _, group_part = (user or "0").partition(":")
    entry = next((e for e in passwd if e.name == user_part), None)
    if entry is None and user_part.isdigit():
        entry = next((e for e in passwd if e.uid == int(user_part)), None)
        if entry is None:
            entry = _PasswdEntry("", int(user_part), 0, "/")
    if entry is None:
        raise UserLookupError(
            f"unable to find user {user_part}: no matching entries in passwd file"
        )
    gid = _group_id(group_part, groups) if group_part else entry.gid
    supplementary = [] if group_part else [g.gid for g in groups if entry.name in g.members]
    supplementary += [_group_id(name, groups) for name in group_add]
    unique = tuple(dict.fromkeys(g for g in supplementary if g != gid))
    return ExecUser(entry.uid, gid, unique, entry.home or "/")
