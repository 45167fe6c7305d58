"""Environment module hooks: API, NGSI-LD, pages, MQTT ingestion, background jobs, demo data and KPIs."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tinhso.environment import models as _models  # noqa: F401
from tinhso.environment import notify
from tinhso.environment.endpoints import router
from tinhso.environment.ngsi import router as ngsi_router
from tinhso.kit.events import Bus

routers = [router, ngsi_router]


def subscribe(bus: Bus) -> None:
    notify.subscribe(bus)


def seed(session: Session, demo: bool) -> None:
    return None
