"""Procedures module hooks."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tinhso.kit.events import Bus
from tinhso.procedures import (
    calendar_api,
    edata_api,
    edata_pages,
    feedback_api,
    feedback_pages,
    govstack,
    organisations,
    reports,
    sync,
)
from tinhso.procedures import models as _models  # noqa: F401
from tinhso.procedures.catalog import seed_catalog
from tinhso.procedures.cli import cli as cli
from tinhso.procedures.endpoints import router
from tinhso.procedures.pages import router as pages_router
from tinhso.procedures.tasks import worker as worker

routers = [
    router,
    calendar_api.router,
    edata_api.router,
    feedback_api.router,
    organisations.router,
    reports.router,
    govstack.router,
    pages_router,
    edata_pages.router,
    feedback_pages.router,
]
home_page = "/thu-tuc"
reference_tables = ("procedures_procedure",)
measures = {
    "procedures.on_time_rate": reports.on_time_rate,
    "procedures.online_rate": reports.online_rate,
    "procedures.satisfaction": reports.satisfaction,
}


def seed(session: Session, demo: bool) -> None:
    if demo:
        from tinhso.procedures.demo import seed_demo

        seed_demo(session)
    else:
        seed_catalog(session)


def subscribe(bus: Bus) -> None:
    bus.subscribe("procedures.dossier.*", "procedures.national_sync", sync.on_dossier_event)
