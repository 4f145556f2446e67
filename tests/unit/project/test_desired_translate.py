"""Desired state and the engine bodies made from a loaded stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackr.errors import NotImplementedYetError, UsageError
from stackr.graph import ResourceId
from stackr.project import names
from stackr.project.desired import DependencyWait, desired_stack, parse_scale, with_scale
from stackr.project.translate import container_body, network_body, volume_body
from tests.unit.project.stacks import WEBAPP, load

IMAGES = {"busybox:latest": "sha256:aaa"}


def test_desired_names_hashes_needs_and_waits(tmp_path: Path) -> None:
    stack, graph = load(WEBAPP, tmp_path)
    desired = desired_stack(stack, graph, IMAGES)
    api = ResourceId("service", "api", 1)
    assert desired.engine_names[api] == "demo-api-1"
    assert desired.engine_names[ResourceId("network", "back")] == "demo_back"
    assert desired.engine_names[ResourceId("network", "outside")] == "shared-net"
    assert desired.external == frozenset({ResourceId("network", "outside")})
    assert ResourceId("network", "outside") not in desired.resources
    assert {r for r in desired.resources if r.kind == "service" and r.name == "cache"} == {
        ResourceId("service", "cache", 1), ResourceId("service", "cache", 2)}
    assert desired.waits[api] == (
        DependencyWait(ResourceId("service", "cache", 1), "service_started", False),
        DependencyWait(ResourceId("service", "cache", 2), "service_started", False),
        DependencyWait(ResourceId("service", "db", 1), "service_healthy", True),
    )
    assert ResourceId("network", "back") in desired.needs[api]
    assert all(need.kind != "image" for need in desired.needs[api])
    assert desired.resources[api].config["image_id"] == "sha256:aaa"


def test_only_the_changed_service_changes_hash(tmp_path: Path) -> None:
    stack, graph = load(WEBAPP, tmp_path)
    before = desired_stack(stack, graph, IMAGES)
    stack2, graph2 = load(WEBAPP.replace("MODE: one", "MODE: two"), tmp_path)
    after = desired_stack(stack2, graph2, IMAGES)
    changed = {r for r in before.resources
               if before.resources[r].config_hash != after.resources[r].config_hash}
    assert changed == {ResourceId("service", "api", 1)}
    new_image = desired_stack(stack, graph, {"busybox:latest": "sha256:bbb"})
    assert all(new_image.resources[r].config_hash != before.resources[r].config_hash
               for r in before.resources if r.kind == "service")


def test_depends_on_and_scale_do_not_change_the_hash(tmp_path: Path) -> None:
    stack, graph = load(WEBAPP, tmp_path)
    before = desired_stack(stack, graph, IMAGES)
    scaled = with_scale(stack, {"web": 3, "cache": 1})
    from stackr.graph import build_graph

    after = desired_stack(scaled, build_graph(scaled), IMAGES)
    web1 = ResourceId("service", "web", 1)
    assert after.resources[web1].config_hash == before.resources[web1].config_hash
    assert ResourceId("service", "web", 3) in after.resources
    with pytest.raises(UsageError, match="no such service"):
        with_scale(stack, {"nope": 1})
    assert parse_scale(["web=3"]) == {"web": 3}
    with pytest.raises(UsageError):
        parse_scale(["web"])


def test_container_body(tmp_path: Path) -> None:
    stack, graph = load(WEBAPP, tmp_path)
    desired = desired_stack(stack, graph, IMAGES)
    api = container_body(stack, ResourceId("service", "api", 1), desired)
    assert api["Image"] == "busybox:latest"
    assert api["Cmd"] == ["sh", "-c", "exec api"] and "Entrypoint" not in api
    assert api["Env"] == ["EMPTY=", "MODE=one"]
    assert api["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert api["HostConfig"]["NetworkMode"] == "demo_back"
    assert api["NetworkingConfig"]["EndpointsConfig"] == {
        "demo_back": {"Aliases": ["api", "backend"]}, "demo_front": {"Aliases": ["api"]}}
    labels = api["Labels"]
    assert labels[names.LABEL_NEEDS].split(",") == sorted(
        str(r) for r in desired.needs[ResourceId("service", "api", 1)])
    assert names.parse_needs(labels[names.LABEL_NEEDS]) == desired.needs[
        ResourceId("service", "api", 1)]

    db = container_body(stack, ResourceId("service", "db", 1), desired)
    assert db["HostConfig"]["Mounts"] == [
        {"Type": "volume", "Target": "/data", "ReadOnly": False, "Source": "demo_data"},
        {"Type": "bind", "Target": "/seed", "ReadOnly": True, "Source": "/srv/seed"},
    ]
    assert db["HostConfig"]["Memory"] == 64 * 1024 * 1024
    assert db["HostConfig"]["NanoCpus"] == 500_000_000
    assert db["Healthcheck"] == {"Test": ["CMD-SHELL", "test -d /data"],
                                 "Interval": 2_000_000_000, "Retries": 3}
    assert "Cmd" not in db  # the image's command

    cache = container_body(stack, ResourceId("service", "cache", 1), desired)
    assert cache["Entrypoint"] == ["sleep"] and "Cmd" not in cache

    web = container_body(stack, ResourceId("service", "web", 1), desired)
    assert web["HostConfig"]["PortBindings"] == {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}
    assert set(web["ExposedPorts"]) == {"80/tcp", "9000/tcp"}
    assert web["HostConfig"]["Tmpfs"] == {"/run": "size=1m"}
    assert web["Labels"]["io.stackr.replica"] == "1"
    cache2 = container_body(stack, ResourceId("service", "cache", 2), desired)
    assert cache2["Labels"]["io.stackr.replica"] == "2"


def test_network_and_volume_bodies(tmp_path: Path) -> None:
    stack, graph = load(WEBAPP, tmp_path)
    desired = desired_stack(stack, graph, IMAGES)
    back = network_body(stack, ResourceId("network", "back"), desired)
    assert back["Name"] == "demo_back" and back["Internal"] is True
    assert back["Labels"]["io.stackr.project"] == "demo"
    assert back["Labels"]["io.stackr.network"] == "back"
    data = volume_body(stack, ResourceId("volume", "data"), desired)
    assert data["Name"] == "demo_data" and data["Labels"]["io.stackr.volume"] == "data"


def test_refused_features_are_named(tmp_path: Path) -> None:
    stack, graph = load("""
name: demo
services:
  one:
    image: busybox
    runtime: runc
""", tmp_path)
    desired = desired_stack(stack, graph, {"busybox": "sha256:a"})
    with pytest.raises(NotImplementedYetError, match="service one: runtime not supported"):
        container_body(stack, ResourceId("service", "one", 1), desired)


def test_ipc_and_pid_modes_reach_the_engine(tmp_path: Path) -> None:
    stack, graph = load("""
name: demo
services:
  main:
    image: busybox
  debug:
    image: busybox
    ipc: service:main
    pid: service:main
  tool:
    image: busybox
    ipc: host
    pid: host
""", tmp_path)
    desired = desired_stack(stack, graph, {"busybox": "sha256:a"})
    debug = container_body(stack, ResourceId("service", "debug", 1), desired)["HostConfig"]
    assert (debug["IpcMode"], debug["PidMode"]) == ("container:demo-main-1",) * 2
    assert ResourceId("service", "main", 1) in desired.needs[ResourceId("service", "debug", 1)]
    tool = container_body(stack, ResourceId("service", "tool", 1), desired)["HostConfig"]
    assert (tool["IpcMode"], tool["PidMode"]) == ("host", "host")
    main = container_body(stack, ResourceId("service", "main", 1), desired)["HostConfig"]
    assert "IpcMode" not in main and "PidMode" not in main


def test_uts_cgroup_and_userns_modes_reach_the_engine(tmp_path: Path) -> None:
    stack, graph = load("""
name: demo
services:
  hosted:
    image: busybox
    uts: host
    cgroup: host
    userns_mode: host
  private:
    image: busybox
    cgroup: private
""", tmp_path)
    desired = desired_stack(stack, graph, {"busybox": "sha256:a"})
    hosted = container_body(stack, ResourceId("service", "hosted", 1), desired)
    assert (hosted["HostConfig"]["UTSMode"], hosted["HostConfig"]["CgroupnsMode"],
            hosted["HostConfig"]["UsernsMode"]) == ("host", "host", "host")
    assert "Hostname" not in hosted
    private = container_body(stack, ResourceId("service", "private", 1), desired)
    assert private["HostConfig"]["CgroupnsMode"] == "private"
    assert "UTSMode" not in private["HostConfig"]


def test_hooks_are_recorded_and_a_recreate_stops_with_the_old_ones(tmp_path: Path) -> None:
    import json

    from stackr.project import names
    from stackr.project.observe import Observation
    from stackr.project.requests import request_bodies, up_requests

    text = """
name: demo
services:
  app:
    image: busybox
    post_start: [{command: "echo up", user: "1000", environment: [A=1], working_dir: /srv}]
    pre_stop: [{command: [sh, -c, "echo NEW"]}]
"""
    stack, graph = load(text, tmp_path)
    desired = desired_stack(stack, graph, {"busybox": "sha256:a"})
    app = ResourceId("service", "app", 1)
    labels = container_body(stack, app, desired)["Labels"]
    recorded = json.loads(labels[names.LABEL_HOOKS])
    assert recorded["post_start"] == [{"Cmd": ["echo", "up"], "Env": ["A=1"], "User": "1000",
                                       "WorkingDir": "/srv", "AttachStdout": True,
                                       "AttachStderr": True}]
    old_label = json.dumps({"post_start": [], "pre_stop": [{"Cmd": ["echo", "OLD"]}]})
    observation = Observation("demo", {}, {app: "old-id"}, {app: {
        "Names": ["/demo-app-1"], "Labels": {names.LABEL_HOOKS: old_label}}})
    hooks = up_requests(request_bodies(stack, desired), desired, observation).hooks[app]
    assert [body["Cmd"] for body in hooks.post_start] == [["echo", "up"]]
    assert [body["Cmd"] for body in hooks.pre_stop] == [["echo", "OLD"]]
    plain, _ = load(text.split("    post_start")[0], tmp_path)
    assert names.LABEL_HOOKS not in container_body(
        plain, app, desired_stack(plain, _, {"busybox": "sha256:a"}))["Labels"]


def test_mac_addresses_reach_the_first_or_named_network(tmp_path: Path) -> None:
    stack, graph = load("""
name: demo
services:
  one:
    image: busybox
    mac_address: 02:42:AC:11:00:0A
    networks: {front: {priority: 10}, back: {mac_address: "02:42:ac:11:00:0b"}}
  many:
    image: busybox
    scale: 2
    mac_address: 02:42:ac:11:00:0c
networks: {front: {}, back: {}}
""", tmp_path)
    desired = desired_stack(stack, graph, {"busybox": "sha256:a"})
    body = container_body(stack, ResourceId("service", "one", 1), desired)
    endpoints = body["NetworkingConfig"]["EndpointsConfig"]
    assert endpoints["demo_front"]["MacAddress"] == "02:42:ac:11:00:0a"
    assert endpoints["demo_back"]["MacAddress"] == "02:42:ac:11:00:0b"
    with pytest.raises(UsageError, match="MAC address is one interface's"):
        container_body(stack, ResourceId("service", "many", 1), desired)


def test_blkio_config_reaches_the_engine(tmp_path: Path) -> None:
    stack, graph = load("""
name: demo
services:
  db:
    image: busybox
    blkio_config:
      weight: 300
      weight_device: [{path: /dev/vda, weight: 400}]
      device_read_bps: [{path: /dev/vda, rate: 12mb}]
      device_write_iops: [{path: /dev/vda, rate: 120}]
""", tmp_path)
    desired = desired_stack(stack, graph, {"busybox": "sha256:a"})
    host_config = container_body(stack, ResourceId("service", "db", 1), desired)["HostConfig"]
    assert host_config["BlkioWeight"] == 300
    assert host_config["BlkioWeightDevice"] == [{"Path": "/dev/vda", "Weight": 400}]
    assert host_config["BlkioDeviceReadBps"] == [{"Path": "/dev/vda", "Rate": 12 << 20}]
    assert host_config["BlkioDeviceWriteIOps"] == [{"Path": "/dev/vda", "Rate": 120}]
    assert "BlkioDeviceWriteBps" not in host_config


def test_container_modes_join_a_container_outside_the_stack(tmp_path: Path) -> None:
    stack, graph = load("""
name: demo
services:
  sidecar:
    image: busybox
    network_mode: container:vpn
    ipc: container:vpn
    pid: container:4f1a
""", tmp_path)
    desired = desired_stack(stack, graph, {"busybox": "sha256:a"})
    resource = ResourceId("service", "sidecar", 1)
    host_config = container_body(stack, resource, desired)["HostConfig"]
    assert (host_config["NetworkMode"], host_config["IpcMode"], host_config["PidMode"]) == (
        "container:vpn", "container:vpn", "container:4f1a")
    assert desired.needs[resource] == ()  # not a service: nothing to order


def test_anonymous_volumes_are_per_replica_project_volumes(tmp_path: Path) -> None:
    stack, graph = load("""
name: demo
services:
  one:
    image: busybox
    scale: 2
    volumes: [/app/node_modules, "data:/data"]
volumes:
  data: {}
""", tmp_path)
    desired = desired_stack(stack, graph, {"busybox": "sha256:a"})
    sources = []
    for replica in (1, 2):
        body = container_body(stack, ResourceId("service", "one", replica), desired)
        mounts = {m["Target"]: m["Source"] for m in body["HostConfig"]["Mounts"]}
        assert mounts["/data"] == "demo_data"
        sources.append(mounts["/app/node_modules"])
        anonymous = ResourceId("volume", sources[-1].removeprefix("demo_"))
        # made before the container that mounts it, with the project's labels
        assert anonymous in desired.needs[ResourceId("service", "one", replica)]
        assert desired.resources[anonymous].config == {"anonymous": True}
    assert sources[0] != sources[1] and all(s.startswith("demo_one-") for s in sources)


def test_name_resolution_keys_reach_the_engine(tmp_path: Path) -> None:
    stack, graph = load("""
name: demo
services:
  one:
    image: busybox
    extra_hosts: ["host.docker.internal:host-gateway", "db.local=10.0.0.5"]
    dns: [192.0.2.53]
    dns_search: [corp.example]
    dns_opt: [ndots:2]
""", tmp_path)
    desired = desired_stack(stack, graph, {"busybox": "sha256:a"})
    host_config = container_body(stack, ResourceId("service", "one", 1), desired)["HostConfig"]
    assert host_config["ExtraHosts"] == [
        "db.local:10.0.0.5", "host.docker.internal:host-gateway"
    ]
    assert host_config["Dns"] == ["192.0.2.53"]
    assert host_config["DnsSearch"] == ["corp.example"]
    assert host_config["DnsOptions"] == ["ndots:2"]


def test_swappiness_and_the_oom_killer_reach_the_engine(tmp_path: Path) -> None:
    text = """
name: demo
services:
  tuned:
    image: busybox
    mem_swappiness: 0
    oom_kill_disable: true
  plain:
    image: busybox
    oom_kill_disable: false
"""
    stack, graph = load(text, tmp_path)
    desired = desired_stack(stack, graph, {"busybox": "sha256:a"})
    tuned = ResourceId("service", "tuned", 1)
    host_config = container_body(stack, tuned, desired)["HostConfig"]
    assert (host_config["MemorySwappiness"], host_config["OomKillDisable"]) == (0, True)
    plain = container_body(stack, ResourceId("service", "plain", 1), desired)["HostConfig"]
    assert "MemorySwappiness" not in plain and "OomKillDisable" not in plain
    stack2, graph2 = load(text.replace("mem_swappiness: 0", "mem_swappiness: 10"), tmp_path)
    changed = desired_stack(stack2, graph2, {"busybox": "sha256:a"})
    assert changed.resources[tuned].config_hash != desired.resources[tuned].config_hash


def test_container_name_with_replicas_is_refused(tmp_path: Path) -> None:
    stack, _ = load("""
name: demo
services:
  one: {image: busybox, container_name: fixed}
""", tmp_path)
    scaled = with_scale(stack, {"one": 2})  # --scale: after the loader's checks
    from stackr.graph import build_graph

    with pytest.raises(UsageError, match="container_name"):
        desired_stack(scaled, build_graph(scaled), {})


def test_volumes_from_copies_volumes_and_binds(tmp_path: Path) -> None:
    stack, graph = load("""
name: demo
services:
  data:
    image: busybox
    volumes: ["shared:/shared", "/srv:/srv:ro", /cache, {type: tmpfs, target: /tmp}]
  app:
    image: busybox
    volumes: ["/own:/shared"]
    volumes_from: ["data:ro"]
volumes:
  shared: {}
""", tmp_path)
    desired = desired_stack(stack, graph, {"busybox": "sha256:a"})
    body = container_body(stack, ResourceId("service", "app", 1), desired)
    mounts = {m["Target"]: (m["Type"], m["Source"], m["ReadOnly"])
              for m in body["HostConfig"]["Mounts"]}
    cache = next(m["Source"] for m in body["HostConfig"]["Mounts"] if m["Target"] == "/cache")
    assert mounts == {
        "/shared": ("bind", "/own", False),  # its own mount wins
        "/srv": ("bind", "/srv", True),
        "/cache": ("volume", cache, True),  # data's anonymous volume, read-only (":ro")
    }
    assert cache.startswith("demo_data-1-anon-")
    assert ResourceId("service", "data", 1) in desired.needs[ResourceId("service", "app", 1)]
