"""``stackr run``: a replica's create body turned into a one-off's."""

from __future__ import annotations

import argparse

from stackr.commands.run import configure, one_off_body
from stackr.naming import LABEL_PROJECT, LABEL_REPLICA
from stackr.project.names import LABEL_ONEOFF


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(list(argv))


REPLICA = {
    "Image": "busybox",
    "Cmd": ["sleep", "3600"],
    "Env": ["A=1"],
    "Labels": {LABEL_PROJECT: "demo", LABEL_REPLICA: "1", "team": "x"},
    "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "8080"}]},
                   "RestartPolicy": {"Name": "always"}},
    "NetworkingConfig": {"EndpointsConfig": {"demo_default": {"Aliases": ["web"]}}},
}


def test_command_line_overrides_and_no_replica_identity() -> None:
    body = one_off_body(REPLICA, parse("-e", "B=2", "-u", "nobody", "-w", "/tmp", "web",
                                       "echo", "hi"))
    assert body["Cmd"] == ["echo", "hi"]
    assert body["Env"] == ["A=1", "B=2"]
    assert (body["User"], body["WorkingDir"]) == ("nobody", "/tmp")
    assert body["Labels"] == {LABEL_PROJECT: "demo", "team": "x", LABEL_ONEOFF: "1"}
    assert "PortBindings" not in body["HostConfig"]
    assert body["HostConfig"]["RestartPolicy"] == {"Name": "no"}
    assert body["NetworkingConfig"]["EndpointsConfig"]["demo_default"]["Aliases"] == []
    assert REPLICA["Cmd"] == ["sleep", "3600"]  # the replica's body is left as it was


def test_entrypoint_override_and_default_command() -> None:
    body = one_off_body(REPLICA, parse("--entrypoint", "sh -c", "web"))
    assert body["Entrypoint"] == ["sh", "-c"]
    assert body["Cmd"] == ["sleep", "3600"]
