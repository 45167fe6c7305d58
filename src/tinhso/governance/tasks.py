"""Background work: the KPI schedule, overdue reminders, nightly compliance re-runs, and event subscribers."""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from sqlalchemy.orm import Session

from tinhso.governance import events, kpi, service
from tinhso.kit.db import Database, utcnow
from tinhso.kit.events import Bus, Event, publish

log = logging.getLogger("tinhso.governance")
POLL_SECONDS = 60.0


def scheduled_run(session: Session, now: datetime | None = None) -> bool:
    """One pass of the schedule: KPIs once an hour, overdue reminders, and compliance re-runs daily."""
    now = now or utcnow()
    if not kpi.due(session, now):
        return False
    run = kpi.run(session, trigger="schedule", at=now)
    publish(
        session,
        events.KPI_COMPUTED,
        {"run_id": run.id, "computed": run.computed, "not_measured": run.not_measured, "failed": run.failed},
        key="kpi",
    )
    service.notify_overdue(session, now)
    if kpi.period_of("hourly", now)[0].hour == 2:  # nightly, 02:00 Vietnam time
        service.recheck_all(session)
    return True


def worker(stop: threading.Event, db: Database) -> None:
    """The `tinhso worker` loop of this module."""
    while not stop.is_set():
        try:
            with db.transaction() as session:
                scheduled_run(session)
        except Exception:  # noqa: BLE001 - keep the schedule going after a failure
            log.exception("governance schedule failed")
        stop.wait(POLL_SECONDS)


def run_in_process(stop: threading.Event, db: Database) -> None:
    """The API process's copy of the schedule: a fresh KPI run at start (after the demo data), then hourly."""
    try:
        with db.transaction() as session:
            run = kpi.run(session, trigger="startup")
            publish(
                session,
                events.KPI_COMPUTED,
                {
                    "run_id": run.id,
                    "computed": run.computed,
                    "not_measured": run.not_measured,
                    "failed": run.failed,
                },
                key="kpi",
            )
            service.notify_overdue(session)
    except Exception:  # noqa: BLE001 - the page still shows the stored values
        log.exception("governance start-up run failed")
    worker(stop, db)


def on_alert(session: Session, event: Event) -> None:
    service.ingest_alert(session, event.event_id, event.topic, event.payload, event.created_at)


def on_platform_change(session: Session, event: Event) -> None:
    """A service or dictionary change of an agency: re-run the compliance rules of its systems."""
    agency = event.payload.get("agency_code")
    if isinstance(agency, str):
        service.recheck_all(session, agency)


def subscribe(bus: Bus) -> None:
    for i, pattern in enumerate(events.ALERT_TOPICS):
        bus.subscribe(pattern, f"governance.alerts.{i}", on_alert)
    bus.subscribe("exchange.service.*", "governance.recheck.exchange", on_platform_change)
    bus.subscribe("data.entity.*", "governance.recheck.data", on_platform_change)
