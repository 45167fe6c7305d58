"""Open-data module hooks: the CKAN Action API, DCAT and downloads, portal pages, seeding, refresh of
publications (warehouse events and schedule), KPIs and the `tinhso opendata` commands."""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session

from tinhso.kit.db import Database
from tinhso.kit.events import Bus
from tinhso.opendata import models as _models  # noqa: F401
from tinhso.opendata import tasks
from tinhso.opendata.ckan.api import router as ckan_router
from tinhso.opendata.cli import cli
from tinhso.opendata.endpoints import router as api_router
from tinhso.opendata.pages import router as pages_router

routers = [ckan_router, api_router, pages_router]
reference_tables = ("opendata_organization", "opendata_group")
measures = {
    "opendata.datasets": tasks.measure_datasets,
    "opendata.downloads": tasks.measure_downloads,
    "opendata.quality": tasks.measure_quality,
}
__all__ = ["cli", "measures", "reference_tables", "routers", "seed", "subscribe", "worker"]


def seed(session: Session, demo: bool) -> None:
    from tinhso.opendata import demo as demo_data

    if demo:
        demo_data.seed_demo(session)
    else:
        demo_data.seed_reference(session)


def subscribe(bus: Bus) -> None:
    bus.subscribe(tasks.WAREHOUSE_TOPIC, "opendata.refresh_publications", tasks.on_warehouse_updated)


def worker(stop_event: threading.Event, db: Database) -> None:
    tasks.refresh_loop(stop_event, db)
