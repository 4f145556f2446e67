"""Where an engine is: ``unix:///path/engine.sock`` or ``ssh://user@host[:port]``.

The default is the local embedded engine at ``$STACKR_RUN/engine.sock``; ``-H/--host``
or ``STACKR_HOST`` point the client at another engine (as ``DOCKER_HOST`` does).
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

from stackr.errors import UsageError
from stackr.paths import run_root
from stackr.record import frozen_record


@frozen_record
class UnixHost:
    socket_path: str
    is_default: bool = False  # the local embedded engine: may be auto-started

    def __str__(self) -> str:
        return f"unix://{self.socket_path}"


@frozen_record
class SshHost:
    host: str
    user: str | None = None
    port: int | None = None
    socket_path: str | None = None  # the remote engine's socket; None = its default

    def __str__(self) -> str:
        who = f"{self.user}@" if self.user else ""
        where = f":{self.port}" if self.port else ""
        return f"ssh://{who}{self.host}{where}{self.socket_path or ''}"

    def ssh_command(self) -> list[str]:
        """The ssh command line whose stdio is a byte pipe to the remote engine."""
        command = ["ssh", "-T", "-o", "BatchMode=yes"]
        if self.port:
            command += ["-p", str(self.port)]
        command += ["--", f"{self.user}@{self.host}" if self.user else self.host]
        remote = ["stackr", "engine", "dial-stdio"]
        if self.socket_path:
            remote += ["--socket", self.socket_path]
        return command + remote


EngineHost = UnixHost | SshHost


def default_host() -> UnixHost:
    return UnixHost(str(run_root() / "engine.sock"), is_default=True)


def parse_host(url: str | None = None) -> EngineHost:
    """Parse ``-H``/``STACKR_HOST``; ``None`` or "" means the local default engine."""
    text = url if url is not None else os.environ.get("STACKR_HOST", "")
    if not text:
        return default_host()
    parts = urlsplit(text)
    if parts.scheme == "unix":
        path = unquote(parts.netloc + parts.path)
        if not path.startswith("/"):
            raise UsageError(f"engine host {text!r}: a unix socket path must be absolute")
        if parts.query or parts.fragment:
            raise UsageError(f"engine host {text!r}: unexpected query or fragment")
        return UnixHost(path, is_default=path == str(run_root() / "engine.sock"))
    if parts.scheme == "ssh":
        if not parts.hostname:
            raise UsageError(f"engine host {text!r}: no host name")
        try:
            port = parts.port
        except ValueError:
            raise UsageError(f"engine host {text!r}: the port is not a number") from None
        if parts.password:
            raise UsageError(f"engine host {text!r}: passwords in the URL are not supported "
                             "(use ssh keys or an agent)")
        return SshHost(
            host=parts.hostname,
            user=unquote(parts.username) if parts.username else None,
            port=port,
            socket_path=parts.path or None,
        )
    raise UsageError(
        f"engine host {text!r}: use unix:///path/to/engine.sock or ssh://[user@]host[:port]"
    )
