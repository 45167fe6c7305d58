"""Alert rules (threshold, QCVN 05:2023 exceedance, robust z-score anomaly, silence), deduplication,
escalation, acknowledgement and resolution; every change is published as an event.

One alert is open per dedup key (station, rule, parameter): a repeat only counts an occurrence. The
`open_key` column carries the key while the alert is not resolved, and its unique index makes the rule hold
across concurrent ingesters.
"""

from __future__ import annotations

import statistics
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tinhso.environment import parameters as params
from tinhso.environment.config import env_settings
from tinhso.environment.models import Alert, AlertHistory, HourlyMean, Station
from tinhso.identity.principal import Principal
from tinhso.kit import audit
from tinhso.kit.db import utcnow
from tinhso.kit.errors import Conflict, Forbidden, NotFound
from tinhso.kit.events import publish

TOPIC_RAISED = "environment.alert.raised"
TOPIC_ESCALATED = "environment.alert.escalated"
TOPIC_RESOLVED = "environment.alert.resolved"
TOPIC_ACKNOWLEDGED = "environment.alert.acknowledged"


def payload(alert: Alert, station: Station) -> dict[str, Any]:
    return {
        "alert_id": alert.id,
        "station_id": station.id,
        "station_code": station.code,
        "station_name": station.name,
        "station_kind": station.kind,
        "agency_code": alert.agency_code,
        "commune_code": station.commune_code,
        "latitude": station.latitude,
        "longitude": station.longitude,
        "rule": alert.rule,
        "parameter": alert.parameter,
        "severity": alert.severity,
        "level": alert.level,
        "status": alert.status,
        "value": alert.value,
        "limit": alert.limit,
        "detail": alert.detail,
        "raised_at": alert.raised_at.isoformat(),
    }


def _history(session: Session, alert: Alert, action: str, actor: str | None, note: str | None = None) -> None:
    session.add(AlertHistory(alert_id=alert.id, at=utcnow(), action=action, actor=actor, note=note))


def raise_alert(
    session: Session,
    station: Station,
    rule: str,
    parameter: str | None,
    *,
    value: float | None,
    limit: float | None,
    severity: str = "warning",
    detail: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> tuple[Alert, bool]:
    """Open an alert, or count one more occurrence of the open one with the same key. Returns (alert, new)."""
    now = now or utcnow()
    key = f"{station.id}:{rule}:{parameter or '-'}"
    existing = session.scalar(select(Alert).where(Alert.open_key == key))
    if existing is None:
        alert = Alert(
            station_id=station.id,
            agency_code=station.agency_code,
            rule=rule,
            parameter=parameter,
            dedup_key=key,
            open_key=key,
            severity=severity,
            value=value,
            limit=limit,
            detail=detail or {},
            raised_at=now,
            last_seen_at=now,
        )
        try:
            with session.begin_nested():
                session.add(alert)
                session.flush()
        except IntegrityError:  # another ingester opened it first
            existing = session.scalar(select(Alert).where(Alert.open_key == key))
        else:
            _history(session, alert, "raised", "system")
            publish(session, TOPIC_RAISED, payload(alert, station), key=station.id)
            return alert, True
    assert existing is not None
    existing.occurrences += 1
    existing.last_seen_at = now
    if value is not None:
        existing.value = value
    if severity == "critical" and existing.severity != "critical":
        existing.severity = "critical"
    return existing, False


def resolve_open(
    session: Session, station: Station, rule: str, parameter: str | None, note: str
) -> Alert | None:
    """Resolve the open alert of a key automatically (e.g. a silent station speaks again)."""
    key = f"{station.id}:{rule}:{parameter or '-'}"
    alert = session.scalar(select(Alert).where(Alert.open_key == key))
    if alert is None:
        return None
    _close(session, alert, station, "system", note)
    return alert


def _close(session: Session, alert: Alert, station: Station, actor: str, note: str | None) -> None:
    alert.status = "resolved"
    alert.open_key = None
    alert.resolved_at = utcnow()
    alert.resolved_by = actor
    _history(session, alert, "resolved", actor, note)
    session.flush()
    publish(session, TOPIC_RESOLVED, payload(alert, station), key=station.id)


# ------------------------------------------------------------------------------------------- rules


class _Baselines:
    """Median and MAD of a station's hourly means over 30 days, cached for a few minutes."""

    def __init__(self, ttl: float = 300.0):
        self.ttl = ttl
        self._cache: dict[tuple[str, str], tuple[float, tuple[float, float, int]]] = {}
        self._lock = threading.Lock()

    def get(
        self, session: Session, station_id: str, parameter: str, before: datetime
    ) -> tuple[float, float, int]:
        key = (station_id, parameter)
        with self._lock:
            hit = self._cache.get(key)
            if hit and time.monotonic() - hit[0] < self.ttl:
                return hit[1]
        values = list(
            session.scalars(
                select(HourlyMean.mean).where(
                    HourlyMean.station_id == station_id,
                    HourlyMean.parameter == parameter,
                    HourlyMean.hour < before,
                    HourlyMean.hour >= before - timedelta(days=30),
                )
            )
        )
        if values:
            med = statistics.median(values)
            mad = statistics.median(abs(v - med) for v in values)
            stats = (med, mad, len(values))
        else:
            stats = (0.0, 0.0, 0)
        with self._lock:
            self._cache[key] = (time.monotonic(), stats)
        return stats

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


baselines = _Baselines()


def robust_z(value: float, median: float, mad: float) -> float | None:
    """The modified z-score (Iglewicz and Hoaglin): 0.6745 (x − median) / MAD."""
    if mad <= 0:
        return None
    return 0.6745 * (value - median) / mad


def evaluate(
    session: Session,
    station: Station,
    inserted: list[dict[str, Any]],
    hourly_rows: list[dict[str, Any]],
    index_rows: list[dict[str, Any]],
    now: datetime,
    resumed: bool = False,
) -> list[str]:
    """Run the rules on freshly stored data; returns the ids of newly raised alerts."""
    settings = env_settings()
    raised: list[str] = []
    recent = now - timedelta(hours=6)
    # Threshold: a good reading above the station's threshold (or the parameter's default).
    worst: dict[str, tuple[float, float]] = {}
    for r in inserted:
        if r["quality"] != "ok" or r["observed_at"] < recent:
            continue
        limit = station.thresholds.get(r["parameter"]) or params.PARAMETERS[r["parameter"]].alert_above
        if limit is not None and r["value"] > limit and r["value"] > worst.get(r["parameter"], (0.0, 0.0))[0]:
            worst[r["parameter"]] = (r["value"], float(limit))
    for parameter, (value, limit) in worst.items():
        alert, new = raise_alert(
            session,
            station,
            "threshold",
            parameter,
            value=value,
            limit=limit,
            severity="critical" if value > 2 * limit else "warning",
            now=now,
        )
        if new:
            raised.append(alert.id)
    # QCVN 05:2023: 1-h and 8-h exceedances of recent hours, 24-h exceedances of days.
    for row in index_rows:
        if row["period_start"] < recent - timedelta(days=1):
            continue
        for exc in row.get("exceedances") or []:
            alert, new = raise_alert(
                session,
                station,
                "qcvn",
                f"{exc['parameter']}/{exc['period']}",
                value=exc["value"],
                limit=exc["limit"],
                detail={"period": exc["period"], "period_start": row["period_start"].isoformat()},
                now=now,
            )
            if new:
                raised.append(alert.id)
    # Anomaly: an hourly mean far from the station's own history (robust z-score).
    for row in hourly_rows:
        if row["hour"] < recent:
            continue
        med, mad, n = baselines.get(session, station.id, row["parameter"], row["hour"])
        if n < settings.anomaly_min_history:
            continue
        z = robust_z(row["mean"], med, mad)
        if z is not None and abs(z) > settings.anomaly_z:
            alert, new = raise_alert(
                session,
                station,
                "anomaly",
                row["parameter"],
                value=round(row["mean"], 3),
                limit=None,
                detail={"z": round(z, 2), "median": round(med, 3), "mad": round(mad, 3), "history": n},
                now=now,
            )
            if new:
                raised.append(alert.id)
    if resumed:  # a silent station speaks again
        resolve_open(session, station, "silence", None, "readings resumed")
    return raised


def check_silence(session: Session, now: datetime | None = None) -> list[str]:
    """Raise a silence alert for every active station that has said nothing for too long."""
    now = now or utcnow()
    limit = now - timedelta(minutes=env_settings().silence_minutes)
    stations = session.scalars(
        select(Station).where(
            Station.status == "active", Station.last_reading_at.is_not(None), Station.last_reading_at < limit
        )
    )
    raised = []
    for station in stations:
        assert station.last_reading_at is not None
        minutes = int((now - station.last_reading_at).total_seconds() // 60)
        alert, new = raise_alert(
            session,
            station,
            "silence",
            None,
            value=float(minutes),
            limit=float(env_settings().silence_minutes),
            detail={"last_reading_at": station.last_reading_at.isoformat()},
            now=now,
        )
        if new:
            raised.append(alert.id)
    return raised


def _due(now: datetime) -> Any:
    due = now - timedelta(minutes=env_settings().escalate_minutes)
    return (Alert.status == "open") & or_(
        Alert.escalated_at.is_(None) & (Alert.raised_at < due), Alert.escalated_at < due
    )


def escalate_due(session: Session, now: datetime | None = None) -> list[str]:
    """Escalate open alerts nobody acknowledged within the escalation period (again at each period).

    Each escalation is one conditional UPDATE that re-checks the alert is still due: when two workers run
    the job at once, the second one's UPDATE waits for the first's row lock (PostgreSQL) or its write lock
    (SQLite), then matches nothing, so an alert is escalated, logged and published once per period."""
    now = now or utcnow()
    candidates = list(session.scalars(select(Alert.id).where(_due(now)).order_by(Alert.id)))
    done = []
    for alert_id in candidates:
        claimed = session.execute(
            update(Alert)
            .where(Alert.id == alert_id, _due(now))
            .values(
                level=Alert.level + 1,
                escalated_at=now,
                severity="critical",
                updated_at=utcnow(),
            )
            .returning(Alert.id)
            .execution_options(synchronize_session=False)
        ).first()
        if claimed is None:  # another worker escalated it, or someone acknowledged it, meanwhile
            continue
        alert = session.get(Alert, alert_id, populate_existing=True)
        station = session.get(Station, alert.station_id) if alert is not None else None
        if alert is None or station is None:
            continue
        _history(session, alert, "escalated", "system", f"level {alert.level}")
        session.flush()
        publish(session, TOPIC_ESCALATED, payload(alert, station), key=station.id)
        done.append(alert.id)
    return done


# ------------------------------------------------------------------------------------ people's actions


def alert_for(session: Session, principal: Principal, alert_id: str, write: bool = False) -> Alert:
    from tinhso.environment.repository import visible_agencies

    alert = session.get(Alert, alert_id)
    agencies = visible_agencies(session, principal)
    if alert is None or (agencies is not None and alert.agency_code not in agencies):
        raise NotFound("alert_not_found", "Alert {id} not found", id=alert_id)
    if (
        write
        and not principal.is_platform_admin
        and (alert.agency_code != principal.agency_code or not principal.has_role("official", "agency_admin"))
    ):
        raise Forbidden("station_not_managed", "Only the managing agency may change this station")
    return alert


def acknowledge(session: Session, principal: Principal, alert_id: str, note: str | None) -> Alert:
    alert = alert_for(session, principal, alert_id, write=True)
    if alert.status == "resolved":
        raise Conflict("alert_resolved", "The alert is already resolved")
    if alert.status == "acknowledged":
        return alert  # a retry changes nothing
    alert.status = "acknowledged"
    alert.acknowledged_at = utcnow()
    alert.acknowledged_by = principal.id
    _history(session, alert, "acknowledged", principal.id, note)
    session.flush()
    station = session.get(Station, alert.station_id)
    assert station is not None
    publish(session, TOPIC_ACKNOWLEDGED, payload(alert, station), key=station.id)
    audit.record(
        session, "environment.alert.acknowledge", object_type="environment.alert", object_id=alert.id
    )
    return alert


def resolve(session: Session, principal: Principal, alert_id: str, note: str | None) -> Alert:
    alert = alert_for(session, principal, alert_id, write=True)
    if alert.status == "resolved":
        return alert
    station = session.get(Station, alert.station_id)
    assert station is not None
    _close(session, alert, station, principal.id, note)
    audit.record(session, "environment.alert.resolve", object_type="environment.alert", object_id=alert.id)
    return alert


def history(session: Session, alert_id: str) -> list[AlertHistory]:
    return list(
        session.scalars(
            select(AlertHistory).where(AlertHistory.alert_id == alert_id).order_by(AlertHistory.id)
        )
    )
