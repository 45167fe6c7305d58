"""Which paths the running application serves (to link only to pages that exist)."""

from __future__ import annotations

from typing import Any


def route_paths(app: Any) -> dict[str, set[str]]:
    """Every path the app routes, with its methods (FastAPI's included routers are walked too)."""
    found: dict[str, set[str]] = {}
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        items = list(contexts()) if callable(contexts) else [route]
        for item in items:
            path = getattr(item, "path", None)
            if path:
                found.setdefault(path, set()).update(getattr(item, "methods", None) or {"GET"})
    return found
