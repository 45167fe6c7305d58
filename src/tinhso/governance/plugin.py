"""Governance module hooks: API and pages, CLI, reference and demo data, worker, subscribers, measures."""

from sqlalchemy.orm import Session

from tinhso.governance import models as _models  # noqa: F401
from tinhso.governance.cli import cli
from tinhso.governance.endpoints import router
from tinhso.governance.measures import MEASURES
from tinhso.governance.pages import router as pages_router
from tinhso.governance.tasks import subscribe, worker

routers = [router, pages_router]
measures = MEASURES
reference_tables = ("governance_kpi",)

__all__ = ["cli", "measures", "reference_tables", "routers", "seed", "subscribe", "worker"]


def seed(session: Session, demo: bool) -> None:
    if demo:
        from tinhso.governance.demo import seed_demo

        seed_demo(session)
    else:
        from tinhso.governance import kpi, roadmap

        roadmap.load_bundled(session)
        kpi.sync_definitions(session)
