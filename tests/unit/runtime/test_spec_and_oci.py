"""The container description: validation, JSON round trip, OCI config.json, capabilities."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from stackr.errors import UsageError
from stackr.runtime import oci, ocicli, security
from stackr.runtime.spec import (
    ContainerSpec,
    MountSpec,
    NetworkSpec,
    Resources,
    RootfsSpec,
    Ulimit,
    validate_container_id,
)

LAYERS = RootfsSpec(layer_dirs=("/layers/base", "/layers/top"))


def full_spec() -> ContainerSpec:
    return ContainerSpec(
        container_id="web-1",
        rootfs=LAYERS,
        args=("nginx", "-g", "daemon off;"),
        env=("PATH=/bin", "A=b"),
        user="app:staff",
        group_add=("audio",),
        hostname="web",
        mounts=(MountSpec(target="/data", source="/srv/data", read_only=True),
                MountSpec(target="/tmp", kind="tmpfs", tmpfs_size=1024, tmpfs_mode=0o1777)),
        network=NetworkSpec(mode="join", netns_path="/run/stackr/netns/web-1"),
        resources=Resources(memory=1 << 30, cpus=0.5, pids_limit=100),
        cap_add=("NET_ADMIN",),
        cap_drop=("MKNOD",),
        sysctls={"net.ipv4.ip_forward": "1"},
        ulimits=(Ulimit("nofile", 1024, 2048),),
        labels={"io.stackr.project": "demo"},
    )  # fmt: skip


def test_spec_round_trips_through_json() -> None:
    spec = full_spec()
    assert ContainerSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize("bad_id", ["", ".", "..", "a/b", "-x", "x" * 129, "sp ace"])
def test_bad_container_ids_are_refused(bad_id: str) -> None:
    with pytest.raises(UsageError, match="invalid container id"):
        validate_container_id(bad_id)


def test_spec_validation_names_the_container() -> None:
    with pytest.raises(UsageError, match="web: no command"):
        ContainerSpec(container_id="web", rootfs=LAYERS, args=())
    with pytest.raises(UsageError, match="either image layers or a rootfs dir"):
        ContainerSpec(container_id="web", rootfs=RootfsSpec(), args=("sh",))
    with pytest.raises(UsageError, match="relative"):
        ContainerSpec(container_id="web", rootfs=LAYERS, args=("sh",), cwd="app")
    with pytest.raises(UsageError, match="bind mount at /x has no source"):
        ContainerSpec(container_id="web", rootfs=LAYERS, args=("sh",),
                      mounts=(MountSpec(target="/x"),))  # fmt: skip
    with pytest.raises(UsageError, match="netns path"):
        ContainerSpec(container_id="web", rootfs=LAYERS, args=("sh",),
                      network=NetworkSpec(mode="join"))  # fmt: skip


def test_capabilities_follow_docker_rules() -> None:
    spec = full_spec()
    names = security.effective_capability_names(spec)
    assert "CAP_NET_ADMIN" in names and "CAP_MKNOD" not in names and "CAP_CHOWN" in names
    default = ContainerSpec(container_id="d", rootfs=LAYERS, args=("sh",))
    assert security.capability_mask(security.effective_capability_names(default)) == 0xA80425FB
    everything = ContainerSpec(container_id="p", rootfs=LAYERS, args=("sh",), privileged=True)
    assert len(security.effective_capability_names(everything)) == 41
    only_one = ContainerSpec(container_id="o", rootfs=LAYERS, args=("sh",),
                             cap_drop=("ALL",), cap_add=("chown",))  # fmt: skip
    assert security.effective_capability_names(only_one) == frozenset({"CAP_CHOWN"})


def test_mknod_is_kept_only_where_a_device_cgroup_guards_it() -> None:
    default = ContainerSpec(container_id="d", rootfs=LAYERS, args=("sh",))
    assert "CAP_MKNOD" in security.guarded_capability_names(default, device_cgroup=True)
    assert "CAP_MKNOD" not in security.guarded_capability_names(default, device_cgroup=False)
    asked = ContainerSpec(container_id="a", rootfs=LAYERS, args=("sh",), cap_add=("mknod",))
    assert "CAP_MKNOD" in security.guarded_capability_names(asked, device_cgroup=False)
    privileged = ContainerSpec(container_id="p", rootfs=LAYERS, args=("sh",), privileged=True)
    assert "CAP_MKNOD" in security.guarded_capability_names(privileged, device_cgroup=False)
    with pytest.raises(UsageError, match="unknown capability"):
        security.normalise("NOT_A_CAP")


def test_oci_config_describes_the_container() -> None:
    config = oci.config_from_spec(full_spec())
    assert config["ociVersion"] == "1.0.2"
    assert config["process"]["args"] == ["nginx", "-g", "daemon off;"]
    assert config["root"] == {"path": "rootfs", "readonly": False}
    assert {"type": "network", "path": "/run/stackr/netns/web-1"} in config["linux"]["namespaces"]
    assert config["linux"]["resources"]["memory"] == {"limit": 1 << 30}
    assert config["linux"]["resources"]["cpu"] == {"period": 100000, "quota": 50000}
    assert config["linux"]["resources"]["pids"] == {"limit": 100}
    assert "/proc/kcore" in config["linux"]["maskedPaths"]
    assert "/proc/sys" in config["linux"]["readonlyPaths"]
    data_mount = next(m for m in config["mounts"] if m["destination"] == "/data")
    assert data_mount["options"] == ["rbind", "rprivate", "ro"]
    tmp_mount = next(m for m in config["mounts"] if m["destination"] == "/tmp")
    assert "size=1024" in tmp_mount["options"] and "mode=1777" in tmp_mount["options"]
    assert "CAP_NET_ADMIN" in config["process"]["capabilities"]["bounding"]
    assert config["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048}]


def test_config_json_round_trip_keeps_what_the_runtime_uses(tmp_path: Path) -> None:
    spec = replace(full_spec(), rootfs=RootfsSpec(rootfs_dir=str(tmp_path / "rootfs")))
    config = oci.config_from_spec(spec)
    config["root"]["path"] = "rootfs"
    config["process"]["user"] = {"uid": 1000, "gid": 50, "additionalGids": [29]}
    back = oci.spec_from_config(config, tmp_path, "web-1")
    assert back.args == spec.args
    assert back.rootfs.rootfs_dir == str(tmp_path / "rootfs")
    assert back.user == "1000:50" and back.group_add == ("29",)
    assert back.network == spec.network
    assert back.resources == Resources(memory=1 << 30, cpus=0.5, pids_limit=100)
    # (tmpfs mounts come back with the nosuid,nodev the runtime always adds)
    assert [replace(m, options=()) for m in back.mounts] == list(spec.mounts)
    assert security.effective_capability_names(back) == security.effective_capability_names(spec)
    assert back.seccomp == "unconfined"  # no seccomp section: none, as the OCI spec says


def test_config_json_without_network_namespace_means_host(tmp_path: Path) -> None:
    config = {"process": {"args": ["true"]}, "linux": {"namespaces": [{"type": "pid"}]}}
    assert oci.spec_from_config(config, tmp_path, "x").network.mode == "host"
    with pytest.raises(UsageError, match="user namespaces"):
        oci.spec_from_config(
            {"process": {"args": ["true"]}, "linux": {"namespaces": [{"type": "user"}]}},
            tmp_path,
            "x",
        )


@pytest.mark.parametrize(("text", "number"), [("9", 9), ("KILL", 9), ("SIGTERM", 15), ("usr1", 10)])
def test_runc_signal_forms(text: str, number: int) -> None:
    assert ocicli.parse_signal(text) == number


def test_unknown_signal_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown signal"):
        ocicli.parse_signal("NOPE")
