"""Stations, devices and device credentials: the rules (never commits; the caller owns the transaction)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tinhso.environment import parameters as params
from tinhso.environment import repository as repo
from tinhso.environment.broker import broker_hash
from tinhso.environment.config import env_settings
from tinhso.environment.models import Device, DeviceCredential, Station
from tinhso.environment.schemas import (
    CredentialCreate,
    CredentialIssued,
    DeviceCreate,
    DeviceUpdate,
    StationCreate,
    StationUpdate,
)
from tinhso.identity.models import Agency
from tinhso.identity.principal import Principal
from tinhso.kit import audit
from tinhso.kit.db import utcnow
from tinhso.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from tinhso.kit.security import hash_secret, new_secret
from tinhso.kit.text import fold
from tinhso.reference.models import Commune

MANAGERS = ("official", "agency_admin")


def _search_text(station: Station) -> str:
    return fold(" ".join(x for x in (station.code, station.name, station.owner_name, station.address) if x))


def _check_parameters(codes: list[str], kind: str) -> list[str]:
    out = []
    for code in codes:
        p = params.resolve(code)
        if kind not in p.kinds:
            raise Unprocessable(
                "parameter_not_for_kind",
                "The parameter {parameter} is not measured at {kind} stations",
                parameter=p.code,
                kind=kind,
            )
        if p.code not in out:
            out.append(p.code)
    return out


def _check_thresholds(thresholds: dict[str, float], measured: list[str]) -> dict[str, float]:
    out = {}
    for code, limit in thresholds.items():
        p = params.resolve(code)
        if p.code not in measured:
            raise Unprocessable(
                "threshold_for_unmeasured",
                "A threshold was given for {parameter}, which the station does not measure",
                parameter=p.code,
            )
        out[p.code] = float(limit)
    return out


def station_for_read(session: Session, principal: Principal, station_id: str) -> Station:
    station = repo.get_station(session, station_id)
    agencies = repo.visible_agencies(session, principal)
    if station is None or (agencies is not None and station.agency_code not in agencies):
        raise NotFound("station_not_found", "Station {id} not found", id=station_id)
    return station


def station_for_write(session: Session, principal: Principal, station_id: str) -> Station:
    station = station_for_read(session, principal, station_id)
    if not principal.is_platform_admin and (
        station.agency_code != principal.agency_code or not principal.has_role(*MANAGERS)
    ):
        raise Forbidden("station_not_managed", "Only the managing agency may change this station")
    return station


def create_station(session: Session, principal: Principal, data: StationCreate) -> Station:
    if not principal.has_role(*MANAGERS):
        raise Forbidden("role_required", "This needs one of the roles: {roles}", roles=", ".join(MANAGERS))
    agency_code = principal.agency_code
    if data.agency_code and data.agency_code != principal.agency_code:
        if not principal.is_platform_admin:
            raise Forbidden("station_not_managed", "Only the managing agency may change this station")
        agency_code = data.agency_code
    agency = session.get(Agency, agency_code) if agency_code else None
    if agency is None:
        raise Unprocessable("agency_not_found", "Agency {code} not found", code=agency_code or "")
    if repo.get_station_by_code(session, data.code) is not None:
        raise Conflict("station_code_taken", "A station with code {code} already exists", code=data.code)
    if data.commune_code and session.get(Commune, data.commune_code) is None:
        raise Unprocessable("commune_not_found", "Commune {code} not found", code=data.commune_code)
    if data.owner_kind == "business" and not (data.owner_name and data.owner_tax_code):
        raise Unprocessable(
            "business_owner_incomplete", "A business owner needs its name and tax code (mã số thuế)"
        )
    measured = _check_parameters(data.parameters, data.kind)
    station = Station(
        code=data.code,
        name=data.name,
        kind=data.kind,
        agency_code=agency.code,
        owner_kind=data.owner_kind,
        owner_name=data.owner_name or agency.name,
        owner_tax_code=data.owner_tax_code,
        commune_code=data.commune_code,
        address=data.address,
        latitude=data.latitude,
        longitude=data.longitude,
        parameters=measured,
        thresholds=_check_thresholds(data.thresholds, measured),
        calibration_notes=data.calibration_notes,
        status=data.status,
        public=data.public,
    )
    station.search_text = _search_text(station)
    session.add(station)
    session.flush()
    audit.record(
        session, "environment.station.create", object_type="environment.station", object_id=station.id
    )
    return station


def update_station(session: Session, principal: Principal, station_id: str, data: StationUpdate) -> Station:
    station = station_for_write(session, principal, station_id)
    changes = data.model_dump(exclude_unset=True)
    if (
        "commune_code" in changes
        and changes["commune_code"]
        and session.get(Commune, changes["commune_code"]) is None
    ):
        raise Unprocessable("commune_not_found", "Commune {code} not found", code=changes["commune_code"])
    if changes.get("parameters") is not None:
        changes["parameters"] = _check_parameters(changes["parameters"], station.kind)
    measured = changes.get("parameters") or station.parameters
    if changes.get("thresholds") is not None:
        changes["thresholds"] = _check_thresholds(changes["thresholds"], measured)
    for key, value in changes.items():
        if value is not None or key in ("owner_tax_code", "calibration_notes", "address"):
            setattr(station, key, value)
    if station.owner_kind == "business" and not station.owner_tax_code:
        raise Unprocessable(
            "business_owner_incomplete", "A business owner needs its name and tax code (mã số thuế)"
        )
    station.search_text = _search_text(station)
    session.flush()
    audit.record(
        session,
        "environment.station.update",
        object_type="environment.station",
        object_id=station.id,
        detail={"fields": sorted(changes)},
    )
    return station


def create_device(session: Session, principal: Principal, station_id: str, data: DeviceCreate) -> Device:
    station = station_for_write(session, principal, station_id)
    if repo.get_device_by_code(session, station.id, data.code) is not None:
        raise Conflict("device_code_taken", "The station already has a device {code}", code=data.code)
    measured = _check_parameters(data.parameters, station.kind)
    for code in measured:
        if station.parameters and code not in station.parameters:
            raise Unprocessable(
                "parameter_not_measured",
                "The station does not measure {parameter}",
                parameter=code,
            )
    device = Device(
        station_id=station.id,
        code=data.code,
        model=data.model,
        serial=data.serial,
        parameters=measured,
        calibration_notes=data.calibration_notes,
        calibrated_at=data.calibrated_at,
    )
    session.add(device)
    session.flush()
    audit.record(session, "environment.device.create", object_type="environment.device", object_id=device.id)
    return device


def device_for_write(session: Session, principal: Principal, station_id: str, device_id: str) -> Device:
    station = station_for_write(session, principal, station_id)
    device = repo.get_device(session, station.id, device_id)
    if device is None:
        raise NotFound("device_not_found", "Device {id} not found", id=device_id)
    return device


def update_device(
    session: Session, principal: Principal, station_id: str, device_id: str, data: DeviceUpdate
) -> Device:
    device = device_for_write(session, principal, station_id, device_id)
    station = repo.get_station(session, station_id)
    assert station is not None
    changes = data.model_dump(exclude_unset=True)
    if changes.get("parameters") is not None:
        changes["parameters"] = _check_parameters(changes["parameters"], station.kind)
    for key, value in changes.items():
        if value is not None or key == "calibration_notes":
            setattr(device, key, value)
    session.flush()
    audit.record(
        session,
        "environment.device.update",
        object_type="environment.device",
        object_id=device.id,
        detail={"fields": sorted(changes)},
    )
    return device


def mqtt_topic(station_code: str, device_code: str) -> str:
    return f"{env_settings().mqtt_topic_prefix}/{station_code}/{device_code}/readings"


def issue_credential(
    session: Session, principal: Principal, station_id: str, device_id: str, data: CredentialCreate
) -> CredentialIssued:
    device = device_for_write(session, principal, station_id, device_id)
    station = repo.get_station(session, station_id)
    assert station is not None
    secret = "dev_" + new_secret(24)
    cred = DeviceCredential(device_id=device.id, kind=data.kind, secret_hash=hash_secret(secret))
    if data.kind == "mqtt":
        cred.mqtt_username = f"{station.code}.{device.code}.{new_secret(4)}".lower()
        cred.broker_hash = broker_hash(secret)
    session.add(cred)
    session.flush()
    audit.record(
        session,
        "environment.credential.issue",
        object_type="environment.device_credential",
        object_id=cred.id,
        detail={"device_id": device.id, "kind": data.kind},
    )
    issued = CredentialIssued.model_validate(cred, from_attributes=True)
    if data.kind == "mqtt":
        issued.mqtt_password = secret
        issued.mqtt_topic = mqtt_topic(station.code, device.code)
    else:
        issued.token = secret
    return issued


def revoke_credential(
    session: Session, principal: Principal, station_id: str, device_id: str, credential_id: str
) -> DeviceCredential:
    device = device_for_write(session, principal, station_id, device_id)
    cred = session.get(DeviceCredential, credential_id)
    if cred is None or cred.device_id != device.id:
        raise NotFound("credential_not_found", "Credential {id} not found", id=credential_id)
    if cred.revoked_at is None:
        cred.revoked_at = utcnow()
        session.flush()
        audit.record(
            session,
            "environment.credential.revoke",
            object_type="environment.device_credential",
            object_id=cred.id,
        )
    return cred
