"""Ingestion: device authentication, validation and unit conversion, flags, idempotent storage, then the
aggregates (`aggregates.py`: hourly means and the indices late and out-of-order data affect) and the alert rules.

Every channel (HTTP batch, NGSI-LD, MQTT) ends here: `authenticate` -> `prepare` -> `store`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Float, String, bindparam, column, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tinhso.environment import parameters as params
from tinhso.environment.aggregates import HOUR, aware, hour_floor, recompute_indices, update_hourly
from tinhso.environment.config import env_settings
from tinhso.environment.models import Device, DeviceCredential, Reading, Station
from tinhso.kit.db import UTCDateTime, utcnow
from tinhso.kit.errors import Forbidden, Unauthorized, Unprocessable
from tinhso.kit.security import hash_secret


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
        observed = aware(observed).replace(microsecond=0)
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
            previous[(device_id, parameter)] = (aware(t), v)
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
    run the alert rules. Duplicates (same station, parameter and time — whichever device sent them, in this
    batch or before) are counted and ignored."""
    from tinhso.environment import alerts

    now = now or utcnow()
    result = StoreResult()
    if not rows:
        return result
    unique: dict[tuple[str, str, datetime], dict[str, Any]] = {}
    for r in rows:
        unique.setdefault((r["station_id"], r["parameter"], r["observed_at"]), r)
    rows_in = list(unique.values())
    _flag_steps(session, rows_in)
    table = Reading.__table__
    conn = session.connection()
    for start in range(0, len(rows_in), 5000):
        chunk = rows_in[start : start + 5000]
        ids = _insert_readings(session, chunk)
        if len(ids) == len(chunk):  # the usual case: nothing was there already
            result.inserted += chunk
            continue
        done: set[tuple[str, str, datetime]] = set()
        for part in range(0, len(ids), 500):
            done |= {
                (d, p, aware(t))
                for d, p, t in conn.execute(
                    select(table.c.station_id, table.c.parameter, table.c.observed_at).where(
                        table.c.id.in_(ids[part : part + 500])
                    )
                )
            }
        result.inserted += [r for r in chunk if (r["station_id"], r["parameter"], r["observed_at"]) in done]
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
    "ON CONFLICT (station_id, parameter, observed_at) DO NOTHING RETURNING id"
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
        .on_conflict_do_nothing(index_elements=["station_id", "parameter", "observed_at"])
        .returning(Reading.id)
    )
    return [i for (i,) in conn.execute(stmt, rows)]
