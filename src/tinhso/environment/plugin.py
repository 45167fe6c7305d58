"""Environment module hooks: API, NGSI-LD, public pages, MQTT ingestion and jobs (API process and worker),
demo data with a live simulator, the `tinhso simulate` command, and KPI measures."""

from __future__ import annotations

import threading

from fastapi import FastAPI
from sqlalchemy.orm import Session

from tinhso.environment import cli as _cli
from tinhso.environment import models as _models  # noqa: F401
from tinhso.environment import notify
from tinhso.environment.endpoints import router
from tinhso.environment.measures import MEASURES
from tinhso.environment.ngsi import router as ngsi_router
from tinhso.environment.pages import router as pages_router
from tinhso.environment.public_api import open_data
from tinhso.environment.public_api import router as public_router
from tinhso.kit.db import Database
from tinhso.kit.events import Bus

routers = [router, public_router, open_data, ngsi_router, pages_router]
cli = _cli.cli
cli_name = "simulate"
measures = MEASURES


def subscribe(bus: Bus) -> None:
    notify.subscribe(bus)


def seed(session: Session, demo: bool) -> None:
    if demo:
        from tinhso.environment.demo import seed_demo

        seed_demo(session)


def startup(app: FastAPI) -> None:
    from tinhso.environment.config import env_settings
    from tinhso.environment.tasks import Background

    settings = app.state.settings
    if settings.environment == "test":
        return  # tests start what they need themselves
    if not settings.run_dispatcher:
        return  # several API processes behind a proxy: the worker process ingests MQTT and runs the jobs
    background = Background(app.state.db, "api")
    background.start(with_simulator=env_settings().simulate_in_demo, http_base=settings.base_url)
    app.state.environment_background = background


def shutdown(app: FastAPI) -> None:
    background = getattr(app.state, "environment_background", None)
    if background is not None:
        background.stop()


def worker(stop_event: threading.Event, db: Database) -> None:
    from tinhso.environment.tasks import Background

    background = Background(db, "worker")
    background.start()
    stop_event.wait()
    background.stop()
