"""What anyone may see without signing in: current indices of public stations, their series, and the daily
open-data export. Read-only."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.environment import parameters as params
from tinhso.environment import repository as repo
from tinhso.environment.aggregates import VN_TZ, hour_floor, local_day_start
from tinhso.environment.indices import Category, aqi_category, wqi_category
from tinhso.environment.models import HourlyMean, IndexValue, Station
from tinhso.kit.db import utcnow
from tinhso.reference.models import Commune

CURRENT_WITHIN = timedelta(hours=3)


@dataclass
class StationNow:
    station: Station
    commune_name: str | None
    index_kind: str | None  # "aqi" or "wqi"
    value: int | None
    category: Category | None
    dominant: str | None
    at: datetime | None
    latest: dict[str, HourlyMean]
    sub_indices: dict[str, Any]

    def as_dict(self, lang: str = "vi") -> dict[str, Any]:
        s = self.station
        return {
            "code": s.code,
            "name": s.name,
            "kind": s.kind,
            "owner": s.owner_name,
            "commune_code": s.commune_code,
            "commune_name": self.commune_name,
            "latitude": s.latitude,
            "longitude": s.longitude,
            "index": self.index_kind,
            "value": self.value,
            "category": (self.category.name_vi if lang == "vi" else self.category.name_en)
            if self.category
            else None,
            "colour": self.category.hex if self.category else None,
            "dominant": self.dominant,
            "at": self.at.isoformat() if self.at else None,
            "parameters": {
                p: {"value": round(m.mean, 3), "unit": params.PARAMETERS[p].unit, "hour": m.hour.isoformat()}
                for p, m in self.latest.items()
            },
        }


def _category(kind: str | None, value: int | None) -> Category | None:
    if kind == "aqi":
        return aqi_category(value)
    if kind == "wqi":
        return wqi_category(value)
    return None


def current(session: Session, stations: list[Station], now: datetime | None = None) -> list[StationNow]:
    now = now or utcnow()
    since = hour_floor(now) - CURRENT_WITHIN
    ids = [s.id for s in stations]
    latest: dict[str, dict[str, HourlyMean]] = defaultdict(dict)
    for m in repo.hourly(session, ids, None, since, now + timedelta(hours=1)):
        latest[m.station_id][m.parameter] = m
    newest: dict[str, IndexValue] = {}
    for row in session.scalars(
        select(IndexValue)
        .where(
            IndexValue.station_id.in_(ids),
            IndexValue.kind.in_(("aqi_hour", "wqi_hour")),
            IndexValue.period_start >= since,
            IndexValue.value.is_not(None),
        )
        .order_by(IndexValue.period_start)
    ):
        newest[row.station_id] = row
    communes = {
        c.code: c.name
        for c in session.scalars(select(Commune).where(Commune.code.in_({s.commune_code for s in stations})))
    }
    out = []
    for s in stations:
        kind = {"air": "aqi", "water": "wqi"}.get(s.kind)
        idx = newest.get(s.id)
        value = idx.value if idx else None
        out.append(
            StationNow(
                s,
                communes.get(s.commune_code or ""),
                kind,
                value,
                _category(kind, value),
                idx.dominant if idx else None,
                idx.period_start if idx else s.last_reading_at,
                latest.get(s.id, {}),
                dict(idx.sub_indices) if idx else {},
            )
        )
    return out


def series(
    session: Session, station: Station, kind: str, days: int, now: datetime | None = None
) -> list[dict]:
    """[{t, value, colour, category_vi, category_en}] of an index over the last `days` (hourly or daily)."""
    now = now or utcnow()
    since = (hour_floor(now) if kind.endswith("hour") else local_day_start(now)) - timedelta(days=days)
    rows = repo.index_values(session, station.id, kind, since, now + timedelta(hours=1))
    out = []
    for r in rows:
        cat = _category(kind.split("_")[0], r.value)
        out.append(
            {
                "t": r.period_start.astimezone(VN_TZ).isoformat(),
                "value": r.value,
                "colour": cat.hex if cat else "#cccccc",
                "category_vi": cat.name_vi if cat else None,
                "category_en": cat.name_en if cat else None,
            }
        )
    return out


EXPORT_FIELDS = [
    "date",
    "station_code",
    "station_name",
    "station_kind",
    "commune_code",
    "latitude",
    "longitude",
    "parameter",
    "unit",
    "daily_mean",
    "daily_min",
    "daily_max",
    "hours",
    "daily_index",
    "index_kind",
    "index_category",
]


def daily_export(session: Session, day: date) -> list[dict[str, Any]]:
    """The open-data rows of one Vietnamese calendar day: each public station's daily mean per parameter
    (from the hourly means) with the station's daily VN_AQI or VN_WQI."""
    start = local_day_start(datetime(day.year, day.month, day.day, 12, tzinfo=VN_TZ))
    end = start + timedelta(days=1)
    stations = repo.public_stations(session)
    if not stations:
        return []
    by_id = {s.id: s for s in stations}
    acc: dict[tuple[str, str], list[HourlyMean]] = defaultdict(list)
    for m in repo.hourly(session, list(by_id), None, start, end):
        acc[(m.station_id, m.parameter)].append(m)
    daily = {
        r.station_id: r
        for r in session.scalars(
            select(IndexValue).where(
                IndexValue.station_id.in_(list(by_id)),
                IndexValue.kind.in_(("aqi_day", "wqi_day")),
                IndexValue.period_start == start,
            )
        )
    }
    rows = []
    for (station_id, parameter), ms in sorted(acc.items(), key=lambda kv: (by_id[kv[0][0]].code, kv[0][1])):
        s = by_id[station_id]
        idx = daily.get(station_id)
        kind = idx.kind.split("_")[0] if idx else None
        cat = _category(kind, idx.value if idx else None)
        rows.append(
            {
                "date": day.isoformat(),
                "station_code": s.code,
                "station_name": s.name,
                "station_kind": s.kind,
                "commune_code": s.commune_code,
                "latitude": s.latitude,
                "longitude": s.longitude,
                "parameter": parameter,
                "unit": params.PARAMETERS[parameter].unit,
                "daily_mean": round(sum(m.mean for m in ms) / len(ms), 3),
                "daily_min": round(min(m.minimum for m in ms), 3),
                "daily_max": round(max(m.maximum for m in ms), 3),
                "hours": len(ms),
                "daily_index": idx.value if idx else None,
                "index_kind": {"aqi": "VN_AQI", "wqi": "VN_WQI"}.get(kind or ""),
                "index_category": cat.name_vi if cat else None,
            }
        )
    return rows


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if r[k] is None else r[k] for k in EXPORT_FIELDS})
    return buf.getvalue()
