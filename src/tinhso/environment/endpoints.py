"""Environment API: stations, devices, credentials, device ingestion, readings, indices, alerts, duty roster."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from tinhso.environment import alerts as alert_rules
from tinhso.environment import ingest, ratelimit, service
from tinhso.environment import repository as repo
from tinhso.environment.indices import aqi_category, wqi_category
from tinhso.environment.models import DutyContact
from tinhso.environment.schemas import (
    AlertAction,
    AlertRead,
    CredentialCreate,
    CredentialIssued,
    CredentialRead,
    DeviceCreate,
    DeviceRead,
    DeviceUpdate,
    DutyCreate,
    DutyRead,
    HourlyRead,
    IndexRead,
    IngestResult,
    ReadingBatch,
    ReadingRead,
    StationCreate,
    StationRead,
    StationUpdate,
)
from tinhso.identity.auth import CurrentPrincipal
from tinhso.kit import audit
from tinhso.kit.db import utcnow
from tinhso.kit.deps import SessionDep
from tinhso.kit.errors import BadRequest, Forbidden, NotFound, Unauthorized
from tinhso.kit.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/api/v1/environment", tags=["environment"])


def device_secret(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("device_credential_missing", "A device credential is required")
    return token.strip()


# ------------------------------------------------------------------------------------------ stations


@router.get("/stations", response_model=Page[StationRead])
def list_stations(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    kind: Literal["air", "water", "weather"] | None = None,
    commune_code: Annotated[str | None, Query(pattern=r"^\d{5}$")] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[StationRead]:
    rows, total = paginate(session, repo.stations_statement(session, principal, kind, commune_code, q), page)
    return Page(
        items=[StationRead.model_validate(r) for r in rows],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )


@router.post("/stations", response_model=StationRead, status_code=201)
def create_station(data: StationCreate, session: SessionDep, principal: CurrentPrincipal) -> StationRead:
    return StationRead.model_validate(service.create_station(session, principal, data))


@router.get("/stations/{station_id}", response_model=StationRead)
def get_station(station_id: str, session: SessionDep, principal: CurrentPrincipal) -> StationRead:
    return StationRead.model_validate(service.station_for_read(session, principal, station_id))


@router.patch("/stations/{station_id}", response_model=StationRead)
def update_station(
    station_id: str, data: StationUpdate, session: SessionDep, principal: CurrentPrincipal
) -> StationRead:
    return StationRead.model_validate(service.update_station(session, principal, station_id, data))


# ------------------------------------------------------------------------------------------- devices


@router.get("/stations/{station_id}/devices", response_model=list[DeviceRead])
def list_devices(station_id: str, session: SessionDep, principal: CurrentPrincipal) -> list[DeviceRead]:
    station = service.station_for_read(session, principal, station_id)
    return [DeviceRead.model_validate(d) for d in repo.devices_of(session, station.id)]


@router.post("/stations/{station_id}/devices", response_model=DeviceRead, status_code=201)
def create_device(
    station_id: str, data: DeviceCreate, session: SessionDep, principal: CurrentPrincipal
) -> DeviceRead:
    return DeviceRead.model_validate(service.create_device(session, principal, station_id, data))


@router.patch("/stations/{station_id}/devices/{device_id}", response_model=DeviceRead)
def update_device(
    station_id: str, device_id: str, data: DeviceUpdate, session: SessionDep, principal: CurrentPrincipal
) -> DeviceRead:
    return DeviceRead.model_validate(service.update_device(session, principal, station_id, device_id, data))


@router.get("/stations/{station_id}/devices/{device_id}/credentials", response_model=list[CredentialRead])
def list_credentials(
    station_id: str, device_id: str, session: SessionDep, principal: CurrentPrincipal
) -> list[CredentialRead]:
    device = service.device_for_write(session, principal, station_id, device_id)
    return [CredentialRead.model_validate(c) for c in repo.credentials_of(session, device.id)]


@router.post(
    "/stations/{station_id}/devices/{device_id}/credentials", response_model=CredentialIssued, status_code=201
)
def issue_credential(
    station_id: str, device_id: str, data: CredentialCreate, session: SessionDep, principal: CurrentPrincipal
) -> CredentialIssued:
    """Issue a token (HTTP, NGSI-LD, MQTT payload) or an MQTT username/password; the secret is shown once."""
    return service.issue_credential(session, principal, station_id, device_id, data)


@router.post(
    "/stations/{station_id}/devices/{device_id}/credentials/{credential_id}/revoke",
    response_model=CredentialRead,
)
def revoke_credential(
    station_id: str, device_id: str, credential_id: str, session: SessionDep, principal: CurrentPrincipal
) -> CredentialRead:
    return CredentialRead.model_validate(
        service.revoke_credential(session, principal, station_id, device_id, credential_id)
    )


# ----------------------------------------------------------------------------------------- ingestion


@router.post("/ingest", response_model=IngestResult, tags=["environment-devices"])
def ingest_readings(data: ReadingBatch, request: Request, session: SessionDep) -> IngestResult:
    """Readings from a device, authenticated by its token (`Authorization: Bearer dev_…`). Idempotent on
    (device, parameter, time); any invalid reading refuses the whole batch."""
    ctx = ingest.authenticate(session, device_secret(request))
    ratelimit.check(session, ctx, len(data.readings))
    rows = ingest.prepare(ctx, (r.model_dump() for r in data.readings), "http")
    result = ingest.store(session, rows)
    return IngestResult(
        accepted=result.accepted, duplicates=result.duplicates, flagged=result.flagged, alerts=result.alerts
    )


# ------------------------------------------------------------------------------------- data reading


def _window(since: datetime | None, until: datetime | None, default: timedelta) -> tuple[datetime, datetime]:
    until = until or utcnow() + timedelta(hours=1)
    since = since or until - default
    if since >= until:
        raise BadRequest("bad_time_range", "The start of the range must be before its end")
    if until - since > timedelta(days=400):
        raise BadRequest("time_range_too_long", "The time range may not exceed 400 days")
    return since, until


@router.get("/stations/{station_id}/readings", response_model=list[ReadingRead])
def station_readings(
    station_id: str,
    session: SessionDep,
    principal: CurrentPrincipal,
    parameter: Annotated[str | None, Query(max_length=32)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> list[ReadingRead]:
    station = service.station_for_read(session, principal, station_id)
    lo, hi = _window(since, until, timedelta(days=1))
    return [
        ReadingRead.model_validate(r) for r in repo.readings(session, station.id, parameter, lo, hi, limit)
    ]


@router.get("/stations/{station_id}/hourly", response_model=list[HourlyRead])
def station_hourly(
    station_id: str,
    session: SessionDep,
    principal: CurrentPrincipal,
    parameter: Annotated[str | None, Query(max_length=32)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[HourlyRead]:
    station = service.station_for_read(session, principal, station_id)
    lo, hi = _window(since, until, timedelta(days=7))
    rows = repo.hourly(session, [station.id], [parameter] if parameter else None, lo, hi)
    return [HourlyRead.model_validate(r) for r in rows]


def index_read(row) -> IndexRead:  # noqa: ANN001
    out = IndexRead.model_validate(row)
    cat = aqi_category(row.value) if row.kind.startswith("aqi") else wqi_category(row.value)
    if cat is not None:
        out.category_vi, out.category_en, out.colour = cat.name_vi, cat.name_en, cat.hex
    return out


@router.get("/stations/{station_id}/indices", response_model=list[IndexRead])
def station_indices(
    station_id: str,
    session: SessionDep,
    principal: CurrentPrincipal,
    kind: Literal["aqi_hour", "aqi_day", "wqi_hour", "wqi_day"] = "aqi_hour",
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[IndexRead]:
    station = service.station_for_read(session, principal, station_id)
    lo, hi = _window(since, until, timedelta(days=2))
    return [index_read(r) for r in repo.index_values(session, station.id, kind, lo, hi)]


# ------------------------------------------------------------------------------------------- alerts


@router.get("/alerts", response_model=Page[AlertRead])
def list_alerts(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    status: Literal["open", "acknowledged", "resolved", "active"] | None = None,
    station_id: str | None = None,
) -> Page[AlertRead]:
    rows, total = paginate(session, repo.alerts_statement(session, principal, status, station_id), page)
    return Page(
        items=[AlertRead.model_validate(r) for r in rows],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )


@router.get("/alerts/{alert_id}")
def get_alert(alert_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict:
    alert = alert_rules.alert_for(session, principal, alert_id)
    return {
        "alert": AlertRead.model_validate(alert).model_dump(mode="json"),
        "history": [
            {"at": h.at.isoformat(), "action": h.action, "actor": h.actor, "note": h.note}
            for h in alert_rules.history(session, alert.id)
        ],
    }


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertRead)
def acknowledge_alert(
    alert_id: str, session: SessionDep, principal: CurrentPrincipal, data: AlertAction | None = None
) -> AlertRead:
    return AlertRead.model_validate(
        alert_rules.acknowledge(session, principal, alert_id, data.note if data else None)
    )


@router.post("/alerts/{alert_id}/resolve", response_model=AlertRead)
def resolve_alert(
    alert_id: str, session: SessionDep, principal: CurrentPrincipal, data: AlertAction | None = None
) -> AlertRead:
    return AlertRead.model_validate(
        alert_rules.resolve(session, principal, alert_id, data.note if data else None)
    )


# --------------------------------------------------------------------------------------- duty roster


def _roster_admin(principal: CurrentPrincipal) -> str:
    if not principal.has_role("agency_admin") or not principal.agency_code:
        raise Forbidden("role_required", "This needs one of the roles: {roles}", roles="agency_admin")
    return principal.agency_code


@router.get("/duty", response_model=list[DutyRead])
def list_duty(session: SessionDep, principal: CurrentPrincipal) -> list[DutyRead]:
    """The duty roster of the caller's agency (personal contact data: the read is audited)."""
    agency = _roster_admin(principal)
    rows = list(
        session.scalars(
            select(DutyContact).where(DutyContact.agency_code == agency).order_by(DutyContact.level)
        )
    )
    audit.record(
        session,
        "environment.duty.read",
        object_type="environment.duty",
        object_id=agency,
        purpose="duty roster",
    )
    return [DutyRead.model_validate(r) for r in rows]


@router.post("/duty", response_model=DutyRead, status_code=201)
def add_duty(data: DutyCreate, session: SessionDep, principal: CurrentPrincipal) -> DutyRead:
    agency = _roster_admin(principal)
    if not data.phone and not data.email:
        raise BadRequest("duty_contact_needed", "A person on duty needs a phone number or an e-mail address")
    row = DutyContact(
        agency_code=agency, name=data.name, phone=data.phone, email=data.email, level=data.level
    )
    session.add(row)
    session.flush()
    audit.record(session, "environment.duty.create", object_type="environment.duty", object_id=row.id)
    return DutyRead.model_validate(row)


@router.delete("/duty/{duty_id}", status_code=204)
def remove_duty(duty_id: str, session: SessionDep, principal: CurrentPrincipal) -> None:
    agency = _roster_admin(principal)
    row = session.get(DutyContact, duty_id)
    if row is None or row.agency_code != agency:
        raise NotFound("duty_not_found", "Duty contact {id} not found", id=duty_id)
    row.active = False
    audit.record(session, "environment.duty.remove", object_type="environment.duty", object_id=row.id)
