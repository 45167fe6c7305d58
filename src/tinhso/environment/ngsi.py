"""A subset of NGSI-LD (ETSI GS CIM 009) for FIWARE's AirQualityObserved and WaterQualityObserved.

- `POST /ngsi-ld/v1/entities`: a device sends an observation entity (normalized or keyValues);
- `PATCH /ngsi-ld/v1/entities/{id}/attrs`: a device updates attributes (a new observation);
- `GET /ngsi-ld/v1/entities?type=…` and `GET /ngsi-ld/v1/entities/{id}`: anyone reads the current
  observation of every public station (open data by nature), normalized or with `options=keyValues`.

Entity ids are `urn:ngsi-ld:<type>:<station code>`; a device may write only its own station's entity.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.environment import ingest, ratelimit
from tinhso.environment import parameters as params
from tinhso.environment import repository as repo
from tinhso.environment.endpoints import device_secret
from tinhso.environment.indices import aqi_category, wqi_category
from tinhso.environment.models import HourlyMean, Station
from tinhso.kit.db import utcnow
from tinhso.kit.deps import ReadSessionDep, SessionDep
from tinhso.kit.errors import BadRequest, Forbidden, NotFound

router = APIRouter(prefix="/ngsi-ld/v1", tags=["ngsi-ld"])

TYPES = {"AirQualityObserved": "air", "WaterQualityObserved": "water"}
CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
# Attributes that describe the entity rather than a measurement.
META = {
    "id",
    "type",
    "@context",
    "dateObserved",
    "location",
    "address",
    "refDevice",
    "refPointOfInterest",
    "source",
    "dataProvider",
    "name",
    "description",
    "airQualityIndex",
    "airQualityLevel",
    "reliability",
    "typeofLocation",
    "areaServed",
    "measurand",
    "observedAt",
    "createdAt",
    "modifiedAt",
}
# FIWARE attribute name -> platform parameter, where the alias table is not enough.
FIWARE_NAMES = {
    "temperature@water": "water_temperature",
    "o2": "DO",
    "nh4": "N-NH4",
    "no3": "N-NO3",
    "po4": "P-PO4",
}
UNIT_CODES = {"µg/m³": "GQ", "mg/L": "M1", "°C": "CEL", "%": "P1", "hPa": "A97", "m/s": "MTS", "mm": "MMT"}


def _bad(detail: str, **kw: Any) -> BadRequest:
    return BadRequest("ngsi_bad_request_data", detail, **kw)


async def _body(request: Request) -> dict[str, Any]:
    try:
        doc = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("ngsi_invalid_json", "The body is not valid JSON") from exc
    if not isinstance(doc, dict):
        raise _bad("An NGSI-LD entity must be a JSON object")
    return doc


def _station_code(entity_id: str, entity_type: str) -> str:
    prefix = f"urn:ngsi-ld:{entity_type}:"
    if not entity_id.startswith(prefix) or len(entity_id) == len(prefix):
        raise _bad("The entity id must be urn:ngsi-ld:{type}:<station code>", type=entity_type)
    return entity_id[len(prefix) :]


def _parameter(name: str, kind: str) -> params.Parameter | None:
    key = name.lower()
    mapped = FIWARE_NAMES.get(f"{key}@{kind}") or FIWARE_NAMES.get(key)
    if mapped:
        return params.PARAMETERS[mapped]
    try:
        return params.resolve(name)
    except Exception:  # noqa: BLE001 - an attribute that is not a measurement
        return None


def _time(value: Any, what: str) -> datetime:
    if isinstance(value, dict):
        value = value.get("@value", value.get("value"))
    if not isinstance(value, str):
        raise _bad("{what} must be an ISO 8601 date-time", what=what)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _bad("{what} must be an ISO 8601 date-time", what=what) from exc


def readings_of(attrs: dict[str, Any], kind: str, default_time: datetime | None) -> list[dict[str, Any]]:
    """Measurement attributes (normalized Property or keyValues number) -> reading dicts."""
    out = []
    for name, attr in attrs.items():
        if name in META:
            continue
        p = _parameter(name, kind)
        if p is None:
            continue
        if isinstance(attr, dict):
            if attr.get("type") != "Property" or "value" not in attr:
                raise _bad("The attribute {name} must be a Property with a value", name=name)
            value, unit = attr["value"], attr.get("unitCode")
            observed = _time(attr["observedAt"], name) if "observedAt" in attr else default_time
        else:
            value, unit, observed = attr, None, default_time
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _bad("The attribute {name} must have a numeric value", name=name)
        if observed is None:
            raise _bad("dateObserved or observedAt is required")
        out.append({"parameter": p.code, "value": value, "unit": unit, "time": observed})
    if not out:
        raise _bad("The entity has no measurement the platform knows")
    return out


def _ingest(session: Session, request: Request, entity_type: str, code: str, attrs: dict[str, Any]) -> int:
    kind = TYPES[entity_type]
    ctx = ingest.authenticate(session, device_secret(request))
    if ctx.station_code != code:
        raise Forbidden("ngsi_entity_not_allowed", "This device may write only its own station's entity")
    if ctx.station_kind != kind:
        raise _bad("The station is not of type {type}", type=entity_type)
    date_observed = _time(attrs["dateObserved"], "dateObserved") if "dateObserved" in attrs else None
    items = readings_of(attrs, kind, date_observed)
    ratelimit.check(session, ctx, len(items))
    rows = ingest.prepare(ctx, items, "ngsi")
    return ingest.store(session, rows).accepted


@router.post("/entities", status_code=201)
async def create_entity(request: Request, session: SessionDep) -> Response:
    doc = await _body(request)
    entity_id, entity_type = doc.get("id"), doc.get("type")
    if not isinstance(entity_id, str) or not isinstance(entity_type, str):
        raise _bad("An entity needs an id and a type")
    if entity_type not in TYPES:
        raise _bad("Unsupported entity type {type}", type=entity_type)
    code = _station_code(entity_id, entity_type)
    _ingest(session, request, entity_type, code, doc)
    return Response(status_code=201, headers={"Location": f"/ngsi-ld/v1/entities/{entity_id}"})


@router.patch("/entities/{entity_id}/attrs", status_code=204)
async def update_attrs(entity_id: str, request: Request, session: SessionDep) -> Response:
    doc = await _body(request)
    entity_type = next((t for t in TYPES if entity_id.startswith(f"urn:ngsi-ld:{t}:")), None)
    if entity_type is None:
        raise NotFound("ngsi_entity_not_found", "Entity {id} not found", id=entity_id)
    code = _station_code(entity_id, entity_type)
    if repo.get_station_by_code(session, code) is None:
        raise NotFound("ngsi_entity_not_found", "Entity {id} not found", id=entity_id)
    if "dateObserved" not in doc and not any(isinstance(v, dict) and "observedAt" in v for v in doc.values()):
        doc["dateObserved"] = utcnow().isoformat()
    _ingest(session, request, entity_type, code, doc)
    return Response(status_code=204)


def entity(session: Session, station: Station, key_values: bool) -> dict[str, Any]:
    entity_type = next(t for t, k in TYPES.items() if k == station.kind)
    since = utcnow() - timedelta(hours=3)
    latest: dict[str, HourlyMean] = {}
    for m in session.scalars(
        select(HourlyMean)
        .where(HourlyMean.station_id == station.id, HourlyMean.hour >= since)
        .order_by(HourlyMean.hour)
    ):
        latest[m.parameter] = m
    observed = max((m.hour for m in latest.values()), default=station.last_reading_at)
    doc: dict[str, Any] = {"id": f"urn:ngsi-ld:{entity_type}:{station.code}", "type": entity_type}

    def prop(value: Any, unit: str | None = None, at: datetime | None = None) -> Any:
        if key_values:
            return value
        out: dict[str, Any] = {"type": "Property", "value": value}
        if unit and unit in UNIT_CODES:
            out["unitCode"] = UNIT_CODES[unit]
        if at is not None:
            out["observedAt"] = at.isoformat().replace("+00:00", "Z")
        return out

    doc["name"] = prop(station.name)
    if station.longitude is not None and station.latitude is not None:
        point = {"type": "Point", "coordinates": [station.longitude, station.latitude]}
        doc["location"] = point if key_values else {"type": "GeoProperty", "value": point}
    if observed is not None:
        doc["dateObserved"] = prop(observed.isoformat().replace("+00:00", "Z"))
    for code, m in latest.items():
        name = "temperature" if code == "water_temperature" else code
        doc[name] = prop(round(m.mean, 3), params.PARAMETERS[code].unit, m.hour)
    kind = "aqi_hour" if station.kind == "air" else "wqi_hour"
    index = repo.latest_index(session, station.id, kind)
    if index is not None and index.period_start >= since:
        cat = aqi_category(index.value) if station.kind == "air" else wqi_category(index.value)
        doc["airQualityIndex" if station.kind == "air" else "waterQualityIndex"] = prop(index.value)
        if cat is not None:
            doc["airQualityLevel" if station.kind == "air" else "waterQualityLevel"] = prop(cat.name_vi)
    doc["@context"] = [CORE_CONTEXT]
    return doc


def _key_values(options: str | None) -> bool:
    return bool(options) and "keyValues" in (options or "").split(",")


@router.get("/entities")
def query_entities(
    session: ReadSessionDep,
    type: Annotated[str, Query(description="AirQualityObserved or WaterQualityObserved")],  # noqa: A002
    options: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JSONResponse:
    if type not in TYPES:
        raise _bad("Unsupported entity type {type}", type=type)
    stations = repo.public_stations(session, TYPES[type])[offset : offset + limit]
    body = [entity(session, s, _key_values(options)) for s in stations]
    return JSONResponse(body, media_type="application/ld+json")


@router.get("/entities/{entity_id}")
def get_entity(entity_id: str, session: ReadSessionDep, options: str | None = None) -> JSONResponse:
    entity_type = next((t for t in TYPES if entity_id.startswith(f"urn:ngsi-ld:{t}:")), None)
    station = repo.get_station_by_code(session, entity_id.rsplit(":", 1)[-1]) if entity_type else None
    if station is None or not station.public or TYPES.get(entity_type or "") != station.kind:
        raise NotFound("ngsi_entity_not_found", "Entity {id} not found", id=entity_id)
    return JSONResponse(entity(session, station, _key_values(options)), media_type="application/ld+json")
