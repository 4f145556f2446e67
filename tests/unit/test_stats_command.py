"""``stackr stats``: CPU percent over an interval and the table it prints."""

from __future__ import annotations

from stackr.commands.stats import cpu_percent, render


def sample(cpu_ns: int, memory: int, limit: int | None, pids: int) -> dict[str, object]:
    return {
        "cpu_stats": {"cpu_usage": {"total_usage": cpu_ns}},
        "memory_stats": {"usage": memory, "limit": limit},
        "pids_stats": {"current": pids},
    }


def test_cpu_percent_is_of_one_cpu() -> None:
    assert cpu_percent(0, 500_000_000, 1.0) == 50.0
    assert cpu_percent(0, 2_000_000_000, 1.0) == 200.0
    assert cpu_percent(10, 5, 1.0) == 0.0
    assert cpu_percent(0, 1, 0.0) == 0.0


def test_table() -> None:
    before = {"app-web-1": sample(0, 0, None, 1)}
    after = {
        "app-web-1": sample(250_000_000, 3 * 1024 * 1024, None, 2),
        "app-db-1": sample(0, 512, 64 * 1024 * 1024, 1),
    }
    lines = render(before, after, 1.0)
    assert lines[0].split() == ["NAME", "CPU", "%", "MEM", "USAGE", "/", "LIMIT", "PIDS"]
    assert lines[1].split() == ["app-db-1", "0.00%", "512B", "/", "64.0MiB", "1"]
    assert lines[2].split() == ["app-web-1", "25.00%", "3.0MiB", "/", "unlimited", "2"]
