"""Data module hooks."""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy.orm import Session

from tinhso.data import models as _models  # noqa: F401
from tinhso.data.cli import cli
from tinhso.data.codelists import load_codelists
from tinhso.data.dictionary import load_entities
from tinhso.data.endpoints import router
from tinhso.data.measures import MEASURES
from tinhso.data.pages import router as pages_router
from tinhso.data.registries_api import router as registries_router
from tinhso.kit.db import Database

routers = [router, registries_router, pages_router]
home_page = "/du-lieu/tu-dien"
reference_tables = ("data_codelist",)
body_limit_exempt = ("/api/v1/data/batches",)
measures = MEASURES
__all__ = ["cli"]


def seed(session: Session, demo: bool) -> None:
    if not demo:
        load_codelists(session)
        load_entities(session)
    else:
        from tinhso.data.demo import seed_demo

        seed_demo(session)


def startup(app: Any) -> None:
    """Recover the batches a stopped process left running (queued again from their stored files) and, in a
    single-process installation, load queued batches here (`jobs.loads_in_api`); in the background."""
    from tinhso.data import jobs

    if jobs.loads_in_api():
        stop = threading.Event()
        # One stop signal per start: an app served twice (a test client and a live server on one app object) stops
        # both of its loaders, not only the last one started.
        loaders = getattr(app.state, "data_loader_stops", None)
        if loaders is None:
            loaders = app.state.data_loader_stops = []
        loaders.append(stop)
        threading.Thread(
            target=jobs.run_loader, args=(stop, app.state.db), name="data-loader", daemon=True
        ).start()
    else:
        threading.Thread(target=_quietly, args=(jobs.sweep, app.state.db), daemon=True).start()


def shutdown(app: Any) -> None:
    """Stop this process's loader; a load it was running is recovered (queued again) by the next sweep."""
    from tinhso.data import jobs

    loaders = getattr(app.state, "data_loader_stops", None)
    if loaders:
        jobs.stop_loader(loaders.pop())


def worker(stop_event: threading.Event, db: Database) -> None:
    """The loader of `tinhso worker`: runs queued batches, and queues again those whose process stopped."""
    from tinhso.data import jobs

    jobs.run_loader(stop_event, db)


def _quietly(fn: Any, db: Database) -> None:
    try:
        fn(db)
    except Exception:  # noqa: BLE001 - background housekeeping; the next round tries again
        logging.getLogger(__name__).exception("data: recovering interrupted batches")
