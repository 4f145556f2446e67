"""The fork server's JSON reading without the ``json`` package (``_loads_json``)."""

from __future__ import annotations

import json
import math

import pytest

from stackr.runtime.forkserver import _loads_json


@pytest.mark.parametrize("value", [
    {"state_dir": "/run/stackr/x", "cgroup": {"driver": "v1", "root": "/sys/fs/cgroup"}},
    {"spec": {"args": ["sh", "-c", "echo \u00e9 \"quoted\""], "env": [], "n": -1.5e3}},
    [1, 2, None, True, False, "x"], "text", 0, {},
])
def test_what_json_dumps_reads_back(value: object) -> None:
    assert _loads_json(json.dumps(value).encode()) == value
    assert _loads_json(json.dumps(value, indent=2).encode() + b"\n") == value


def test_constants_as_json_reads_them() -> None:
    assert math.isnan(_loads_json(b"NaN"))
    assert _loads_json(b"[Infinity, -Infinity]") == [math.inf, -math.inf]


@pytest.mark.parametrize("data", [b"", b"   ", b"{", b'{"a": 1} x', b"{'a': 1}", b"\xff\xfe",
                                  b'{"a": 1}{"b": 2}', b"[1,]"])
def test_what_is_not_json_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        _loads_json(data)
