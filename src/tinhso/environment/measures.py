"""Live measurements for the KPI engine (governance reads them through the plugin's `measures`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tinhso.environment.config import env_settings
from tinhso.environment.models import Alert, IndexValue, Station


def _stations(agency_code: str | None):  # noqa: ANN202
    stmt = select(Station).where(Station.status == "active")
    if agency_code:
        stmt = stmt.where(Station.agency_code == agency_code)
    return stmt


def stations_online_rate(
    session: Session, since: datetime, until: datetime, agency_code: str | None
) -> float | None:
    """Share (%) of active stations that reported within the silence limit before `until`."""
    stations = list(session.scalars(_stations(agency_code)))
    if not stations:
        return None
    limit = until - timedelta(minutes=env_settings().silence_minutes)
    online = sum(1 for s in stations if s.last_reading_at is not None and limit <= s.last_reading_at <= until)
    return round(100 * online / len(stations), 2)


def aqi_good_share(
    session: Session, since: datetime, until: datetime, agency_code: str | None
) -> float | None:
    """Share (%) of daily VN_AQI values in the period that were "Tốt" (0-50)."""
    stmt = (
        select(IndexValue.value)
        .join(Station, Station.id == IndexValue.station_id)
        .where(
            IndexValue.kind == "aqi_day",
            IndexValue.value.is_not(None),
            IndexValue.period_start >= since,
            IndexValue.period_start < until,
        )
    )
    if agency_code:
        stmt = stmt.where(Station.agency_code == agency_code)
    values = list(session.scalars(stmt))
    if not values:
        return None
    return round(100 * sum(1 for v in values if v is not None and v <= 50) / len(values), 2)


def open_alerts(session: Session, since: datetime, until: datetime, agency_code: str | None) -> float | None:
    """Alerts not resolved at `until` (raised before it)."""
    stmt = (
        select(func.count())
        .select_from(Alert)
        .where(Alert.raised_at <= until, (Alert.resolved_at.is_(None)) | (Alert.resolved_at > until))
    )
    if agency_code:
        stmt = stmt.where(Alert.agency_code == agency_code)
    return float(session.scalar(stmt) or 0)


MEASURES = {
    "environment.stations_online_rate": stations_online_rate,
    "environment.aqi_good_share": aqi_good_share,
    "environment.open_alerts": open_alerts,
}
