"""Data module hooks."""

from __future__ import annotations

import threading

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


def worker(stop_event: threading.Event, db: Database) -> None:
    """Batches whose loading process stopped (restart, crash) are marked failed, so they can be loaded again."""
    import logging

    from tinhso.data.ingest import fail_interrupted

    while not stop_event.wait(60):
        try:
            fail_interrupted(db)
        except Exception:  # noqa: BLE001 - keep the loop alive; the next round tries again
            logging.getLogger(__name__).exception("data: marking interrupted batches failed")
