"""Exchange module hooks (LGSP/LDOP hub)."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy.orm import Session

from tinhso.exchange import models as _models  # noqa: F401
from tinhso.exchange import monitor
from tinhso.exchange.endpoints import router as api_router
from tinhso.exchange.gateway import app as gateway_app
from tinhso.exchange.pages import router as pages_router
from tinhso.kit.db import Database
from tinhso.settings import get_settings

routers = [api_router, pages_router]
asgi_apps = {"/r1/": gateway_app}  # the gateway's hot path skips routing
body_limit_exempt = ("/r1/",)
reference_tables = ("exchange_hub_key", "exchange_config_stamp")
measures = {
    "exchange.calls": monitor.measure_calls,
    "exchange.error_rate": monitor.measure_error_rate,
    "exchange.latency_p95": monitor.measure_latency_p95,
    "exchange.availability": monitor.measure_availability,
    "exchange.published_services": monitor.measure_published_services,
}


def seed(session: Session, demo: bool) -> None:
    from tinhso.exchange import msglog

    msglog.ensure_hub_key(session)
    if demo:
        from tinhso.exchange.demo import seed_demo

        seed_demo(session)


def subscribe(bus: Any) -> None:
    from tinhso.exchange import pubsub

    url = get_settings().bus_url
    if url.startswith("nats://"):
        from tinhso.exchange.natsbus import NatsBus

        if not isinstance(bus.external, NatsBus):
            bus.external = NatsBus(url)
    else:
        bus.subscribe(pubsub.TOPIC, "exchange.fanout", pubsub.on_outbox_event)


async def startup(app: Any) -> None:
    from tinhso.exchange import runtime, tasks

    runtime.of(app)
    settings = get_settings()
    app.state.exchange_stop = threading.Event()
    if settings.run_dispatcher:
        tasks.start_threads(app.state.db, app.state.exchange_stop)
    if settings.environment in ("demo", "development"):
        from tinhso.exchange.demo import is_seeded, start_upstreams

        # `tinhso demo` (development settings, demo data loaded): serve the demo providers' APIs.
        if is_seeded(app.state.db):
            start_upstreams(app)


async def shutdown(app: Any) -> None:
    from tinhso.exchange import runtime

    stop = getattr(app.state, "exchange_stop", None)
    if stop is not None:
        stop.set()
    if getattr(app.state, "exchange_upstreams", None):
        from tinhso.exchange.demo import stop_upstreams

        stop_upstreams(app)
    await runtime.of(app).aclose()


def worker(stop_event: threading.Event, db: Database) -> None:
    from tinhso.exchange import tasks

    for t in tasks.start_threads(db, stop_event):
        t.join()
