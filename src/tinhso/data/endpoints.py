"""Data API: dictionary, code lists, ingestion batches, warehouse (the registries' API is `registries_api`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from tinhso.data import dictionary, ingest, jobs, warehouse, warehouse_api
from tinhso.data.models import Batch, CodeList, SavedQuery
from tinhso.data.query import run_query
from tinhso.identity.auth import CurrentPrincipal, require_roles
from tinhso.identity.principal import Principal
from tinhso.kit.deps import DatabaseDep, ReadSessionDep, SessionDep
from tinhso.kit.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge

router = APIRouter()
AdminDep = Annotated[Principal, require_roles("agency_admin")]
MAX_UPLOAD = 1 << 30  # 1 GiB through the API; larger files go through `tinhso data ingest`


# --- dictionary -------------------------------------------------------------------------------------------------
class FieldDef(BaseModel):
    name: str = Field(max_length=63)
    type: str
    label_vi: str = Field(max_length=200)
    label_en: str = Field(max_length=200)
    classification: str
    required: bool = False
    rule: str | None = None
    codelist: str | None = None


class EntityWrite(BaseModel):
    code: str | None = Field(default=None, max_length=63)
    name_vi: str | None = Field(default=None, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    key_field: str | None = None
    refresh_days: int | None = Field(default=None, ge=1, le=3650)
    fields: list[FieldDef] | None = None


def entity_read(e: Any) -> dict[str, Any]:
    return {
        "code": e.code, "version": e.version, "name_vi": e.name_vi, "name_en": e.name_en, "description": e.description,
        "owner_agency": e.owner_agency, "key_field": e.key_field, "refresh_days": e.refresh_days, "status": e.status,
        "published_at": e.published_at, "fields": e.fields, "json_schema": e.json_schema,
    }  # fmt: skip


@router.get("/api/v1/data/entities", tags=["data"])
def list_entities(
    session: ReadSessionDep, q: Annotated[str | None, Query(max_length=200)] = None
) -> dict[str, Any]:
    """The data dictionary (public): newest published version of every entity; `q` is accent-insensitive."""
    items = [entity_read(e) for e in dictionary.entities(session, q)]
    return {"items": items, "total": len(items), "page": 1, "page_size": len(items)}


@router.get("/api/v1/data/entities/{code}", tags=["data"])
def get_entity(session: ReadSessionDep, code: str, version: int | None = None) -> dict[str, Any]:
    return entity_read(dictionary.latest(session, code, version))


@router.get("/api/v1/data/entities/{code}/versions", tags=["data"])
def entity_versions(session: ReadSessionDep, code: str) -> dict[str, Any]:
    items = [entity_read(e) for e in dictionary.versions(session, code)]
    if not items:
        raise NotFound("entity_not_found", "Entity {code} not found in the data dictionary", code=code)
    return {"items": items, "total": len(items), "page": 1, "page_size": len(items)}


@router.post("/api/v1/data/entities", status_code=201, tags=["data"])
def create_entity(session: SessionDep, principal: AdminDep, body: EntityWrite) -> dict[str, Any]:
    if not body.code:
        raise BadRequest("entity_code_required", "The entity code is required")
    warehouse.check_ident(body.code, "entity")
    changes = body.model_dump(exclude={"code"})
    changes["fields"] = [f.model_dump(exclude_none=True) for f in body.fields or []]
    return entity_read(dictionary.publish_version(session, body.code, changes, principal, create=True))


@router.post("/api/v1/data/entities/{code}/versions", status_code=201, tags=["data"])
def publish_entity_version(
    session: SessionDep, principal: AdminDep, code: str, body: EntityWrite
) -> dict[str, Any]:
    """Publish a new version of an entity (owner agency only); the previous version is superseded."""
    changes = body.model_dump(exclude={"code"})
    if body.fields is not None:
        changes["fields"] = [f.model_dump(exclude_none=True) for f in body.fields]
    return entity_read(dictionary.publish_version(session, code, changes, principal))


@router.get("/api/v1/data/codelists", tags=["data"])
def list_codelists(session: ReadSessionDep) -> dict[str, Any]:
    items = [
        {
            "code": c.code,
            "name_vi": c.name_vi,
            "name_en": c.name_en,
            "source": c.source,
            "count": len(c.items),
        }
        for c in session.scalars(select(CodeList).order_by(CodeList.code))
    ]
    return {"items": items, "total": len(items), "page": 1, "page_size": len(items)}


@router.get("/api/v1/data/codelists/{code}", tags=["data"])
def get_codelist(session: ReadSessionDep, code: str) -> dict[str, Any]:
    c = session.get(CodeList, code)
    if c is None:
        raise NotFound("codelist_not_found", "Code list {code} not found", code=code)
    return {"code": c.code, "name_vi": c.name_vi, "name_en": c.name_en, "source": c.source, "items": c.items}


# --- ingestion batches ------------------------------------------------------------------------------------------
def batch_read(b: Batch) -> dict[str, Any]:
    return {
        "id": b.id, "entity": b.entity_code, "entity_version": b.entity_version, "source": b.source,
        "filename": b.filename, "status": b.status, "rows_total": b.rows_total, "rows_accepted": b.rows_accepted,
        "rows_fixed": b.rows_fixed, "rows_rejected": b.rows_rejected, "bytes_total": b.bytes_total,
        "bytes_done": b.bytes_done, "quality": b.quality, "error": b.error, "table": b.table_name,
        "created_at": b.created_at, "finished_at": b.finished_at, "duration_s": b.duration_s,
        "error_report": f"/api/v1/data/batches/{b.id}/errors" if b.error_report else None,
        "attempts": b.attempts,
    }  # fmt: skip


def _official(principal: Principal) -> None:
    if principal.agency_code is None and not principal.is_platform_admin:
        raise Forbidden("data_agency_only", "Only agencies can load data into the warehouse")


@router.post("/api/v1/data/batches", status_code=202, tags=["data"])
async def upload_batch(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    file: Annotated[UploadFile, File()],
    entity: Annotated[str, Form(max_length=63)],
    source: Annotated[str, Form(max_length=128)],
) -> Response:
    """Upload a file (CSV, XLSX, JSON, XML) to load into the warehouse; poll the batch for progress.

    The file is stored and the batch queued in the request's transaction; a loader (`tinhso worker`, or this
    process in a single-process installation) runs it, and runs it again from the stored file if its process
    stops. The same file already loaded, queued or loading for this entity and source answers that batch.
    """
    import json

    from starlette.background import BackgroundTask

    _official(principal)
    length = int(request.headers.get("content-length") or 0)
    if length > MAX_UPLOAD:
        raise PayloadTooLarge("upload_too_large", "Files over 1 GB must be loaded with the command line")
    incoming = jobs.Incoming(session)
    try:
        while block := await file.read(1 << 20):
            if incoming.size + len(block) > MAX_UPLOAD:
                raise PayloadTooLarge(
                    "upload_too_large", "Files over 1 GB must be loaded with the command line"
                )
            incoming.write(block)
        name = Path(file.filename or "upload.csv").name
        batch, reused = jobs.enqueue(session, incoming, entity, source, name, principal)
    except BaseException:
        incoming.discard()
        raise
    body = batch_read(batch) | {"reused": reused}
    pending = batch.status in ("queued", "running")
    return Response(
        json.dumps(body, default=str),
        status_code=202 if pending else 200,
        media_type="application/json",
        background=BackgroundTask(jobs.wake) if pending else None,  # after the commit: the loader sees it
    )


def _batch(session: Any, principal: Principal, batch_id: str) -> Batch:
    b = session.get(Batch, batch_id)
    if b is None or not (
        principal.is_platform_admin or (principal.agency_code and principal.agency_code == b.agency_code)
    ):
        raise NotFound("batch_not_found", "Batch {id} not found", id=batch_id)
    return b


@router.get("/api/v1/data/batches", tags=["data"])
def list_batches(session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    _official(principal)
    stmt = select(Batch).order_by(Batch.created_at.desc()).limit(200)
    if not principal.is_platform_admin:
        stmt = stmt.where(Batch.agency_code == principal.agency_code)
    items = [batch_read(b) for b in session.scalars(stmt)]
    return {"items": items, "total": len(items), "page": 1, "page_size": 200}


@router.get("/api/v1/data/batches/{batch_id}", tags=["data"])
def get_batch(session: SessionDep, principal: CurrentPrincipal, batch_id: str) -> dict[str, Any]:
    return batch_read(_batch(session, principal, batch_id))


@router.get("/api/v1/data/batches/{batch_id}/errors", tags=["data"])
def batch_errors(session: SessionDep, principal: CurrentPrincipal, batch_id: str) -> FileResponse:
    """The row-by-row error report (CSV, UTF-8 with BOM for spreadsheets; formulas neutralised)."""
    b = _batch(session, principal, batch_id)
    if not b.error_report or not (ingest.reports_dir() / b.error_report).exists():
        raise NotFound("batch_report_not_found", "No error report for batch {id}", id=batch_id)
    return FileResponse(
        ingest.reports_dir() / b.error_report, media_type="text/csv", filename=f"loi-{batch_id}.csv"
    )


# --- warehouse ------------------------------------------------------------------------------------------------------
class QueryRequest(BaseModel):
    sql: str = Field(min_length=1, max_length=20_000)
    max_rows: int = Field(default=1000, ge=1, le=10_000)


class SavedQueryWrite(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    sql: str = Field(min_length=1, max_length=20_000)
    chart: dict[str, Any] = Field(default_factory=dict)


def _analyst(principal: Principal) -> None:
    if principal.kind == "person" and not principal.has_role("official", "leader", "agency_admin"):
        raise Forbidden("warehouse_officials_only", "The warehouse is open to officials and agency systems")


@router.get("/api/v1/warehouse/tables", tags=["warehouse"])
def list_tables(session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    _analyst(principal)
    items = [
        t.__dict__ | {"columns": [c.__dict__ for c in t.columns]}
        for t in warehouse_api.warehouse_tables(session)
    ]
    return {"items": items, "total": len(items), "page": 1, "page_size": len(items)}


@router.post("/api/v1/warehouse/query", tags=["warehouse"])
def query_warehouse(session: SessionDep, principal: CurrentPrincipal, body: QueryRequest) -> dict[str, Any]:
    """One read-only SELECT over warehouse tables (5 s, row cap); personal columns masked unless allowed."""
    _analyst(principal)
    from tinhso.kit import audit

    result = run_query(session, principal, body.sql, row_cap=body.max_rows)
    audit.record(
        session,
        "data.warehouse.query",
        object_type="warehouse",
        detail={"sql": body.sql[:2000], "masked": result["masked"]},
    )
    return result


@router.get("/api/v1/warehouse/queries", tags=["warehouse"])
def list_saved(session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    _analyst(principal)
    stmt = select(SavedQuery).order_by(SavedQuery.name)
    if not principal.is_platform_admin:
        stmt = stmt.where(SavedQuery.agency_code == principal.agency_code)
    items = [
        {"id": q.id, "name": q.name, "sql": q.sql, "chart": q.chart, "created_at": q.created_at}
        for q in session.scalars(stmt)
    ]
    return {"items": items, "total": len(items), "page": 1, "page_size": len(items)}


@router.post("/api/v1/warehouse/queries", status_code=201, tags=["warehouse"])
def save_query(session: SessionDep, principal: CurrentPrincipal, body: SavedQueryWrite) -> dict[str, Any]:
    _analyst(principal)
    from tinhso.data.query import analyse
    from tinhso.kit import audit

    with warehouse.reader(warehouse.path_for(session)) as cur:
        analyse(cur, body.sql, {t.name for t in warehouse_api.warehouse_tables(session)})
    q = SavedQuery(
        name=body.name,
        sql=body.sql,
        chart=body.chart,
        owner_id=principal.id,
        agency_code=principal.agency_code,
    )
    session.add(q)
    session.flush()
    audit.record(session, "data.query.save", object_type="data_saved_query", object_id=q.id)
    return {"id": q.id, "name": q.name, "sql": q.sql, "chart": q.chart}


@router.post("/api/v1/warehouse/queries/{query_id}/run", tags=["warehouse"])
def run_saved(session: SessionDep, principal: CurrentPrincipal, query_id: str) -> dict[str, Any]:
    _analyst(principal)
    q = session.get(SavedQuery, query_id)
    if q is None or not (principal.is_platform_admin or q.agency_code == principal.agency_code):
        raise NotFound("saved_query_not_found", "Saved query {id} not found", id=query_id)
    return run_query(session, principal, q.sql) | {"chart": q.chart, "name": q.name}


@router.get("/api/v1/warehouse/tables/{table}/parquet", tags=["warehouse"])
def export_parquet(session: SessionDep, principal: CurrentPrincipal, table: str) -> FileResponse:
    """Export a table to Parquet (personal and sensitive columns only for platform administrators)."""
    _analyst(principal)
    from tinhso.kit import audit

    row = warehouse_api.get_table(session, table)
    cols = [
        c["name"]
        for c in row.columns
        if principal.is_platform_admin or c["classification"] in ("public", "internal")
    ]
    out = ingest.reports_dir().parent / "exports"
    out.mkdir(parents=True, exist_ok=True)
    from tinhso.kit.db import new_id

    target = out / f"{table}-{new_id()}.parquet"  # one file per request, removed once sent
    with warehouse.reader(warehouse.path_for(session)) as cur:
        select_list = ", ".join(warehouse.quote(c) for c in cols)
        cur.execute(
            f"COPY (SELECT {select_list} FROM {warehouse.quote(table)}) TO '{target.as_posix()}' (FORMAT parquet)"
        )
    audit.record(session, "data.warehouse.export", object_type="warehouse", object_id=table)
    from starlette.background import BackgroundTask

    return FileResponse(
        target,
        media_type="application/vnd.apache.parquet",
        filename=f"{table}.parquet",
        background=BackgroundTask(target.unlink, missing_ok=True),
    )


class LinkageRequest(BaseModel):
    table: str = Field(default="citizen", max_length=63)
    threshold: float = Field(default=0.9, ge=0.5, le=0.999)


@router.post("/api/v1/warehouse/linkage", tags=["warehouse"])
async def run_linkage(db: DatabaseDep, principal: CurrentPrincipal, body: LinkageRequest) -> dict[str, Any]:
    """Link duplicate people of a warehouse table into golden records (platform administrators)."""
    from fastapi.concurrency import run_in_threadpool

    from tinhso.data import linkage

    if not principal.is_platform_admin:
        raise Forbidden("linkage_admin_only", "Only platform administrators may run record linkage")
    return await run_in_threadpool(linkage.link_table, db, body.table, principal, body.threshold)


@router.get("/api/v1/data/quality", tags=["data"])
def quality(session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Quality scores per entity and per source (latest finished batch of each), with reuse (dùng chung)."""
    from tinhso.data.quality import scores

    _analyst(principal)
    return scores(session)
