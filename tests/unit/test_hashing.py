"""Config hashes ignore what must not recreate and see what must."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from stackr.hashing import config_hash, service_config


class Deploy(BaseModel):
    model_config = ConfigDict(frozen=True)
    replicas: int | None = None
    memory: str | None = None


class FakeService(BaseModel):
    model_config = ConfigDict(frozen=True)
    image: str
    environment: dict[str, str] = {}
    depends_on: dict[str, str] = {}
    profiles: list[str] = []
    deploy: Deploy | None = None


def test_hash_is_stable_and_order_independent() -> None:
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}).startswith("sha256:")


def test_ordering_and_selection_fields_do_not_count() -> None:
    base = FakeService(image="x", environment={"A": "1"})
    reordered = FakeService(
        image="x", environment={"A": "1"}, depends_on={"db": "healthy"}, profiles=["dev"]
    )
    assert config_hash(service_config(base, "sha256:1")) == config_hash(
        service_config(reordered, "sha256:1")
    )


def test_replicas_do_not_count_but_limits_do() -> None:
    one = FakeService(image="x", deploy=Deploy(replicas=1, memory="1g"))
    three = FakeService(image="x", deploy=Deploy(replicas=3, memory="1g"))
    bigger = FakeService(image="x", deploy=Deploy(replicas=1, memory="2g"))
    assert config_hash(service_config(one, None)) == config_hash(service_config(three, None))
    assert config_hash(service_config(one, None)) != config_hash(service_config(bigger, None))


def test_environment_and_image_id_count() -> None:
    base = FakeService(image="x", environment={"A": "1"})
    changed = FakeService(image="x", environment={"A": "2"})
    assert config_hash(service_config(base, "i")) != config_hash(service_config(changed, "i"))
    assert config_hash(service_config(base, "i")) != config_hash(service_config(base, "j"))
