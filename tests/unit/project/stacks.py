"""Stacks for the project unit tests, loaded through the real loader."""

from __future__ import annotations

from pathlib import Path

from stackr.config.models import Stack
from stackr.config.pipeline import load_stack
from stackr.config.project import LoadOptions
from stackr.graph import StackGraph, build_graph

WEBAPP = """
name: demo
services:
  db:
    image: busybox:latest
    volumes: [data:/data, /srv/seed:/seed:ro]
    healthcheck: {test: [CMD-SHELL, test -d /data], interval: 2s, retries: 3}
    networks: [back]
    mem_limit: 64m
    cpus: 0.5
  api:
    image: busybox:latest
    command: sh -c 'exec api'
    environment: {MODE: one, EMPTY: ""}
    depends_on:
      db: {condition: service_healthy}
      cache: {condition: service_started, required: false}
    networks:
      back: {aliases: [backend]}
      front: {}
    restart: on-failure:3
  cache:
    image: busybox:latest
    entrypoint: [sleep]
    deploy: {replicas: 2}
    networks: [back]
  web:
    image: busybox:latest
    ports: ["127.0.0.1:8080:80", "9000"]
    tmpfs: [/run:size=1m]
    depends_on: [api]
    networks: [front]
networks:
  front: {}
  back: {internal: true}
  outside: {external: true, name: shared-net}
volumes:
  data: {}
"""


def load(text: str, tmp_path: Path) -> tuple[Stack, StackGraph]:
    path = tmp_path / "compose.yaml"
    path.write_text(text)
    loaded = load_stack(LoadOptions(files=(path,), cwd=tmp_path, environ={}))
    return loaded.stack, build_graph(loaded.stack, loaded.raw.source_map)
