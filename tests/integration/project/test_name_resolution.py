"""extra_hosts, dns_search and dns_opt reach the container's /etc/hosts and resolv.conf."""

from __future__ import annotations

from tests.integration.project.conftest import Project

STACK = """
services:
  app:
    image: busybox:latest
    command: [sleep, "3600"]
    stop_signal: SIGKILL
    extra_hosts:
      - "host.docker.internal:host-gateway"
      - "db.local=192.0.2.10"
    dns_search: [corp.example]
    dns_opt: ["ndots:2"]
"""


def test_extra_hosts_and_resolver_options_are_in_the_container(project: Project) -> None:
    project.write(STACK)
    project.stackr("up", "-d")
    hosts = project.stackr("exec", "-T", "app", "cat", "/etc/hosts").stdout
    resolv = project.stackr("exec", "-T", "app", "cat", "/etc/resolv.conf").stdout
    lines = dict(reversed(line.split("\t", 1)) for line in hosts.splitlines() if "\t" in line)
    assert lines["db.local"] == "192.0.2.10"
    gateway = next(line.split()[1] for line in resolv.splitlines() if line.startswith("nameserver"))
    assert lines["host.docker.internal"] == gateway  # host-gateway: the network's gateway
    assert "search corp.example" in resolv
    assert "options ndots:2" in resolv
    project.stackr("down")


SIDECAR = """
services:
  web:
    image: busybox:latest
    command: [httpd, -f, -p, "8080", -h, /etc]
    stop_signal: SIGKILL
  sidecar:
    image: busybox:latest
    command: [sleep, "3600"]
    stop_signal: SIGKILL
    network_mode: service:web
"""


def test_network_mode_service_shares_the_network_and_follows_a_recreate(
    project: Project,
) -> None:
    project.write(SIDECAR)
    project.stackr("up", "-d")
    # one network namespace: the same eth0, before and after web is recreated
    links_web = project.stackr("exec", "-T", "web", "cat", "/sys/class/net/eth0/address").stdout
    links_side = project.stackr("exec", "-T", "sidecar", "cat",
                                "/sys/class/net/eth0/address").stdout
    assert links_web.strip() and links_web == links_side
    pids_before = project.pids()
    project.write(SIDECAR.replace('"8080"', '"8081"'))
    project.stackr("up", "-d")
    pids_after = project.pids()
    assert all(pids_after[name] != pids_before[name] for name in pids_before)  # both follow
    links_web = project.stackr("exec", "-T", "web", "cat", "/sys/class/net/eth0/address").stdout
    links_side = project.stackr("exec", "-T", "sidecar", "cat",
                                "/sys/class/net/eth0/address").stdout
    assert links_web == links_side
    project.stackr("down")
