"""The FastAPI application factory: mounts every module's API and pages."""

from __future__ import annotations

import re
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from tinhso import __version__
from tinhso.kit import logging as kit_logging
from tinhso.kit.db import Database, get_database
from tinhso.kit.errors import document_errors, install_error_handlers
from tinhso.kit.events import Dispatcher, bus
from tinhso.kit.middleware import (
    BodyLimitMiddleware,
    PrefixAppsMiddleware,
    RefuseNulMiddleware,
    RequestContextMiddleware,
)
from tinhso.kit.ratelimit import RateLimitMiddleware
from tinhso.modules import plugins
from tinhso.settings import Settings, get_settings

STATIC_DIR = Path(__file__).resolve().parent / "web" / "static"

DESCRIPTION = """
Nền tảng tỉnh số — the digital-province platform of Nghệ An (Decision 4520/QĐ-UBND).
Errors carry `status`, a stable `code` and `message` in Vietnamese and English.
Systems obtain tokens at `POST /auth/token` (OAuth2 client credentials).
"""


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    kit_logging.configure(settings.log_level, settings.log_json)
    db = db or get_database()
    loaded = plugins()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from tinhso.identity import tokens

        tokens.prime(db)
        dispatcher = Dispatcher(db, settings.outbox_poll_seconds) if settings.run_dispatcher else None
        if dispatcher:
            dispatcher.start()
        for _, plugin in loaded:
            if hasattr(plugin, "startup"):
                await _maybe_await(plugin.startup(app))
        try:
            yield
        finally:
            for _, plugin in reversed(loaded):
                if hasattr(plugin, "shutdown"):
                    await _maybe_await(plugin.shutdown(app))
            if dispatcher:
                dispatcher.stop()

    app = FastAPI(
        title="tinhso — Nền tảng tỉnh số",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    app.state.db = db
    app.state.settings = settings
    install_error_handlers(app)

    from tinhso import health

    app.include_router(health.router)
    app.include_router(_docs_router())
    for _, plugin in loaded:
        for router in getattr(plugin, "routers", []):
            app.include_router(router)
        if hasattr(plugin, "subscribe"):
            plugin.subscribe(bus)
    _clean_operation_ids(app)
    if STATIC_DIR.exists():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Modules that stream large bodies (gateway, uploads) enforce their own limits.
    exempt = tuple(p for _, plugin in loaded for p in getattr(plugin, "body_limit_exempt", ()))
    # Inside the body limit: refuses text carrying U+0000 (PostgreSQL stores it nowhere) with 422.
    app.add_middleware(RefuseNulMiddleware, exempt_prefixes=exempt)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, exempt_prefixes=exempt)
    # Request budgets per client address and per credential (TINHSO_RATE_LIMIT_*), shared by the processes.
    rate_exempt = tuple(p for _, plugin in loaded for p in getattr(plugin, "rate_limit_exempt", ()))
    app.add_middleware(RateLimitMiddleware, db=db, exempt_prefixes=rate_exempt)
    # Hot data paths served by plain ASGI apps ahead of routing (plugin hook `asgi_apps`, e.g. the gateway).
    raw = {prefix: a for _, plugin in loaded for prefix, a in getattr(plugin, "asgi_apps", {}).items()}
    if raw:
        app.add_middleware(PrefixAppsMiddleware, apps=raw)
    # HSTS only where the platform is served over HTTPS (not on a developer's localhost).
    app.add_middleware(RequestContextMiddleware, hsts=settings.base_url.startswith("https://"))
    return app


def _clean_operation_ids(app: FastAPI) -> None:
    """Operation ids are the handlers' names (not FastAPI's path-derived ones), unique across the document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # duplicates are renamed below
            schema = generate()
        document_errors(schema)
        seen: set[str] = set()
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                oid = operation.get("operationId") if isinstance(operation, dict) else None
                if oid is None:
                    continue
                # FastAPI's default id is "<handler><path with _ for punctuation>_<a method>": keep the handler.
                auto = re.fullmatch(r"(.+)" + re.escape(re.sub(r"\W", "_", path)) + r"_[a-z]+", oid)
                if auto:
                    oid = auto.group(1)
                if oid in seen:
                    oid = f"{oid}_{method}"
                if oid in seen:
                    oid = f"{oid}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}"
                operation["operationId"] = oid
                seen.add(oid)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _docs_router() -> APIRouter:
    """Swagger UI from our own static files: the machines serving the platform may have no internet."""
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="tinhso — API",
            swagger_js_url="/static/vendor/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )

    return router


async def _maybe_await(value: object) -> None:
    import inspect

    if inspect.isawaitable(value):
        await value
