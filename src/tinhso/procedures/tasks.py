"""Background work: deadline sweep (warnings, overdue marks) and national-portal sync sending."""

from __future__ import annotations

import logging
import threading

from tinhso.kit.db import Database
from tinhso.procedures import dossiers, sync

log = logging.getLogger("tinhso.procedures")


def run_once(db: Database) -> dict[str, int]:
    with db.transaction() as session:
        swept = dossiers.sweep_deadlines(session)
    with db.transaction() as session:
        sent = sync.send_pending(session)
    return swept | sent


def worker(stop_event: threading.Event, db: Database) -> None:
    while not stop_event.is_set():
        try:
            run_once(db)
        except Exception:  # noqa: BLE001 - keep working after a hiccup
            log.exception("procedures worker error")
        stop_event.wait(60)
