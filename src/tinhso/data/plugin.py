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
from tinhso.kit.db import Database

routers = [router, pages_router]
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
    """Close the batches a stopped process left running (in the background: startup does not wait)."""
    from tinhso.data.ingest import close_orphans

    threading.Thread(target=_quietly, args=(close_orphans, app.state.db), daemon=True).start()


def worker(stop_event: threading.Event, db: Database) -> None:
    """Batches whose loading process stopped (restart, crash) are marked failed, so they can be loaded again."""
    from tinhso.data.ingest import close_orphans

    while not stop_event.wait(30):
        _quietly(close_orphans, db)


def _quietly(fn: Any, db: Database) -> None:
    try:
        fn(db)
    except Exception:  # noqa: BLE001 - background housekeeping; the next round tries again
        logging.getLogger(__name__).exception("data: closing interrupted batches")
