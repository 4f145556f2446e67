"""Generated stack files for benchmarks."""

from __future__ import annotations

from pathlib import Path


def write_many_services(directory: Path, count: int = 50) -> Path:
    """A realistic stack of ``count`` services: images, ports, env, volumes, healthchecks,
    depends_on chains and two networks, with interpolation."""
    lines = ["name: bench", "services:"]
    for index in range(count):
        lines += [
            f"  svc{index}:",
            "    image: busybox:latest",
            f'    command: ["sh", "-c", "echo svc{index}; sleep 3600"]',
            "    environment:",
            f'      INDEX: "{index}"',
            "      LEVEL: ${LEVEL:-info}",
            "    ports:",
            f'      - "127.0.0.1:{20000 + index}:80"',
            "    volumes:",
            f"      - data{index % 5}:/data",
            "      - ./conf:/etc/conf:ro",
            "    networks: [front, back]",
            "    healthcheck:",
            '      test: ["CMD-SHELL", "true"]',
            "      interval: 5s",
            "    restart: unless-stopped",
        ]
        if index:
            lines += [
                "    depends_on:",
                f"      svc{index - 1}:",
                "        condition: service_started",
            ]
    lines += ["networks:", "  front: {}", "  back: {}", "volumes:"]
    lines += [f"  data{index}: {{}}" for index in range(5)]
    path = directory / "compose.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path
