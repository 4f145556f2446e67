"""The OpenAPI file and the router describe the same API."""

from __future__ import annotations

from stackr.engine.app import build_router
from tests.unit.engine.openapi_subset import KNOWN, load_spec, resolve


def test_every_documented_path_is_served_and_every_route_is_documented() -> None:
    documented = {
        (method.upper(), path)
        for path, item in load_spec()["paths"].items()
        for method in item
        if method in ("get", "post", "put", "delete")
    }
    # OpenAPI has no "rest of the path" parameter: {name*} is documented as {name}.
    served = {(method, path.replace("*}", "}")) for method, path in build_router().patterns()}
    assert documented - served == set(), "documented but not served"
    assert served - documented == set(), "served but not documented"


def test_schemas_use_only_the_keywords_the_checker_knows() -> None:
    def walk(schema: object) -> None:
        if isinstance(schema, dict):
            resolved = resolve(schema)
            assert set(resolved) <= KNOWN, set(resolved) - KNOWN
            for sub in resolved.get("properties", {}).values():
                walk(sub)
            for key in ("items", "additionalProperties"):
                if isinstance(resolved.get(key), dict):
                    walk(resolved[key])

    for schema in load_spec()["components"]["schemas"].values():
        walk(schema)


def test_every_operation_documents_a_success_status() -> None:
    for path, item in load_spec()["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            statuses = {int(s) for s in operation["responses"]}
            assert any(200 <= s < 400 or s == 101 for s in statuses), f"{method} {path}"
