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
