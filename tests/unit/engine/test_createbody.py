"""The create body (Docker's shape) mapped to the runtime's ContainerSpec."""

from __future__ import annotations

import pytest

from stackr.engine.createbody import check_create_body, signal_number, to_runtime_spec
from stackr.engine.routing import ApiError

CONTAINER_ID = "a" * 64


def spec_of(body: dict[str, object]):  # type: ignore[no-untyped-def]
    config = check_create_body({"RootfsDir": "/rootfs", "Cmd": ["run"], **body})
    return to_runtime_spec(CONTAINER_ID, config, lambda name: f"/volumes/{name}/_data")


def test_command_environment_and_defaults() -> None:
    spec = spec_of({"Entrypoint": ["/bin/entry"], "Cmd": ["a", "b"], "Env": ["A=1"],
                    "WorkingDir": "/srv", "User": "1000:1000", "Labels": {"k": "v"}})
    assert spec.args == ("/bin/entry", "a", "b")
    assert spec.env[0].startswith("PATH=") and "A=1" in spec.env
    assert (spec.cwd, spec.user, dict(spec.labels)) == ("/srv", "1000:1000", {"k": "v"})
    assert spec.hostname == CONTAINER_ID[:12]
    assert spec.network.mode == "none" and spec.rootfs.rootfs_dir == "/rootfs"


def test_mounts_binds_volumes_and_tmpfs() -> None:
    spec = spec_of({"HostConfig": {
        "Binds": ["/host/dir:/data:ro", "cache:/cache"],
        "Mounts": [{"Type": "tmpfs", "Target": "/scratch",
                    "TmpfsOptions": {"SizeBytes": 1024, "Mode": 0o700}},
                   {"Type": "volume", "Source": "named", "Target": "/named", "ReadOnly": True}],
        "Tmpfs": {"/run": "size=1m"},
    }})
    mounts = {m.target: m for m in spec.mounts}
    assert mounts["/data"].kind == "bind" and mounts["/data"].read_only
    assert mounts["/cache"].kind == "volume" and mounts["/cache"].source == "/volumes/cache/_data"
    assert mounts["/scratch"].tmpfs_size == 1024 and mounts["/scratch"].tmpfs_mode == 0o700
    assert mounts["/named"].read_only and mounts["/named"].source == "/volumes/named/_data"
    assert mounts["/run"].tmpfs_size == 1024 * 1024


def test_resources_and_security() -> None:
    spec = spec_of({"StopSignal": "SIGINT", "HostConfig": {
        "Memory": 1 << 26, "NanoCpus": 1_500_000_000, "PidsLimit": 64, "CpuShares": 512,
        "CapAdd": ["NET_ADMIN"], "CapDrop": ["ALL"], "ReadonlyRootfs": True, "Init": True,
        "SecurityOpt": ["no-new-privileges", "seccomp=unconfined"], "NetworkMode": "host",
        "Sysctls": {"net.core.somaxconn": "1024"}, "ShmSize": 1 << 20,
        "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
    }})
    assert spec.resources.memory == 1 << 26 and spec.resources.cpus == 1.5
    assert spec.resources.pids_limit == 64 and spec.resources.cpu_shares == 512
    assert spec.cap_add == ("NET_ADMIN",) and spec.cap_drop == ("ALL",)
    assert spec.read_only and spec.init and spec.no_new_privileges
    assert spec.seccomp == "unconfined" and spec.network.mode == "host"
    assert spec.stop_signal == "SIGINT" and spec.shm_size == 1 << 20
    assert spec.ulimits[0].name == "nofile" and spec.ulimits[0].hard == 2048
    tuned = spec_of({"HostConfig": {"MemorySwappiness": 0, "OomKillDisable": True}})
    assert (tuned.resources.memory_swappiness, tuned.resources.disable_oom_killer) == (0, True)
    hosted = spec_of({"HostConfig": {"UTSMode": "host", "CgroupnsMode": "host"}})
    assert (hosted.uts_namespace, hosted.cgroup_namespace, hosted.hostname) == ("host",) * 2 + ("",)
    own = spec_of({"HostConfig": {"CgroupnsMode": "private"}})
    assert (own.uts_namespace, own.cgroup_namespace) == ("", "")
    assert own.hostname
    ruled = spec_of({"HostConfig": {"DeviceCgroupRules": ["c 188:* rmw"]}})
    assert ruled.device_cgroup_rules == ("c 188:* rmw",)
    host_value = spec_of({"HostConfig": {"MemorySwappiness": -1}}).resources
    assert (host_value.memory_swappiness, host_value.disable_oom_killer) == (None, False)


def test_a_network_name_and_a_netns_path() -> None:
    assert spec_of({"HostConfig": {"NetworkMode": "proj_default"}}).network.mode == "none"
    joined = spec_of({"HostConfig": {"NetworkMode": "ns:/run/netns/x"}}).network
    assert (joined.mode, joined.netns_path) == ("join", "/run/netns/x")


@pytest.mark.parametrize("body", [
    {"AttachStdin": "yes"},
    {"HostConfig": {"ConsoleSize": [24]}},
    {"Env": ["NOEQUALS"]},
    {"Healthcheck": {"Test": ["WHAT", "x"]}},
    {"Healthcheck": {"Test": ["CMD"]}},
    {"Healthcheck": {"Test": ["CMD", "x"], "Interval": -1}},
    {"HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "80"}]}}},
    {"HostConfig": {"NetworkMode": "../x"}},
    {"NetworkingConfig": {"EndpointsConfig": {"net": {"Links": []}}}},
    {"StopSignal": "SIGNOPE"},
    {"Tty": "yes"},
    {"HostConfig": {"LogConfig": {"Type": "syslog"}}},
    {"HostConfig": {"LogConfig": {"Config": {"compress": "true"}}}},
    {"HostConfig": {"LogConfig": {"Config": {"max-size": "lots"}}}},
    {"HostConfig": {"LogConfig": {"Config": {"max-file": "0"}}}},
    {"HostConfig": {"MemorySwappiness": 101}},
    {"HostConfig": {"MemorySwappiness": True}},
    {"HostConfig": {"OomKillDisable": 1}},
    {"HostConfig": {"UTSMode": "private"}},
    {"HostConfig": {"BlkioDeviceReadBps": [{"Path": "/dev/null", "Rate": 1}]}},
    {"HostConfig": {"BlkioDeviceReadBps": [{"Path": "/dev/sda"}]}},
    {"HostConfig": {"DeviceCgroupRules": ["c 188 rmw"]}},
    {"HostConfig": {"CgroupnsMode": "shared"}},
    {"HostConfig": {"UsernsMode": "keep-id"}},
    {"Hostname": "web", "HostConfig": {"UTSMode": "host"}},
])
def test_refused(body: dict[str, object]) -> None:
    with pytest.raises(ApiError) as caught:
        spec_of(body)
    assert caught.value.status == 400


def test_signal_numbers() -> None:
    assert signal_number("SIGKILL") == 9 and signal_number("term") == 15
    assert signal_number("9") == 9 and signal_number(2) == 2
    with pytest.raises(ApiError):
        signal_number(0)
