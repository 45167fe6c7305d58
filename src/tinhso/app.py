"""The FastAPI application factory: mounts every module's API and pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from tinhso import __version__
from tinhso.kit import logging as kit_logging
from tinhso.kit.db import Database, get_database
from tinhso.kit.errors import install_error_handlers
from tinhso.kit.events import Dispatcher, bus
from tinhso.kit.middleware import BodyLimitMiddleware, RequestContextMiddleware
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
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    app.state.db = db
    app.state.settings = settings
    install_error_handlers(app)

    from tinhso import health

    app.include_router(health.router)
    for _, plugin in loaded:
        for router in getattr(plugin, "routers", []):
            app.include_router(router)
        if hasattr(plugin, "subscribe"):
            plugin.subscribe(bus)
    if STATIC_DIR.exists():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Modules that stream large bodies (gateway, uploads) enforce their own limits.
    exempt = tuple(p for _, plugin in loaded for p in getattr(plugin, "body_limit_exempt", ()))
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, exempt_prefixes=exempt)
    app.add_middleware(RequestContextMiddleware)
    return app


async def _maybe_await(value: object) -> None:
    import inspect

    if inspect.isawaitable(value):
        await value
