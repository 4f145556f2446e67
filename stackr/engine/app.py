"""The engine's whole API: every noun's routes in one router."""

from __future__ import annotations

from stackr.engine.routing import Router


def build_router() -> Router:
    from stackr.engine import (
        api_containers,
        api_events,
        api_images,
        api_networks,
        api_system,
        api_volumes,
    )

    router = Router()
    for module in (api_system, api_volumes, api_events, api_containers, api_images,
                   api_networks):
        router.routes.extend(module.router.routes)
    return router
