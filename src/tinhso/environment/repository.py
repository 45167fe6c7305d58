"""Environment queries, scoped to the caller's agencies where the data is not public."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from tinhso.environment.models import (
    Alert,
    Device,
    DeviceCredential,
    HourlyMean,
    IndexValue,
    Reading,
    Station,
)
from tinhso.identity.principal import Principal
from tinhso.identity.repository import readable_agencies
from tinhso.kit.db import utcnow
from tinhso.kit.text import fold

RESOURCE = "environment.station"


def visible_agencies(session: Session, principal: Principal) -> set[str] | None:
    return readable_agencies(session, principal, RESOURCE, utcnow())


def stations_statement(
    session: Session,
    principal: Principal,
    kind: str | None = None,
    commune_code: str | None = None,
    q: str | None = None,
) -> Select[Station]:
    stmt = select(Station).order_by(Station.code)
    agencies = visible_agencies(session, principal)
    if agencies is not None:
        stmt = stmt.where(Station.agency_code.in_(agencies))
    if kind:
        stmt = stmt.where(Station.kind == kind)
    if commune_code:
        stmt = stmt.where(Station.commune_code == commune_code)
    for word in fold(q or "").split():
        stmt = stmt.where(Station.search_text.contains(word, autoescape=True))
    return stmt


def public_stations(session: Session, kind: str | None = None) -> list[Station]:
    stmt = select(Station).where(Station.public.is_(True), Station.status != "retired").order_by(Station.code)
    if kind:
        stmt = stmt.where(Station.kind == kind)
    return list(session.scalars(stmt))


def get_station(session: Session, station_id: str) -> Station | None:
    return session.get(Station, station_id)


def get_station_by_code(session: Session, code: str) -> Station | None:
    return session.scalar(select(Station).where(Station.code == code))


def devices_of(session: Session, station_id: str) -> list[Device]:
    return list(session.scalars(select(Device).where(Device.station_id == station_id).order_by(Device.code)))


def get_device(session: Session, station_id: str, device_id: str) -> Device | None:
    device = session.get(Device, device_id)
    return device if device is not None and device.station_id == station_id else None


def get_device_by_code(session: Session, station_id: str, code: str) -> Device | None:
    return session.scalar(select(Device).where(Device.station_id == station_id, Device.code == code))


def credentials_of(session: Session, device_id: str) -> list[DeviceCredential]:
    return list(
        session.scalars(
            select(DeviceCredential)
            .where(DeviceCredential.device_id == device_id)
            .order_by(DeviceCredential.created_at)
        )
    )


def credential_by_hash(session: Session, secret_hash: str) -> DeviceCredential | None:
    return session.scalar(select(DeviceCredential).where(DeviceCredential.secret_hash == secret_hash))


def readings(
    session: Session, station_id: str, parameter: str | None, since: datetime, until: datetime, limit: int
) -> list[Reading]:
    stmt = (
        select(Reading)
        .where(Reading.station_id == station_id, Reading.observed_at >= since, Reading.observed_at < until)
        .order_by(Reading.observed_at, Reading.parameter)
        .limit(limit)
    )
    if parameter:
        stmt = stmt.where(Reading.parameter == parameter)
    return list(session.scalars(stmt))


def hourly(
    session: Session, station_ids: list[str], parameters: list[str] | None, since: datetime, until: datetime
) -> list[HourlyMean]:
    stmt = (
        select(HourlyMean)
        .where(HourlyMean.station_id.in_(station_ids), HourlyMean.hour >= since, HourlyMean.hour < until)
        .order_by(HourlyMean.hour)
    )
    if parameters:
        stmt = stmt.where(HourlyMean.parameter.in_(parameters))
    return list(session.scalars(stmt))


def index_values(
    session: Session, station_id: str, kind: str, since: datetime, until: datetime
) -> list[IndexValue]:
    return list(
        session.scalars(
            select(IndexValue)
            .where(
                IndexValue.station_id == station_id,
                IndexValue.kind == kind,
                IndexValue.period_start >= since,
                IndexValue.period_start < until,
            )
            .order_by(IndexValue.period_start)
        )
    )


def latest_index(session: Session, station_id: str, kind: str) -> IndexValue | None:
    return session.scalar(
        select(IndexValue)
        .where(IndexValue.station_id == station_id, IndexValue.kind == kind, IndexValue.value.is_not(None))
        .order_by(IndexValue.period_start.desc())
        .limit(1)
    )


def alerts_statement(
    session: Session, principal: Principal, status: str | None = None, station_id: str | None = None
) -> Select[Alert]:
    stmt = select(Alert).order_by(Alert.raised_at.desc())
    agencies = visible_agencies(session, principal)
    if agencies is not None:
        stmt = stmt.where(Alert.agency_code.in_(agencies))
    if status == "active":
        stmt = stmt.where(Alert.status != "resolved")
    elif status:
        stmt = stmt.where(Alert.status == status)
    if station_id:
        stmt = stmt.where(Alert.station_id == station_id)
    return stmt
