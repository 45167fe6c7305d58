"""Open-data HTTP endpoints besides the CKAN Action API: DCAT, downloads, API tokens, publishing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tinhso.identity.auth import CurrentPrincipal, OptionalPrincipal
from tinhso.kit.deps import ReadSessionDep, SessionDep
from tinhso.kit.errors import BadRequest, NotFound
from tinhso.opendata import apitokens, dcat, downloads, publishing, service
from tinhso.opendata.ckan.fq import parse_fq, parse_q
from tinhso.opendata.models import DownloadCount, Publication, Resource, ResourceFile
from tinhso.opendata.schemas import validated
from tinhso.opendata.sources import all_sources
from tinhso.settings import get_settings

router = APIRouter(tags=["open data"])


def base_url(request: Request) -> str:
    settings = get_settings()
    return (
        settings.base_url.rstrip("/")
        if settings.environment == "production"
        else str(request.base_url).rstrip("/")
    )


def _rdf(graph: Any, fmt: str) -> Response:
    name, media = dcat.FORMATS[fmt]
    return Response(graph.serialize(format=name), media_type=media)


def _fmt(fmt: str) -> str:
    if fmt not in dcat.FORMATS:
        raise NotFound(
            "opendata_format", "Format {fmt} is not offered; use ttl, jsonld, rdf, xml or n3", fmt=fmt
        )
    return fmt


@router.get("/catalog.{fmt}", summary="DCAT-AP 3 catalogue (Hydra paging, 100 datasets a page)")
def catalog(
    request: Request,
    session: ReadSessionDep,
    fmt: str,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    modified_since: Annotated[
        datetime | None, Query(description="ISO-8601; only datasets modified since")
    ] = None,
    q: Annotated[str | None, Query(max_length=500)] = None,
    fq: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response:
    fmt = _fmt(fmt)
    if modified_since is not None and modified_since.tzinfo is None:
        modified_since = modified_since.replace(tzinfo=UTC)
    text, filters = parse_q(q)
    filters.extend(parse_fq(fq))
    return _rdf(dcat.catalog_graph(session, base_url(request), fmt, page, modified_since, text, filters), fmt)


@router.get("/dataset/{name}.{fmt}", summary="One dataset in DCAT-AP 3")
def dataset_rdf(
    request: Request, session: ReadSessionDep, name: str, fmt: str, principal: OptionalPrincipal
) -> Response:
    fmt = _fmt(fmt)
    dataset = service.get_dataset(session, name, principal)
    return _rdf(dcat.dataset_graph(session, base_url(request), dataset.id), fmt)


def _count_download(session: Session, resource_id: str) -> None:
    today = date.today()
    updated = session.execute(
        update(DownloadCount)
        .where(DownloadCount.resource_id == resource_id, DownloadCount.day == today)
        .values(count=DownloadCount.count + 1)
    )
    if not getattr(updated, "rowcount", 0):
        session.add(DownloadCount(resource_id=resource_id, day=today, count=1))
        session.flush()


def _download(session: Session, principal: Any, resource_id: str, fmt: str) -> Response:
    resource = service.get_resource(session, resource_id, principal)
    if not resource.datastore_active:
        raise NotFound("opendata_no_datastore", "Resource {id} has no DataStore table", id=resource_id)
    if fmt not in downloads.FORMATS:
        raise BadRequest("opendata_download_format", "Download formats: csv, json, xlsx, parquet")
    _count_download(session, resource.id)
    filename = f"{service.slug(resource.name, 60) or resource.id}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if fmt == "csv":
        body = b"".join(downloads.csv_chunks(session, resource))
    elif fmt == "json":
        body = downloads.as_json(session, resource)
    elif fmt == "xlsx":
        body = downloads.as_xlsx(session, resource)
    else:
        body = downloads.as_parquet(session, resource)
    return Response(body, media_type=downloads.FORMATS[fmt], headers=headers)


@router.get("/opendata/download/{resource_id}.{fmt}", summary="Download a table: csv, json, xlsx or parquet")
def download(session: SessionDep, principal: OptionalPrincipal, resource_id: str, fmt: str) -> Response:
    return _download(session, principal, resource_id, fmt)


@router.get("/datastore/dump/{resource_id}", summary="CKAN DataStore dump (format=csv|json|xlsx|parquet)")
def datastore_dump(
    session: SessionDep,
    principal: OptionalPrincipal,
    resource_id: str,
    format: Annotated[str, Query(pattern="^(csv|json|xlsx|parquet)$")] = "csv",
) -> Response:
    return _download(session, principal, resource_id, format)


@router.get("/opendata/file/{resource_id}/{filename}", summary="An uploaded resource file")
def resource_file(
    session: SessionDep, principal: OptionalPrincipal, resource_id: str, filename: str
) -> Response:
    resource = service.get_resource(session, resource_id, principal)
    stored = session.get(ResourceFile, resource.id)
    if stored is None:
        raise NotFound("opendata_file_not_found", "Resource {id} has no uploaded file", id=resource_id)
    _count_download(session, resource.id)
    return StreamingResponse(
        iter([stored.content]),
        media_type=resource.mimetype or "application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{stored.filename}"'},
    )


# --- API tokens ----------------------------------------------------------------------------------------------


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    system_id: str | None = None
    days: int | None = Field(default=365, ge=1, le=3650)


@router.post("/api/v1/opendata/tokens", status_code=201, summary="Issue a CKAN-style API token (shown once)")
def create_token(session: SessionDep, principal: CurrentPrincipal, body: TokenCreate) -> dict[str, Any]:
    token, secret = apitokens.issue(session, principal, body.name, body.system_id, body.days)
    return {**apitokens.token_view(token), "token": secret}


@router.get("/api/v1/opendata/tokens", summary="My API tokens")
def list_tokens(session: SessionDep, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    return [apitokens.token_view(t) for t in apitokens.tokens_of(session, principal)]


@router.delete("/api/v1/opendata/tokens/{token_id}", status_code=204, summary="Revoke an API token")
def revoke_token(session: SessionDep, principal: CurrentPrincipal, token_id: str) -> Response:
    apitokens.revoke(session, principal, token_id)
    return Response(status_code=204)


# --- publishing ----------------------------------------------------------------------------------------------


@router.get(
    "/api/v1/opendata/sources", summary="Sources a publisher can publish, with column classifications"
)
def sources(session: SessionDep, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    return [
        {
            "key": s.key,
            "title_vi": s.title_vi,
            "title_en": s.title_en,
            "columns": [c.__dict__ for c in s.columns(session)],
        }
        for s in all_sources(session)
    ]


def _publication_view(pub: Publication) -> dict[str, Any]:
    return {
        k: getattr(pub, k)
        for k in [
            "id",
            "dataset_id",
            "resource_id",
            "source",
            "columns",
            "group_by",
            "measure",
            "threshold",
            "suppressed_cells",
            "refresh_days",
            "last_refreshed_at",
            "next_refresh_at",
        ]
    }


@router.post("/api/v1/opendata/publications", status_code=201, summary="Publish a source as a dataset")
def create_publication(
    session: SessionDep, principal: CurrentPrincipal, body: dict[str, Any]
) -> dict[str, Any]:
    data = validated(publishing.PublicationIn, body)
    return _publication_view(publishing.publish(session, principal, data))


@router.post("/api/v1/opendata/publications/{pub_id}/refresh", summary="Refresh a publication now")
def refresh_publication(session: SessionDep, principal: CurrentPrincipal, pub_id: str) -> dict[str, Any]:
    pub = session.get(Publication, pub_id)
    if pub is None:
        raise NotFound("opendata_publication_not_found", "Publication {id} not found", id=pub_id)
    service.get_dataset(session, pub.dataset_id, principal, for_edit=True)
    publishing.materialize(session, pub)
    return _publication_view(pub)


@router.get(
    "/api/v1/opendata/datasets/{ref}/quality", summary="Metadata quality of a dataset, check by check"
)
def dataset_quality(session: SessionDep, principal: OptionalPrincipal, ref: str) -> dict[str, Any]:
    dataset = service.get_dataset(session, ref, principal)
    resources = list(session.scalars(select(Resource).where(Resource.dataset_id == dataset.id)))
    return {"dataset": dataset.name, **service.quality(dataset, resources)}
