from __future__ import annotations

from pathlib import Path

import pytest

from stackr.build import engine_backend
from stackr.build.engine_backend import EngineBackend, EngineSession


@pytest.fixture
def session(tmp_path: Path) -> EngineSession:
    backend = EngineBackend.__new__(EngineBackend)  # no store, no reclaim: pure parts only
    session = EngineSession(backend, ())
    session.directory = tmp_path / "session"
    session.directory.mkdir()
    return session


def test_resolv_conf_drops_loopback_servers_in_a_namespace(
        session: EngineSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = tmp_path / "resolv.conf"
    host.write_text("nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch lan\n")
    monkeypatch.setattr(engine_backend, "HOST_RESOLV_CONF", host)
    written = session._resolv_conf("join")
    assert written is not None
    assert Path(written).read_text() == "nameserver 10.0.0.2\nsearch lan\n"
    assert session._resolv_conf("host") == str(host)
    assert session._resolv_conf("none") is None
    host.write_text("nameserver 127.0.0.53\n")
    assert session._resolv_conf("join") is None  # keep the image's own file


def test_session_dirs_carry_the_pid_for_reclaim(session: EngineSession) -> None:
    import os

    fresh = EngineSession(session.backend, ())
    assert fresh.directory.name.startswith(f"{os.getpid()}-")
    assert fresh.directory.parent == engine_backend.work_root()
