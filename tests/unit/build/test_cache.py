from __future__ import annotations

from pathlib import Path

from stackr.build.cache import BuildCache, CacheEntry, cache_dir, step_key


def test_key_depends_on_parent_and_step() -> None:
    base = step_key(["sha256:a"], {"run": ["x"]})
    assert base == step_key(["sha256:a"], {"run": ["x"]})
    assert base != step_key(["sha256:b"], {"run": ["x"]})
    assert base != step_key(["sha256:a"], {"run": ["y"]})
    assert base != step_key([], {"run": ["x"]})


def test_put_get_roundtrip_under_state_root(stackr_dirs: tuple[Path, Path]) -> None:
    cache = BuildCache()
    assert cache.directory == stackr_dirs[0] / "build-cache" == cache_dir()
    key = step_key([], {"run": ["x"]})
    assert cache.get(key) is None
    cache.put(key, CacheEntry("sha256:layer"))
    cache.put(step_key([], {"run": ["y"]}), CacheEntry(None))
    assert cache.get(key) == CacheEntry("sha256:layer")
    assert cache.get(step_key([], {"run": ["y"]})) == CacheEntry(None)
    assert not list(cache.directory.rglob(".tmp-*"))
    assert cache.clear() == 2
    assert cache.get(key) is None


def test_corrupt_or_foreign_entries_are_misses(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path)
    key = "ab" * 32
    path = tmp_path / key[:2] / f"{key}.json"
    path.parent.mkdir()
    path.write_text("{not json")
    assert cache.get(key) is None
    path.write_text('{"v": 999, "layer": "sha256:x"}')
    assert cache.get(key) is None
