"""Assistant module hooks: API and pages, the AI register seed, re-indexing on catalog events, KPIs, CLI."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session

from tinhso.assistant import models as _models  # noqa: F401
from tinhso.assistant.admin_pages import router as admin_router
from tinhso.assistant.cli import cli
from tinhso.assistant.endpoints import router as api_router
from tinhso.assistant.faq import router as faq_router
from tinhso.assistant.knowledge import mark_changed
from tinhso.assistant.pages import router as page_router
from tinhso.assistant.register import seed_own_systems
from tinhso.assistant.service import measure_answered_rate, measure_questions
from tinhso.kit.events import Bus, Event

log = logging.getLogger("tinhso.assistant")
routers = [api_router, faq_router, page_router, admin_router]
cli_name = "ai"
home_page = "/tro-ly-ao"
measures = {"assistant.questions": measure_questions, "assistant.answered_rate": measure_answered_rate}

__all__ = ["cli", "cli_name", "home_page", "measures", "routers", "seed", "startup", "subscribe"]


def startup(app: object) -> None:
    """Warm the language resources in the background so the first question is answered quickly."""

    from tinhso.settings import get_settings

    # The index is built ahead only when serving; under tests a background reader would hold locks while
    # the fixtures empty the tables between tests.
    db = getattr(getattr(app, "state", None), "db", None) if get_settings().environment != "test" else None

    def warm() -> None:
        from tinhso.assistant.diacritics import base_counts
        from tinhso.assistant.knowledge import index_for
        from tinhso.assistant.textproc import segment

        base_counts()
        segment("khởi động")
        if db is not None:
            try:
                with db.transaction(write=False) as session:
                    index_for(session)
            except Exception:  # noqa: BLE001 - a warm-up failure only means the first question builds it
                log.warning("assistant index warm-up failed", exc_info=True)

    threading.Thread(target=warm, name="assistant-warmup", daemon=True).start()


def seed(session: Session, demo: bool) -> None:
    seed_own_systems(session)
    if demo:
        from tinhso.assistant.faq import seed_demo

        seed_demo(session)


# Dossier traffic does not change what the assistant knows; anything else of the procedures module
# (catalog import, a procedure published or changed) makes every process rebuild its index.
NOT_CATALOG = ("procedures.dossier.", "procedures.payment.", "procedures.result.", "procedures.edata.")


def _procedures_changed(session: Session, event: Event) -> None:
    if not event.topic.startswith(NOT_CATALOG):
        mark_changed(session, f"event {event.topic}")


def subscribe(bus: Bus) -> None:
    bus.subscribe("procedures.*", "assistant.reindex", _procedures_changed)
