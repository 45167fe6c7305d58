"""Ingestion: device authentication, validation and unit conversion, idempotent storage, hourly means and
index recomputation (late and out-of-order data recompute what they affect), then the alert rules.

Every channel (HTTP batch, NGSI-LD, MQTT) ends here: `authenticate` -> `prepare` -> `store`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Float, Integer, String, bindparam, case, column, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tinhso.environment import indices as ix
from tinhso.environment import parameters as params
from tinhso.environment.config import env_settings
from tinhso.environment.models import Device, DeviceCredential, HourlyMean, IndexValue, Reading, Station
from tinhso.kit.db import UTCDateTime, utcnow
from tinhso.kit.errors import Forbidden, Unauthorized, Unprocessable
from tinhso.kit.security import hash_secret

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class DeviceContext:
    """An authenticated device and its station, as ingestion needs them."""

    credential_id: str
    device_id: str
    device_code: str
    device_parameters: tuple[str, ...]
    station_id: str
    station_code: str
    station_kind: str
    station_parameters: tuple[str, ...]
    agency_code: str


def authenticate(
    session: Session,
    secret: str | None,
    *,
    mqtt_username: str | None = None,
    station_code: str | None = None,
    device_code: str | None = None,
    known: dict[str, Any] | None = None,
) -> DeviceContext:
    """The device behind a token (HTTP, NGSI-LD, MQTT payload) or an MQTT username and password.

    `known` is what `preload_credentials` fetched for a batch (one query for many messages)."""
    if not secret:
        raise Unauthorized("device_credential_missing", "A device credential is required")
    digest = hash_secret(secret)
    if known is not None and digest in known:
        row = known[digest]
    else:
        row = session.execute(_credential_query([digest])).first()
    if row is None:
        raise Unauthorized("device_unknown", "Unknown device credential")
    cred, device, station = row
    if mqtt_username is not None and cred.mqtt_username != mqtt_username:
        raise Unauthorized("device_unknown", "Unknown device credential")
    if cred.revoked_at is not None:
        raise Unauthorized("device_credential_revoked", "The device credential was revoked")
    if device.status == "retired" or station.status == "retired":
        raise Forbidden("device_retired", "The device or its station is retired")
    if (station_code is not None and station_code != station.code) or (
        device_code is not None and device_code != device.code
    ):
        raise Forbidden("topic_not_allowed", "This device may publish only to its own topic")
    now = utcnow()
    if cred.last_used_at is None or now - cred.last_used_at > timedelta(minutes=1):
        cred.last_used_at = now
    return DeviceContext(
        cred.id,
        device.id,
        device.code,
        tuple(device.parameters or ()),
        station.id,
        station.code,
        station.kind,
        tuple(station.parameters or ()),
        station.agency_code,
    )


def _credential_query(digests: list[str]) -> Any:
    return (
        select(DeviceCredential, Device, Station)
        .join(Device, Device.id == DeviceCredential.device_id)
        .join(Station, Station.id == Device.station_id)
        .where(DeviceCredential.secret_hash.in_(digests))
    )


def preload_credentials(session: Session, secrets: Iterable[str]) -> dict[str, Any]:
    """The credentials, devices and stations of many secrets in one query, keyed by secret hash."""
    digests = sorted({hash_secret(s) for s in secrets if s})
    known: dict[str, Any] = {}
    for start in range(0, len(digests), 500):
        for row in session.execute(_credential_query(digests[start : start + 500])):
            known[row[0].secret_hash] = row
    return known


def _aware(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def prepare(
    ctx: DeviceContext, items: Iterable[dict[str, Any]], channel: str, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Validate and convert readings ({parameter, value, unit, time}) into rows; any bad one refuses all."""
    now = now or utcnow()
    settings = env_settings()
    oldest = now - timedelta(days=settings.retention_days)
    rows: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        p = params.resolve(str(item["parameter"]))
        if ctx.station_parameters and p.code not in ctx.station_parameters:
            raise Unprocessable(
                "parameter_not_measured", "The station does not measure {parameter}", parameter=p.code
            )
        if ctx.device_parameters and p.code not in ctx.device_parameters:
            raise Unprocessable(
                "parameter_not_measured", "The station does not measure {parameter}", parameter=p.code
            )
        raw = item["value"]
        if (
            isinstance(raw, bool)
            or not isinstance(raw, int | float)
            or raw != raw
            or raw in (float("inf"), float("-inf"))
        ):
            raise Unprocessable("value_not_number", "Reading {index}: the value is not a number", index=index)
        value = params.to_canonical(p, float(raw), item.get("unit"))
        observed = item["time"]
        if isinstance(observed, str):
            try:
                observed = datetime.fromisoformat(observed.replace("Z", "+00:00"))
            except ValueError as exc:
                raise Unprocessable(
                    "time_invalid", "Reading {index}: the time is not valid", index=index
                ) from exc
        observed = _aware(observed).replace(microsecond=0)
        if observed > now + timedelta(seconds=settings.max_future_seconds):
            raise Unprocessable(
                "reading_in_future", "Reading {index}: the time is in the future", index=index
            )
        if observed < oldest:
            raise Unprocessable(
                "reading_too_old", "Reading {index}: older than the retention period", index=index
            )
        if not p.hard[0] <= value <= p.hard[1]:
            raise Unprocessable(
                "value_impossible",
                "Reading {index}: {parameter} = {value} {unit} is physically impossible",
                index=index,
                parameter=p.code,
                value=round(value, 4),
                unit=p.unit,
            )
        flags = [] if p.plausible[0] <= value <= p.plausible[1] else ["out_of_range"]
        rows.append(
            {
                "station_id": ctx.station_id,
                "device_id": ctx.device_id,
                "parameter": p.code,
                "observed_at": observed,
                "value": value,
                "quality": "suspect" if flags else "ok",
                "flags": flags,
                "received_at": now,
                "channel": channel,
            }
        )
    return rows


def _insert_for(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def hour_floor(t: datetime) -> datetime:
    return _aware(t).replace(minute=0, second=0, microsecond=0)


def local_day_start(t: datetime) -> datetime:
    """The UTC start of the Vietnamese calendar day containing t."""
    local = _aware(t).astimezone(VN_TZ)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


@dataclass
class StoreResult:
    accepted: int = 0
    duplicates: int = 0
    flagged: int = 0
    alerts: list[str] = field(default_factory=list)
    inserted: list[dict[str, Any]] = field(default_factory=list)


@lru_cache(maxsize=8)
def _previous_statement(n: int) -> Any:
    parts = [
        f"SELECT * FROM (SELECT device_id, parameter, observed_at, value FROM environment_reading"
        f" WHERE device_id = :d{i} AND parameter = :p{i} AND observed_at >= :a{i} AND observed_at < :b{i}"
        f" AND quality = 'ok' ORDER BY observed_at DESC LIMIT 1) AS q{i}"
        for i in range(n)
    ]
    when = UTCDateTime()
    return (
        text(" UNION ALL ".join(parts))
        .bindparams(*(bindparam(f"{x}{i}", type_=when) for i in range(n) for x in "ab"))
        .columns(
            column("device_id", String),
            column("parameter", String),
            column("observed_at", when),
            column("value", Float),
        )
    )


def _flag_steps(session: Session, rows: list[dict[str, Any]]) -> None:
    """Rate-of-change check: flag a reading that jumps more than the parameter allows within an hour of the
    previous good reading (of the batch, or the latest stored before the batch's first)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if params.PARAMETERS[r["parameter"]].max_step is not None:
            groups[(r["device_id"], r["parameter"])].append(r)
    if not groups:
        return
    for group in groups.values():
        group.sort(key=lambda r: r["observed_at"])
    previous: dict[tuple[str, str], tuple[datetime, float]] = {}
    keys = list(groups)
    # The latest good reading before each group's first: one indexed lookup per (device, parameter), sent as
    # one UNION ALL statement per 100 groups (plain SQL: the same text on SQLite and PostgreSQL).
    for start in range(0, len(keys), 100):
        chunk = keys[start : start + 100]
        stmt = _previous_statement(len(chunk))
        binds: dict[str, Any] = {}
        for i, (device_id, parameter) in enumerate(chunk):
            first = groups[(device_id, parameter)][0]["observed_at"]
            binds |= {f"d{i}": device_id, f"p{i}": parameter, f"a{i}": first - HOUR, f"b{i}": first}
        for device_id, parameter, t, v in session.execute(stmt, binds):
            previous[(device_id, parameter)] = (_aware(t), v)
    for (device_id, parameter), group in groups.items():
        step = params.PARAMETERS[parameter].max_step or 0
        last = previous.get((device_id, parameter))
        for r in group:
            if last is not None and r["observed_at"] - last[0] <= HOUR and abs(r["value"] - last[1]) > step:
                r["flags"] = [*r["flags"], "rate_of_change"]
                r["quality"] = "suspect"
            if r["quality"] == "ok":
                last = (r["observed_at"], r["value"])


def store(session: Session, rows: list[dict[str, Any]], now: datetime | None = None) -> StoreResult:
    """Store prepared rows once each, then update the hourly means and recompute the indices they touch and
    run the alert rules. Duplicates (same device, parameter and time) are counted and ignored."""
    from tinhso.environment import alerts

    now = now or utcnow()
    result = StoreResult()
    if not rows:
        return result
    _flag_steps(session, rows)
    table = Reading.__table__
    conn = session.connection()
    for start in range(0, len(rows), 5000):
        chunk = rows[start : start + 5000]
        ids = _insert_readings(session, chunk)
        if len(ids) == len(chunk):  # the usual case: nothing was there already
            result.inserted += chunk
            continue
        done: set[tuple[str, str, datetime]] = set()
        for part in range(0, len(ids), 500):
            done |= {
                (d, p, _aware(t))
                for d, p, t in conn.execute(
                    select(table.c.device_id, table.c.parameter, table.c.observed_at).where(
                        table.c.id.in_(ids[part : part + 500])
                    )
                )
            }
        result.inserted += [r for r in chunk if (r["device_id"], r["parameter"], r["observed_at"]) in done]
    result.accepted = len(result.inserted)
    result.duplicates = len(rows) - result.accepted
    result.flagged = sum(1 for r in result.inserted if r["quality"] != "ok")
    if not result.inserted:
        return result
    hourly_by_station = update_hourly(session, result.inserted)
    by_station: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in result.inserted:
        by_station[r["station_id"]].append(r)
    silence = timedelta(minutes=env_settings().silence_minutes)
    for station_id, inserted in by_station.items():
        station = session.get(Station, station_id)
        if station is None:
            continue
        latest = max(r["observed_at"] for r in inserted)
        before = station.last_reading_at
        resumed = before is not None and latest > before and now - before > silence
        if before is None or latest > before:
            station.last_reading_at = latest
        hours = {hour_floor(r["observed_at"]) for r in inserted}
        index_rows = recompute_indices(session, station, hours, now)
        hourly_rows = hourly_by_station.get(station_id, [])
        result.alerts += alerts.evaluate(session, station, inserted, hourly_rows, index_rows, now, resumed)
    devices: dict[str, datetime] = {}
    for r in rows:
        if r["device_id"] not in devices or r["observed_at"] > devices[r["device_id"]]:
            devices[r["device_id"]] = r["observed_at"]
    for device_id, seen in devices.items():
        device = session.get(Device, device_id)
        if device is not None and (device.last_seen_at is None or seen > device.last_seen_at):
            device.last_seen_at = seen
    session.flush()
    return result


_READING_COLUMNS = (
    ("station_id", "varchar"),
    ("device_id", "varchar"),
    ("parameter", "varchar"),
    ("observed_at", "timestamptz"),
    ("value", "float8"),
    ("quality", "varchar"),
    ("flags", "jsonb"),
    ("received_at", "timestamptz"),
    ("channel", "varchar"),
)
# PostgreSQL: one array per column, unnested into rows. A multi-row VALUES list with a parameter per cell
# costs the driver more than the database (psycopg converts each long statement's placeholders anew).
_PG_INSERT_READINGS = text(
    f"INSERT INTO environment_reading ({', '.join(c for c, _ in _READING_COLUMNS)}) "
    f"SELECT * FROM unnest({', '.join(f'CAST(:{c} AS {t}[])' for c, t in _READING_COLUMNS)}) "
    "ON CONFLICT (device_id, parameter, observed_at) DO NOTHING RETURNING id"
)


def _insert_readings(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows, skipping those already stored; returns the ids of the inserted ones."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        arrays: dict[str, list[Any]] = {c: [r[c] for r in rows] for c, _ in _READING_COLUMNS}
        arrays["flags"] = [json.dumps(f) for f in arrays["flags"]]
        return [i for (i,) in conn.execute(_PG_INSERT_READINGS, arrays)]
    stmt = (
        sqlite_insert(Reading)
        .on_conflict_do_nothing(index_elements=["device_id", "parameter", "observed_at"])
        .returning(Reading.id)
    )
    return [i for (i,) in conn.execute(stmt, rows)]


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
        stmt = _insert_for(session)(table)
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
                d["hour"] = _aware(d["hour"])
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
    insert = _insert_for(session)
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
    return {(p, _aware(h)): m for p, h, m in rows}


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
