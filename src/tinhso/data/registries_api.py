"""Registries API in the GovStack Digital Registries shapes: the database API (schemas) and the data API (records,
with purpose-logged reads of personal fields, history and "my personal data usage")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from tinhso.data import registries
from tinhso.data.models import Record, Registry
from tinhso.identity.auth import CurrentPrincipal, require_roles
from tinhso.identity.principal import Principal
from tinhso.kit.deps import SessionDep
from tinhso.kit.errors import BadRequest, NotFound

router = APIRouter()
AdminDep = Annotated[Principal, require_roles("agency_admin")]


# --- registries: GovStack Digital Registries database API --------------------------------------------------------
REG = "/api/v1/registries"


class DatabaseWrite(BaseModel):
    code: str = Field(max_length=63)
    name_vi: str | None = Field(default=None, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    entity: str | None = None
    description: str | None = Field(default=None, max_length=4000)
    shared_with: list[str] | None = None
    upgrade_entity: bool = False


def registry_read(r: Registry, entity: Any | None = None) -> dict[str, Any]:
    out = {
        "id": r.code, "name_vi": r.name_vi, "name_en": r.name_en, "description": r.description,
        "entity": r.entity_code, "entity_version": r.entity_version, "version": f"{r.version}.0",
        "agency_code": r.agency_code, "key_field": r.key_field, "shared_with": r.shared_with,
        "created_at": r.created_at, "updated_at": r.updated_at,
    }  # fmt: skip
    if entity is not None:
        out["schema"] = entity.json_schema
    return out


@router.get(f"{REG}/databases", tags=["registries"])
def list_databases(session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    regs = [
        r
        for r in session.scalars(select(Registry).order_by(Registry.code))
        if registries.can_read(session, principal, r) or principal.kind == "person"
    ]
    return {"count": len(regs), "results": [registry_read(r) for r in regs]}


@router.get(f"{REG}/database/{{code}}", tags=["registries"])
def get_database_schema(session: SessionDep, principal: CurrentPrincipal, code: str) -> dict[str, Any]:
    r = registries.get_registry(session, code)
    return registry_read(r, registries.entity_of(session, r))


@router.post(f"{REG}/database/modify", tags=["registries"])
def modify_database(session: SessionDep, principal: AdminDep, body: DatabaseWrite) -> dict[str, Any]:
    """Create a registry from a dictionary entity, or change an existing one (names, sharing, entity version)."""
    found = session.scalars(select(Registry).where(Registry.code == body.code)).first()
    if found is None:
        if not (body.entity and body.name_vi and body.name_en):
            raise BadRequest(
                "registry_incomplete", "A new registry needs an entity and names in Vietnamese and English"
            )
        reg = registries.create_registry(
            session,
            principal,
            body.code,
            body.name_vi,
            body.name_en,
            body.entity,
            body.description or "",
            body.shared_with,
        )
    else:
        reg = registries.modify_registry(session, principal, found, body.model_dump())
    return registry_read(reg, registries.entity_of(session, reg))


@router.delete(f"{REG}/database/{{code}}", status_code=204, tags=["registries"])
def delete_database(session: SessionDep, principal: AdminDep, code: str) -> Response:
    registries.delete_registry(session, principal, registries.get_registry(session, code))
    return Response(status_code=204)


# --- registries: GovStack data API -------------------------------------------------------------------------------
class Content(BaseModel):
    content: dict[str, Any]


class WriteBody(BaseModel):
    write: Content
    query: Content | None = None
    purpose: str | None = Field(default=None, max_length=500)


class QueryBody(BaseModel):
    query: Content
    purpose: str | None = Field(default=None, max_length=500)


def _purpose(
    header: Annotated[str | None, Header(alias="X-Purpose", max_length=500)] = None,
    query: Annotated[str | None, Query(alias="purpose", max_length=500)] = None,
) -> str | None:
    """The purpose of a personal-data read: `?purpose=` (any language) or the ASCII header `X-Purpose`."""
    return query or header


PurposeHeader = Annotated[str | None, Depends(_purpose)]


def _one(session: Any, reg: Registry, query: dict[str, Any]) -> Record:
    found = registries.find(session, reg, query)
    if not found:
        raise NotFound("record_not_found", "No record matches the query in registry {code}", code=reg.code)
    if len(found) > 1:
        raise BadRequest("record_ambiguous", "The query matches more than one record; use the key field")
    return found[0]


@router.get(f"{REG}/data/MyPersonalDataUsage/1.0", tags=["registries"])
def my_personal_data_usage(session: SessionDep, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """GovStack "my personal data usage": who read the caller's personal data, when and why."""
    return registries.personal_data_usage(session, principal)


@router.get(f"{REG}/data/{{registry}}/{{version}}", tags=["registries"])
def list_records(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    registry: str,
    version: str,
    purpose: PurposeHeader = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
    filter: Annotated[str | None, Query(max_length=63)] = None,  # noqa: A002 - GovStack's parameter name
    ordering: Annotated[str | None, Query(max_length=64)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    """List records. `search` is accent-insensitive over all fields; `query.<field>=value` filters; `filter`
    names the fields returned; `ordering` is a field name, `-field` or `descending`."""
    reg = registries.get_registry(session, registry, version)
    registries.require_read(session, principal, reg)
    entity = registries.entity_of(session, reg)
    known = [f["name"] for f in entity.fields]
    query = {k[6:]: v for k, v in request.query_params.items() if k.startswith("query.")}
    if set(query) - set(known):
        raise BadRequest(
            "record_unknown_field",
            "Unknown field(s): {fields}",
            fields=", ".join(sorted(set(query) - set(known))),
        )
    stmt = registries.query_statement(reg, query)
    if search:
        from tinhso.kit.text import fold

        for word in fold(search).split():
            stmt = stmt.where(Record.search_text.contains(word, autoescape=True))
    desc = False
    order_field = None
    if ordering:
        if ordering in ("descending", "ascending"):
            desc = ordering == "descending"
        else:
            desc, order_field = ordering.startswith("-"), ordering.lstrip("-")
            if order_field not in known:
                raise BadRequest("record_unknown_field", "Unknown field(s): {fields}", fields=order_field)
    col: Any = (
        Record.data[order_field].as_string() if order_field and order_field != reg.key_field else Record.key
    )
    stmt = stmt.order_by(col.desc() if desc else col)
    fields = [f.strip() for f in filter.split(",")] if filter else known
    if set(fields) - set(known):
        raise BadRequest(
            "record_unknown_field",
            "Unknown field(s): {fields}",
            fields=", ".join(sorted(set(fields) - set(known))),
        )
    from sqlalchemy import func

    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    records = list(session.scalars(stmt.limit(page_size).offset((page - 1) * page_size)))
    results = []
    for rec in records:
        data = registries.read_audited(session, principal, reg, rec, purpose)
        results.append({k: data.get(k) for k in fields} | {"ID": rec.key})
    base = str(request.url.remove_query_params(["page"]))
    sep = "&" if "?" in base else "?"
    return {
        "count": total,
        "next": f"{base}{sep}page={page + 1}" if page * page_size < total else None,
        "previous": f"{base}{sep}page={page - 1}" if page > 1 else None,
        "results": results,
    }


@router.post(f"{REG}/data/{{registry}}/{{version}}/create", tags=["registries"])
def create_record(
    session: SessionDep, principal: CurrentPrincipal, registry: str, version: str, body: WriteBody
) -> dict[str, Any]:
    reg = registries.get_registry(session, registry, version)
    rec = registries.create_record(session, principal, reg, body.write.content)
    return {"content": rec.data | {"ID": rec.key}}


@router.post(f"{REG}/data/{{registry}}/{{version}}/read", tags=["registries"])
def read_record(
    session: SessionDep,
    principal: CurrentPrincipal,
    registry: str,
    version: str,
    body: QueryBody,
    purpose: PurposeHeader = None,
) -> dict[str, Any]:
    reg = registries.get_registry(session, registry, version)
    found = registries.find(session, reg, body.query.content)
    if not found:
        registries.require_read(session, principal, reg)
        raise NotFound("record_not_found", "No record matches the query in registry {code}", code=reg.code)
    rec = found[0]
    data = registries.read_audited(session, principal, reg, rec, body.purpose or purpose)
    return {"content": data | {"ID": rec.key}}


@router.post(f"{REG}/data/{{registry}}/{{version}}/exists", tags=["registries"])
def record_exists(
    session: SessionDep, principal: CurrentPrincipal, registry: str, version: str, body: QueryBody
) -> dict[str, Any]:
    reg = registries.get_registry(session, registry, version)
    registries.require_read(session, principal, reg)
    found = bool(registries.find(session, reg, body.query.content))
    return {
        "answer": {"status": found, "message": "Object found from database" if found else "Object not found"}
    }


def _update_target(
    session: Any, principal: Principal, registry: str, version: str, body: WriteBody
) -> tuple[Registry, dict[str, Any]]:
    """The registry a caller may write, and the query of an update (which must name fields)."""
    reg = registries.get_registry(session, registry, version)
    registries.require_write(principal, reg)
    if body.query is None:
        raise BadRequest("registry_query_empty", "The query has no fields")
    return reg, body.query.content


@router.put(f"{REG}/data/{{registry}}/{{version}}/update", tags=["registries"])
def update_record(
    session: SessionDep, principal: CurrentPrincipal, registry: str, version: str, body: WriteBody
) -> dict[str, Any]:
    reg, query = _update_target(session, principal, registry, version, body)
    rec = registries.update_record(session, principal, reg, _one(session, reg, query), body.write.content)
    return {"content": rec.data | {"ID": rec.key}}


@router.put(f"{REG}/data/{{registry}}/{{version}}/update-entries", tags=["registries"])
def update_entries(
    session: SessionDep, principal: CurrentPrincipal, registry: str, version: str, body: WriteBody
) -> dict[str, Any]:
    reg, query = _update_target(session, principal, registry, version, body)
    found = registries.find(session, reg, query)
    if len(found) > 1000:
        raise BadRequest("registry_too_many", "The query matches more than 1000 records")
    for rec in found:
        registries.update_record(session, principal, reg, rec, body.write.content)
    return {"count": len(found)}


@router.post(f"{REG}/data/{{registry}}/{{version}}/update-or-create", tags=["registries"])
def update_or_create(
    session: SessionDep, principal: CurrentPrincipal, registry: str, version: str, body: WriteBody
) -> dict[str, Any]:
    reg = registries.get_registry(session, registry, version)
    registries.require_write(principal, reg)
    query = body.query.content if body.query else {reg.key_field: body.write.content.get(reg.key_field)}
    found = registries.find(session, reg, query)
    if len(found) > 1:
        raise BadRequest("record_ambiguous", "The query matches more than one record; use the key field")
    if found:
        rec = registries.update_record(session, principal, reg, found[0], body.write.content)
    else:
        rec = registries.create_record(session, principal, reg, {**query, **body.write.content})
    return {"content": rec.data | {"ID": rec.key}}


@router.delete(f"{REG}/data/{{registry}}/{{version}}/{{key}}/delete", status_code=204, tags=["registries"])
def delete_record(
    session: SessionDep, principal: CurrentPrincipal, registry: str, version: str, key: str
) -> Response:
    reg = registries.get_registry(session, registry, version)
    registries.require_write(principal, reg)
    rec = registries.record_by_key(session, reg, reg.key_field, key)
    if rec is None:
        raise NotFound("record_not_found", "No record matches the query in registry {code}", code=reg.code)
    registries.delete_record(session, principal, reg, rec)
    return Response(status_code=204)


@router.get(f"{REG}/data/{{registry}}/{{version}}/{{key}}/read-value/{{field}}.{{ext}}", tags=["registries"])
def read_value(
    session: SessionDep, principal: CurrentPrincipal, registry: str, version: str, key: str, field: str, ext: str,
    purpose: PurposeHeader = None,
) -> Any:  # fmt: skip
    reg = registries.get_registry(session, registry, version)
    rec = registries.record_by_key(session, reg, reg.key_field, key)
    if rec is None:
        registries.require_read(session, principal, reg)
        raise NotFound("record_not_found", "No record matches the query in registry {code}", code=reg.code)
    data = registries.read_audited(session, principal, reg, rec, purpose)
    if field not in data:
        raise NotFound("record_field_not_found", "Field {field} not found", field=field)
    if ext == "txt":
        return Response(
            str(data[field] if data[field] is not None else ""), media_type="text/plain; charset=utf-8"
        )
    if ext != "json":
        raise BadRequest("read_value_format", "Unsupported format {format}", format=ext)
    return {"value": data[field]}


@router.get(f"{REG}/data/{{registry}}/{{version}}/{{key}}/history", tags=["registries"])
def record_history(
    session: SessionDep,
    principal: CurrentPrincipal,
    registry: str,
    version: str,
    key: str,
    purpose: PurposeHeader = None,
) -> dict[str, Any]:
    """Every version of a record: who, when, which fields, the data."""
    reg = registries.get_registry(session, registry, version)
    registries.require_read(session, principal, reg)
    rec = session.scalars(select(Record).where(Record.registry_id == reg.id, Record.key == key)).first()
    if rec is None:
        raise NotFound("record_not_found", "No record matches the query in registry {code}", code=reg.code)
    registries.read_audited(session, principal, reg, rec, purpose)
    items = [
        {"version": v.version, "operation": v.operation, "changed_fields": v.changed_fields, "changed_by": v.changed_by,
         "changed_by_agency": v.changed_by_agency, "changed_at": v.changed_at, "data": v.data}
        for v in registries.history(session, rec)
    ]  # fmt: skip
    return {"items": items, "total": len(items), "page": 1, "page_size": len(items)}
