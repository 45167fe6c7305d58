"""Governance module hooks: API and pages, CLI, reference and demo data, worker, subscribers, measures."""

import threading
from typing import Any

from sqlalchemy.orm import Session

from tinhso.governance import models as _models  # noqa: F401
from tinhso.governance.cli import cli
from tinhso.governance.endpoints import router
from tinhso.governance.measures import MEASURES
from tinhso.governance.pages import router as pages_router
from tinhso.governance.tasks import run_in_process, subscribe, worker

routers = [router, pages_router]
measures = MEASURES
reference_tables = ("governance_kpi",)

__all__ = [
    "cli",
    "measures",
    "reference_tables",
    "routers",
    "seed",
    "shutdown",
    "startup",
    "subscribe",
    "worker",
]


def startup(app: Any) -> None:
    """In a single-process install (`tinhso demo`, development), compute the KPIs now and keep the schedule."""
    settings = app.state.settings
    if settings.environment not in ("demo", "development") or not settings.run_dispatcher:
        return  # production runs the schedule in `tinhso worker`; tests start what they need
    stop = threading.Event()
    app.state.governance_stop = stop
    thread = threading.Thread(
        target=run_in_process, args=(stop, app.state.db), name="governance", daemon=True
    )
    thread.start()


def shutdown(app: Any) -> None:
    stop = getattr(app.state, "governance_stop", None)
    if stop is not None:
        stop.set()


def seed(session: Session, demo: bool) -> None:
    if demo:
        from tinhso.governance.demo import seed_demo

        seed_demo(session)
    else:
        from tinhso.governance import kpi, roadmap

        roadmap.load_bundled(session)
        kpi.sync_definitions(session)
