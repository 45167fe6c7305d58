"""Aggregates of freshly stored readings: hourly means (updated incrementally) and the hourly and daily
indices (VN_AQI, VN_WQI, QCVN 05:2023 exceedances) that the touched hours affect; late and out-of-order data
recompute what they reach (NowCast looks 11 hours ahead)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, bindparam, case, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tinhso.environment import indices as ix
from tinhso.environment.models import HourlyMean, IndexValue, Reading, Station

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
HOUR = timedelta(hours=1)


def aware(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def insert_for(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def hour_floor(t: datetime) -> datetime:
    return aware(t).replace(minute=0, second=0, microsecond=0)


def local_day_start(t: datetime) -> datetime:
    """The UTC start of the Vietnamese calendar day containing t."""
    local = aware(t).astimezone(VN_TZ)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


_HOURLY_COLUMNS = ("station_id", "parameter", "hour", "mean", "minimum", "maximum", "count", "suspect")


def update_hourly(session: Session, inserted: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Fold freshly inserted readings into their hourly means (good readings only; suspect ones counted).

    Readings are only ever added (duplicates are refused before this point; retention removes raw readings
    long after their hour is final), so the means are updated incrementally in one upsert: the database
    combines the stored (mean, count, min, max) with the batch's under the row's lock, which keeps
    concurrent ingesters on PostgreSQL exact. Returns the updated rows per station."""
    groups: dict[tuple[str, str, datetime], list[float]] = {}
    suspect: dict[tuple[str, str, datetime], int] = defaultdict(int)
    for r in inserted:
        t = r["observed_at"]
        key = (r["station_id"], r["parameter"], t.replace(minute=0, second=0, microsecond=0))
        if r["quality"] == "ok":
            g = groups.get(key)
            if g is None:
                groups[key] = [r["value"]]
            else:
                g.append(r["value"])
        else:
            suspect[key] += 1
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if groups:
        table = HourlyMean.__table__
        c = table.c
        stmt = insert_for(session)(table)
        new = stmt.excluded
        total = c.count + new.count
        stmt = stmt.on_conflict_do_update(
            index_elements=["station_id", "parameter", "hour"],
            set_={
                "mean": (c.mean * c.count + new.mean * new.count) / total,
                "minimum": case((new.minimum < c.minimum, new.minimum), else_=c.minimum),
                "maximum": case((new.maximum > c.maximum, new.maximum), else_=c.maximum),
                "count": total,
                "suspect": c.suspect + new.suspect,
            },
        ).returning(*(c[name] for name in _HOURLY_COLUMNS))
        values = [
            {
                "station_id": s,
                "parameter": p,
                "hour": h,
                "mean": sum(vals) / len(vals),
                "minimum": min(vals),
                "maximum": max(vals),
                "count": len(vals),
                "suspect": suspect.pop((s, p, h), 0),
            }
            for (s, p, h), vals in groups.items()
        ]
        conn = session.connection()
        fresh: dict[tuple[str, str, datetime], dict[str, Any]] = {}
        for start in range(0, len(values), 1000):
            for row in conn.execute(stmt, values[start : start + 1000]):
                d = dict(zip(_HOURLY_COLUMNS, row, strict=True))
                d["hour"] = aware(d["hour"])
                out[d["station_id"]].append(d)
                key = (d["station_id"], d["parameter"], d["hour"])
                if d["count"] == len(groups[key]):  # a new hour: no good reading was stored before
                    fresh[key] = d
        if fresh:
            _count_earlier_suspects(session, fresh)
    if suspect:  # hours where the batch brought only suspect readings: count them on an existing mean
        _set_suspect(session, suspect.items(), add=True)
    return out


def _set_suspect(
    session: Session, counts: Iterable[tuple[tuple[str, str, datetime], int]], *, add: bool
) -> None:
    """Set (or add to) the suspect counts of hourly rows, keyed by (station, parameter, hour)."""
    n = bindparam("n", type_=Integer)
    session.connection().execute(
        update(HourlyMean)
        .where(
            HourlyMean.station_id == bindparam("s"),
            HourlyMean.parameter == bindparam("p"),
            HourlyMean.hour == bindparam("h"),
        )
        .values(suspect=HourlyMean.suspect + n if add else n),
        [{"s": s, "p": p, "h": h, "n": k} for (s, p, h), k in counts],
    )


def _count_earlier_suspects(session: Session, fresh: dict[tuple[str, str, datetime], dict[str, Any]]) -> None:
    """A new hourly row also counts the suspect readings its hour received before its first good one."""
    table = Reading.__table__
    c = table.c
    hours = [h for _, _, h in fresh]
    found: dict[tuple[str, str, datetime], int] = defaultdict(int)
    for station_id, parameter, t in session.connection().execute(
        select(c.station_id, c.parameter, c.observed_at).where(
            c.station_id.in_({k[0] for k in fresh}),
            c.parameter.in_({k[1] for k in fresh}),
            c.observed_at >= min(hours),
            c.observed_at < max(hours) + HOUR,
            c.quality != "ok",
        )
    ):
        key = (station_id, parameter, hour_floor(t))
        if key in fresh:
            found[key] += 1
    changed = [(key, n) for key, n in found.items() if n != fresh[key]["suspect"]]
    if not changed:
        return
    _set_suspect(session, changed, add=False)
    for key, n in changed:
        fresh[key]["suspect"] = n


def _upsert_indices(session: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    insert = insert_for(session)
    table = IndexValue.__table__
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["station_id", "kind", "period_start"],
        set_={
            c: stmt.excluded[c]
            for c in ("value", "dominant", "reason", "sub_indices", "inputs", "exceedances", "computed_at")
        },
    )
    session.connection().execute(stmt, rows)


def _index_row(
    station_id: str, kind: str, start: datetime, r: ix.IndexResult, exc: list, now: datetime
) -> dict:
    return {
        "station_id": station_id,
        "kind": kind,
        "period_start": start,
        "value": r.value,
        "dominant": r.dominant,
        "reason": r.reason,
        "sub_indices": {k: round(v, 2) for k, v in r.sub_indices.items()},
        "inputs": {k: round(v, 3) for k, v in r.inputs.items()},
        "exceedances": exc,
        "computed_at": now,
    }


def _means(
    session: Session, station_id: str, since: datetime, until: datetime
) -> dict[tuple[str, datetime], float]:
    rows = session.execute(
        select(HourlyMean.parameter, HourlyMean.hour, HourlyMean.mean).where(
            HourlyMean.station_id == station_id, HourlyMean.hour >= since, HourlyMean.hour < until
        )
    ).all()
    return {(p, aware(h)): m for p, h, m in rows}


def recompute_indices(session: Session, station: Station, hours: set[datetime], now: datetime) -> list[dict]:
    """Recompute the hourly and daily indices the given hours affect (NowCast reaches 11 hours ahead)."""
    if station.kind not in ("air", "water") or not hours:
        return []
    now_hour = hour_floor(now)
    first, last = min(hours), max(hours)
    day_first = local_day_start(first)
    day_last = local_day_start(last) + timedelta(days=1)
    since = min(first - 11 * HOUR, day_first - 8 * HOUR)
    until = max(last + 12 * HOUR, day_last)
    means = _means(session, station.id, since, until)
    out: list[dict] = []
    affected: set[datetime] = set()
    days: set[datetime] = set()
    for h in hours:
        days.add(local_day_start(h))
        span = range(12) if station.kind == "air" else range(1)
        for k in span:
            if h + k * HOUR <= now_hour:
                affected.add(h + k * HOUR)
    present_hours = {h for (_, h) in means}
    for h in sorted(affected):
        if h not in present_hours and station.kind == "water":
            continue
        if station.kind == "air":
            hour_means = {p: means.get((p, h)) for p in ("SO2", "CO", "NO2", "O3", "TSP")}
            history = {p: [means.get((p, h - i * HOUR)) for i in range(12)] for p in ("PM2.5", "PM10")}
            if all(v is None for v in hour_means.values()) and all(
                v[0] is None and v[1] is None for v in history.values()
            ):
                continue
            r = ix.hourly_aqi(hour_means, history)
            exc = ix.qcvn05_exceedances(hour_means, "1h")
            for p in ("O3", "CO"):
                window = [means.get((p, h - i * HOUR)) for i in range(8)]
                present = [v for v in window if v is not None]
                if len(present) >= ix.MIN_HOURS_8H_MEAN:
                    exc += ix.qcvn05_exceedances({p: sum(present) / len(present)}, "8h")
            out.append(_index_row(station.id, "aqi_hour", h, r, exc, now))
        else:
            conc: dict[str, float | None] = {p: means.get((p, h)) for p in station.parameters}
            r = ix.wqi(conc, temperature_c=means.get(("water_temperature", h)))
            out.append(_index_row(station.id, "wqi_hour", h, r, [], now))
    for d in sorted(days):
        day_hours = [d + i * HOUR for i in range(24)]
        if not any(h in present_hours for h in day_hours):
            continue
        if station.kind == "air":
            series = {p: [means.get((p, h)) for h in day_hours] for p in ix.AQI_POLLUTANTS}
            o3_prev = [means.get(("O3", d - (7 - i) * HOUR)) for i in range(7)]
            r = ix.daily_aqi(series, o3_prev)
            daily_means = {}
            for p in ("PM2.5", "PM10", "SO2", "NO2", "TSP"):
                vals = [means.get((p, h)) for h in day_hours]
                present = [v for v in vals if v is not None]
                if len(present) >= ix.MIN_HOURS_DAILY_MEAN:
                    daily_means[p] = sum(present) / len(present)
            exc = ix.qcvn05_exceedances(daily_means, "24h", d.astimezone(VN_TZ).date())
            out.append(_index_row(station.id, "aqi_day", d, r, exc, now))
        else:
            day_conc: dict[str, float | None] = {}
            for p in station.parameters:
                present = [means[(p, h)] for h in day_hours if (p, h) in means]
                day_conc[p] = sum(present) / len(present) if present else None
            r = ix.wqi(day_conc, temperature_c=day_conc.get("water_temperature"))
            out.append(_index_row(station.id, "wqi_day", d, r, [], now))
    _upsert_indices(session, out)
    return out
