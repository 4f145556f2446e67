"""Open paths inside a container's root from the host, never escaping it.

``openat2(RESOLVE_IN_ROOT)`` (Linux 5.6+) resolves every component — symlinks, ``..``,
absolute link targets — as if the root fd were ``/``: a link the container made
pointing at ``/etc`` lands in the container's ``/etc``, never the host's. Every later
step acts on file descriptors (``*at`` calls, the last component not followed), so a
process in the container swapping a directory for a symlink mid-sync gains nothing.

Python 3.11 has no ``os.openat2``: called through ``ctypes``, like ``stackr.syscalls``.
"""

from __future__ import annotations

import ctypes
import os
import platform
from functools import cache

RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10

_SYS_OPENAT2 = {"x86_64": 437, "aarch64": 437, "armv7l": 437, "ppc64le": 437, "s390x": 437}


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


@cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL("libc.so.6", use_errno=True)


def openat2_in_root(root_fd: int, relative: str, flags: int, mode: int = 0) -> int:
    """``openat2(root_fd, relative, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)``.
    Raises ``OSError`` (ELOOP, ENOENT, …) as ``os.open`` would."""
    number = _SYS_OPENAT2.get(platform.machine())
    if number is None:
        raise OSError(38, f"openat2: unsupported architecture {platform.machine()}")
    how = _OpenHow(flags | os.O_CLOEXEC, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
    path = (relative.lstrip("/") or ".").encode()
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    result = libc.syscall(ctypes.c_long(number), ctypes.c_int(root_fd), ctypes.c_char_p(path),
                          ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"openat2 {relative}: {os.strerror(code)}")
    return int(result)
