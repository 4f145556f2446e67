from __future__ import annotations

import pytest

from stackr.images.config import (
    DEFAULT_PATH,
    ImageConfig,
    effective_process,
    effective_stop_signal,
    merge_env,
)
from stackr.images.errors import ArchiveError, ImageError

IMAGE = ImageConfig(
    entrypoint=("/entry.sh",),
    cmd=("serve", "--port", "80"),
    env=("PATH=/bin", "MODE=prod", "KEEP=1"),
    working_dir="/app",
    user="app",
)


def test_image_defaults_apply() -> None:
    process = effective_process(IMAGE)
    assert process.args == ("/entry.sh", "serve", "--port", "80")
    assert process.env == ("PATH=/bin", "MODE=prod", "KEEP=1")
    assert (process.working_dir, process.user) == ("/app", "app")


def test_command_replaces_cmd_only() -> None:
    assert effective_process(IMAGE, command=["debug"]).args == ("/entry.sh", "debug")
    assert effective_process(IMAGE, command="run -x 'a b'").args == (
        "/entry.sh",
        "run",
        "-x",
        "a b",
    )


def test_entrypoint_replaces_entrypoint_and_clears_cmd() -> None:
    assert effective_process(IMAGE, entrypoint=["/bin/sh"]).args == ("/bin/sh",)
    both = effective_process(IMAGE, entrypoint="/bin/sh -c", command=["echo hi"])
    assert both.args == ("/bin/sh", "-c", "echo hi")


def test_empty_entrypoint_removes_it_and_keeps_image_cmd() -> None:
    assert effective_process(IMAGE, entrypoint=[]).args == ("serve", "--port", "80")


def test_empty_command_counts_as_unset() -> None:
    assert effective_process(IMAGE, command=[]).args == ("/entry.sh", "serve", "--port", "80")


def test_no_command_at_all() -> None:
    with pytest.raises(ImageError, match="no command"):
        effective_process(ImageConfig())
    assert effective_process(ImageConfig(), command="sh").args == ("sh",)


def test_environment_merges_by_name_in_order() -> None:
    process = effective_process(IMAGE, environment={"MODE": "dev", "NEW": "x=y"})
    assert process.env == ("PATH=/bin", "MODE=dev", "KEEP=1", "NEW=x=y")


def test_default_path_added_when_nobody_sets_it() -> None:
    assert merge_env(["A=1"], {}) == (f"PATH={DEFAULT_PATH}", "A=1")
    assert merge_env([], {"PATH": "/x"}) == ("PATH=/x",)


def test_working_dir_and_user_overrides() -> None:
    process = effective_process(IMAGE, working_dir="/srv", user="0:0")
    assert (process.working_dir, process.user) == ("/srv", "0:0")
    bare = effective_process(ImageConfig(cmd=("x",)))
    assert (bare.working_dir, bare.user) == ("/", "")
    assert effective_process(IMAGE, user="").user == ""  # explicit root wins over the image


def test_stop_signal() -> None:
    assert effective_stop_signal(ImageConfig()) == "SIGTERM"
    assert effective_stop_signal(ImageConfig(stop_signal="SIGQUIT")) == "SIGQUIT"
    assert effective_stop_signal(ImageConfig(stop_signal="SIGQUIT"), "SIGINT") == "SIGINT"


def test_config_document_fields() -> None:
    config = ImageConfig.from_json(
        {
            "config": {
                "Entrypoint": ["/e"],
                "Cmd": None,
                "Env": ["A=1"],
                "WorkingDir": "/w",
                "User": "1000:1000",
                "ExposedPorts": {"8080/tcp": {}, "53/udp": {}},
                "Volumes": {"/data": {}},
                "StopSignal": "SIGQUIT",
                "Healthcheck": {
                    "Test": ["CMD-SHELL", "true"],
                    "Interval": 30_000_000_000,
                    "Retries": 3,
                },
                "Labels": {"org.example": "yes"},
            }
        }
    )
    assert config.entrypoint == ("/e",) and config.cmd is None
    assert config.exposed_ports == ("53/udp", "8080/tcp")
    assert config.volumes == ("/data",)
    assert config.stop_signal == "SIGQUIT"
    assert config.healthcheck is not None
    assert config.healthcheck.test == ("CMD-SHELL", "true")
    assert config.healthcheck.interval_ns == 30_000_000_000 and config.healthcheck.retries == 3
    assert config.labels == {"org.example": "yes"}
    assert ImageConfig.from_json({}) == ImageConfig()


def test_malformed_config() -> None:
    with pytest.raises(ArchiveError, match="Cmd"):
        ImageConfig.from_json({"config": {"Cmd": [1, 2]}})
