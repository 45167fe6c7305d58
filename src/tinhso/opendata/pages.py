"""Portal pages of the open-data portal (Vietnamese by default, ?lang=en): home, search with facets, dataset
page (metadata, resources, paged preview, chart, API examples), publishers."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tinhso.identity.auth import OptionalPrincipal
from tinhso.identity.models import Agency
from tinhso.kit.deps import SessionDep
from tinhso.kit.errors import NotFound
from tinhso.opendata import datastore, service
from tinhso.opendata.ckan.shapes import package_dicts
from tinhso.opendata.errors import SearchQueryError
from tinhso.opendata.models import Dataset, Group, Organization, Resource
from tinhso.opendata.search import FACET_FIELDS, Filters, SortKey, Term, Visibility, search
from tinhso.web.templating import render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 20
PREVIEW_ROWS = 25


def _base(request: Request) -> str:
    from tinhso.opendata.endpoints import base_url

    return base_url(request)


def _public_counts(session: Session) -> dict[str, int]:
    visible = (Dataset.state == "active", Dataset.private.is_(False))
    return {
        "datasets": session.scalar(select(func.count()).select_from(Dataset).where(*visible)) or 0,
        "publishers": session.scalar(select(func.count(func.distinct(Dataset.owner_org))).where(*visible))
        or 0,
        "resources": session.scalar(
            select(func.count())
            .select_from(Resource)
            .join(Dataset, Dataset.id == Resource.dataset_id)
            .where(*visible)
        )
        or 0,
    }


@router.get("/opendata", response_class=HTMLResponse)
def home(request: Request, session: SessionDep, principal: OptionalPrincipal) -> HTMLResponse:
    newest = search(session, "", Filters(), sort=[SortKey("metadata_created", True)], rows=6, start=0)
    featured_ids = list(
        session.scalars(
            select(Dataset.id)
            .where(Dataset.featured.is_(True), Dataset.state == "active", Dataset.private.is_(False))
            .order_by(Dataset.metadata_modified.desc(), Dataset.id)
            .limit(6)
        )
    )
    groups = search(
        session,
        "",
        Filters(),
        sort=[SortKey("name", False)],
        rows=0,
        start=0,
        facet_fields=["groups"],
        facet_limit=50,
    )
    base = _base(request)
    return render(
        request,
        "opendata/home.html",
        {
            "counts": _public_counts(session),
            "featured": package_dicts(session, featured_ids, base),
            "newest": package_dicts(session, newest.ids, base),
            "groups": groups.facets.get("groups", []),
        },
    )


def _link(params: dict[str, list[str]], **changes: Any) -> str:
    merged = {k: list(v) for k, v in params.items()}
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value if isinstance(value, list) else [value]
    return "?" + urlencode([(k, v) for k, vs in merged.items() for v in vs])


@router.get("/opendata/datasets", response_class=HTMLResponse)
def datasets(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    q: Annotated[str, Query(max_length=200)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    sort: Annotated[str, Query(pattern="^(relevance|newest|name)$")] = "relevance",
) -> HTMLResponse:
    params = {k: request.query_params.getlist(k) for k in request.query_params if k not in ("page", "lang")}
    filters = Filters()
    active: list[tuple[str, str, str]] = []
    for name in FACET_FIELDS:
        values = [v for v in request.query_params.getlist(name) if v][:10]
        for value in values:
            filters.groups.append([Term(name, [value])])
            remaining = [v for v in params.get(name, []) if v != value]
            active.append((name, value, _link(params, **{name: remaining or None})))
    keys = {
        "relevance": [SortKey("score", True), SortKey("metadata_modified", True)],
        "newest": [SortKey("metadata_modified", True)],
        "name": [SortKey("title", False)],
    }[sort]
    try:
        result = search(
            session,
            q,
            filters,
            sort=keys,
            rows=PAGE_SIZE,
            start=(page - 1) * PAGE_SIZE,
            facet_fields=list(FACET_FIELDS),
            facet_limit=12,
            visibility=Visibility(True, service.editable_orgs(principal)),
        )
    except SearchQueryError:
        result = None
    facets = []
    if result is not None:
        for name in FACET_FIELDS:
            items = []
            for value, display, count in result.facets.get(name, []):
                chosen = value in params.get(name, [])
                target = _link(
                    params,
                    **{
                        name: [v for v in params.get(name, []) if v != value]
                        if chosen
                        else params.get(name, []) + [value]
                    },
                )
                items.append(
                    {"value": value, "display": display, "count": count, "chosen": chosen, "href": target}
                )
            facets.append((name, items))
    total = result.count if result else 0
    pages = max(1, -(-total // PAGE_SIZE))
    return render(
        request,
        "opendata/search.html",
        {
            "q": q,
            "sort": sort,
            "results": package_dicts(session, result.ids, _base(request)) if result else [],
            "total": total,
            "page": page,
            "pages": pages,
            "prev_href": _link(params, page=str(page - 1)) if page > 1 else None,
            "next_href": _link(params, page=str(page + 1)) if page < pages else None,
            "facets": facets,
            "active": active,
        },
    )


def _chart(session: Session, resource: Resource) -> dict[str, Any] | None:
    """A bar or line chart when the table has a label column and a numeric one and is small enough."""
    if not resource.datastore_active or resource.row_count == 0 or resource.row_count > 2000:
        return None
    numeric = [
        f for f in resource.fields if f["type"] in ("int", "numeric") and not f["id"].endswith("_code")
    ]
    labels = [f for f in resource.fields if f["id"] in ("month", "year")] or [
        f for f in resource.fields if f["type"] == "text" and not f["id"].endswith("_code")
    ]
    if not numeric or not labels:
        return None
    label, value = labels[0], next((f for f in numeric if f["id"] != labels[0]["id"]), None)
    if value is None:
        return None
    totals: dict[str, float] = defaultdict(float)
    for row in datastore.iter_rows(session, resource):
        if row.get(value["id"]) is not None:
            totals[str(row.get(label["id"]))] += float(row[value["id"]])
    if not totals or len(totals) > 150:
        return None
    timeline = label["id"] in ("month", "year")
    keys = sorted(totals) if timeline else sorted(totals, key=lambda k: -totals[k])[:30]
    return {
        "kind": "line" if timeline else "bar",
        "labels": keys,
        "values": [totals[k] for k in keys],
        "x": label.get("info", {}).get("label") or label["id"],
        "x_en": label.get("info", {}).get("label_en") or label["id"],
        "y": value.get("info", {}).get("label") or value["id"],
        "y_en": value.get("info", {}).get("label_en") or value["id"],
    }


@router.get("/opendata/dataset/{name}", response_class=HTMLResponse)
def dataset_page(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    name: str,
    resource: Annotated[str | None, Query(max_length=32)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    dataset = service.get_dataset(session, name, principal)
    base = _base(request)
    pkg = package_dicts(session, [dataset.id], base)[0]
    tables = [r for r in dataset.resources if r.datastore_active]
    current = next((r for r in tables if r.id == resource), tables[0] if tables else None)
    preview = None
    chart = None
    if current is not None:
        found = datastore.search(session, current, limit=PREVIEW_ROWS, offset=(page - 1) * PREVIEW_ROWS)
        pages = max(1, -(-current.row_count // PREVIEW_ROWS))
        preview = {
            "resource": current,
            "fields": [f for f in found["fields"] if f["id"] != "_id"],
            "records": found["records"],
            "page": page,
            "pages": pages,
            "prev_href": f"?resource={current.id}&page={page - 1}#preview" if page > 1 else None,
            "next_href": f"?resource={current.id}&page={page + 1}#preview" if page < pages else None,
        }
        chart = _chart(session, current)
    quality = None
    if service.can_edit(principal, dataset.owner_org):
        quality = service.quality(dataset, list(dataset.resources))
    return render(
        request,
        "opendata/dataset.html",
        {
            "pkg": pkg,
            "base": base,
            "preview": preview,
            "chart_json": json.dumps(chart, ensure_ascii=False) if chart else None,
            "quality": quality,
            "first_table": tables[0].id if tables else None,
        },
    )


@router.get("/opendata/organizations", response_class=HTMLResponse)
def organizations(request: Request, session: SessionDep, principal: OptionalPrincipal) -> HTMLResponse:
    rows = session.execute(
        select(Organization.name, Agency.name, Agency.name_en, func.count(Dataset.id))
        .join(Agency, Agency.code == Organization.agency_code)
        .join(Dataset, Dataset.owner_org == Organization.agency_code)
        .where(Dataset.state == "active", Dataset.private.is_(False))
        .group_by(Organization.name, Agency.name, Agency.name_en)
        .order_by(func.count(Dataset.id).desc(), Agency.name)
    ).all()
    return render(request, "opendata/organizations.html", {"orgs": rows})


@router.get("/opendata/organization/{name}", response_class=HTMLResponse)
def organization(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    name: str,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    org = service.find_organization(session, name)
    if org is None:
        raise NotFound("opendata_org_not_found", "Organization {ref} not found", ref=name)
    agency = session.get(Agency, org.agency_code)
    result = search(
        session,
        "",
        Filters([[Term("organization", [org.name])]]),
        sort=[SortKey("title", False)],
        rows=PAGE_SIZE,
        start=(page - 1) * PAGE_SIZE,
        visibility=Visibility(True, service.editable_orgs(principal)),
    )
    pages = max(1, -(-result.count // PAGE_SIZE))
    return render(
        request,
        "opendata/organization.html",
        {
            "org": org,
            "agency": agency,
            "datasets": package_dicts(session, result.ids, _base(request)),
            "total": result.count,
            "page": page,
            "pages": pages,
            "groups": list(session.scalars(select(Group).order_by(Group.title))),
        },
    )
