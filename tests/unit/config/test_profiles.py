from __future__ import annotations

import pytest

from stackr.config.profiles import all_profiles, select_profiles
from stackr.errors import StackFileError
from tests.unit.config.model_helpers import stack_of

STACK = {
    "services": {
        "web": {
            "image": "x",
            "depends_on": {"metrics": {"condition": "service_started", "required": False}},
        },
        "debugger": {"image": "x", "profiles": ["debug"]},
        "metrics": {"image": "x", "profiles": ["monitoring", "debug"]},
        "tests": {"image": "x", "profiles": ["test"]},
    }
}


def test_services_without_profiles_always_run() -> None:
    stack = select_profiles(stack_of(STACK), ())
    assert list(stack.services) == ["web"]
    # metrics is optional for web (required: false): the dependency is dropped with it.
    assert stack.services["web"].depends_on == {}


def test_a_profile_enables_its_services() -> None:
    stack = select_profiles(stack_of(STACK), ["debug"])
    assert list(stack.services) == ["web", "debugger", "metrics"]
    assert set(stack.services["web"].depends_on) == {"metrics"}


def test_star_enables_every_profile() -> None:
    assert set(select_profiles(stack_of(STACK), ["*"]).services) == {
        "web",
        "debugger",
        "metrics",
        "tests",
    }


def test_required_dependency_on_a_disabled_service_is_an_error() -> None:
    stack = stack_of(
        {
            "services": {
                "web": {"image": "x", "depends_on": ["db"]},
                "db": {"image": "x", "profiles": ["data", "all"]},
            }
        }
    )
    with pytest.raises(StackFileError) as caught:
        select_profiles(stack, ["other"])
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.path == "services.web.depends_on.db"
    assert diagnostic.message == 'service "db" is not enabled by the active profiles'
    assert diagnostic.hint == "enable one of its profiles: data, all"
    assert set(select_profiles(stack, ["all"]).services) == {"web", "db"}


def test_selection_keeps_the_rest_of_the_stack() -> None:
    full = stack_of(STACK)
    selected = select_profiles(full, ["test"])
    assert selected.networks == full.networks
    assert selected.name == full.name
    assert full.services.keys() == {"web", "debugger", "metrics", "tests"}  # not modified


def test_all_profiles() -> None:
    assert all_profiles(stack_of(STACK)) == ("debug", "monitoring", "test")


def test_links_and_shared_namespaces_need_enabled_services() -> None:
    stack = stack_of(
        {
            "services": {
                "web": {
                    "image": "x",
                    "links": ["db"],
                    "volumes_from": ["store"],
                    "network_mode": "service:vpn",
                },
                "db": {"image": "x", "profiles": ["data"]},
                "store": {"image": "x", "profiles": ["data"]},
                "vpn": {"image": "x", "profiles": ["net"]},
            }
        }
    )
    with pytest.raises(StackFileError) as caught:
        select_profiles(stack, [])
    assert [d.path for d in caught.value.diagnostics] == [
        "services.web.links[0]",
        "services.web.network_mode",
        "services.web.volumes_from[0]",
    ]
    assert set(select_profiles(stack, ["data", "net"]).services) == {"web", "db", "store", "vpn"}
