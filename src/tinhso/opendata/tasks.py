"""Background work: refreshing publications when the warehouse changes and on their schedule; KPIs."""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tinhso.kit.db import Database
from tinhso.kit.events import Event
from tinhso.opendata import datastore, publishing
from tinhso.opendata.models import Dataset, DownloadCount, Resource

log = logging.getLogger("tinhso.opendata")
WAREHOUSE_TOPIC = "data.warehouse.updated"


def on_warehouse_updated(session: Session, event: Event) -> None:
    """`data.warehouse.updated` {"table"}: rebuild every publication of that table."""
    table = event.payload.get("table")
    if isinstance(table, str) and table:
        refreshed = publishing.refresh_source(session, f"warehouse:{table}")
        if refreshed:
            log.info("refreshed %d publication(s) of warehouse table %s", refreshed, table)


def refresh_loop(stop_event: threading.Event, db: Database, interval: float = 60.0) -> None:
    while not stop_event.is_set():
        try:
            with db.transaction() as session:
                publishing.refresh_due(session)
            with db.transaction() as session:
                datastore.drop_orphans(session)  # tables of resources deleted with their dataset
        except Exception:  # noqa: BLE001 - keep the loop alive; the next round retries
            log.exception("scheduled refresh of publications failed")
        stop_event.wait(interval)


def measure_datasets(
    session: Session, since: datetime, until: datetime, agency_code: str | None
) -> float | None:
    """Public datasets that exist at `until` (per publisher when `agency_code` is given)."""
    stmt = (
        select(func.count())
        .select_from(Dataset)
        .where(Dataset.state == "active", Dataset.private.is_(False), Dataset.metadata_created <= until)
    )
    if agency_code:
        stmt = stmt.where(Dataset.owner_org == agency_code)
    return float(session.scalar(stmt) or 0)


def measure_downloads(
    session: Session, since: datetime, until: datetime, agency_code: str | None
) -> float | None:
    """Downloads of resources between `since` and `until` (by day)."""
    stmt = (
        select(func.coalesce(func.sum(DownloadCount.count), 0))
        .join(Resource, Resource.id == DownloadCount.resource_id)
        .join(Dataset, Dataset.id == Resource.dataset_id)
        .where(DownloadCount.day >= since.date(), DownloadCount.day <= until.date())
    )
    if agency_code:
        stmt = stmt.where(Dataset.owner_org == agency_code)
    return float(session.scalar(stmt) or 0)


def measure_quality(
    session: Session, since: datetime, until: datetime, agency_code: str | None
) -> float | None:
    """Mean metadata quality score (0-100) of public datasets; None when there are none."""
    stmt = select(func.avg(Dataset.quality_score)).where(
        Dataset.state == "active", Dataset.private.is_(False)
    )
    if agency_code:
        stmt = stmt.where(Dataset.owner_org == agency_code)
    value = session.scalar(stmt)
    return None if value is None else float(value)
