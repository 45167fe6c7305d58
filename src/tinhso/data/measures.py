"""KPI measures for the governance module's engine."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tinhso.data.models import Batch, Registry, SavedQuery, WarehouseTable


def quality_overall(
    session: Session, since: datetime, until: datetime, agency_code: str | None
) -> float | None:
    """Mean overall quality score (0-100) of the batches loaded in the period."""
    stmt = select(Batch.quality).where(
        Batch.status == "done", Batch.finished_at >= since, Batch.finished_at < until
    )
    if agency_code:
        stmt = stmt.where(Batch.agency_code == agency_code)
    scores = [q.get("overall") for q in session.scalars(stmt) if q and q.get("overall") is not None]
    return round(100 * sum(scores) / len(scores), 2) if scores else None


def registries_count(
    session: Session, since: datetime, until: datetime, agency_code: str | None
) -> float | None:
    stmt = select(func.count()).select_from(Registry).where(Registry.created_at < until)
    if agency_code:
        stmt = stmt.where(Registry.agency_code == agency_code)
    return float(session.scalar(stmt) or 0)


def reuse(session: Session, since: datetime, until: datetime, agency_code: str | None) -> float | None:
    """Data reuse: registries shared beyond their owner, warehouse tables and saved queries, per entity."""
    shared = sum(
        1
        for r in session.scalars(select(Registry))
        if r.shared_with and (not agency_code or r.agency_code == agency_code)
    )
    tables = session.scalar(select(func.count()).select_from(WarehouseTable)) or 0
    queries = session.scalar(select(func.count()).select_from(SavedQuery)) or 0
    return float(shared + tables + queries)


MEASURES: dict[str, Callable[[Session, datetime, datetime, str | None], float | None]] = {
    "data.quality.overall": quality_overall,
    "data.registries": registries_count,
    "data.reuse": reuse,
}
