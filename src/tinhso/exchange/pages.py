"""Exchange pages: the service catalog (search, rendered OpenAPI operations) and the operator's page."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from tinhso.exchange import catalog, monitor
from tinhso.exchange.ids import instance_var
from tinhso.exchange.runtime import of as runtime_of
from tinhso.identity.auth import OptionalPrincipal
from tinhso.kit.db import utcnow
from tinhso.kit.deps import SessionDep
from tinhso.kit.errors import DomainError, NotFound
from tinhso.kit.pagination import PageParams, paginate
from tinhso.web.templating import render

router = APIRouter(include_in_schema=False)
CLASS_LABELS = {"public": "Public", "internal": "Internal", "personal": "Personal data", "secret": "Secret"}


def _operations(doc: dict[str, Any] | None) -> list[dict[str, Any]]:
    ops = []
    for path, item in sorted(((doc or {}).get("paths") or {}).items()):
        if not isinstance(item, dict):
            continue
        for method in catalog.HTTP_METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                params = [
                    p for p in op.get("parameters", []) + item.get("parameters", []) if isinstance(p, dict)
                ]
                ops.append(
                    {
                        "method": method.upper(),
                        "path": path,
                        "summary": op.get("summary") or op.get("description") or "",
                        "parameters": params,
                        "responses": sorted((op.get("responses") or {}).items()),
                    }
                )
    return ops


@router.get("/exchange", response_class=HTMLResponse)
def catalog_page(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    q: Annotated[str | None, Query(max_length=200)] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    instance_var.set(runtime_of(request.app).instance)
    params = PageParams(page=page, page_size=25)
    rows, total = paginate(session, catalog.catalog_statement(principal, q), params)
    services = [catalog.to_read(r, principal) for r in rows]
    return render(
        request,
        "exchange/catalog.html",
        {
            "services": services,
            "q": q or "",
            "total": total,
            "page": page,
            "pages": max(1, -(-total // 25)),
            "class_labels": CLASS_LABELS,
        },
    )


@router.get("/exchange/services/{service_id}", response_class=HTMLResponse)
def service_page(
    request: Request, session: SessionDep, principal: OptionalPrincipal, service_id: str
) -> HTMLResponse:
    instance_var.set(runtime_of(request.app).instance)
    try:
        service = catalog.get_visible(session, principal, service_id)
    except NotFound:
        return render(request, "exchange/not_found.html", {}, status_code=404)
    return render(
        request,
        "exchange/service.html",
        {
            "service": catalog.to_read(service, principal),
            "operations": _operations(service.openapi),
            "class_labels": CLASS_LABELS,
            "gateway_base": f"/r1/{catalog.identifier(service)}",
        },
    )


@router.get("/exchange/operations", response_class=HTMLResponse)
def operator_page(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    hours: Annotated[int, Query(ge=1, le=24 * 90)] = 24,
) -> HTMLResponse:
    if principal is None:
        return render(request, "exchange/signin_needed.html", {}, status_code=401)
    if not principal.has_role("agency_admin", "leader", "platform_admin"):
        return render(request, "exchange/signin_needed.html", {"forbidden": True}, status_code=403)
    until = utcnow()
    agency = None if (principal.is_platform_admin or "leader" in principal.roles) else principal.agency_code
    try:
        data = monitor.stats(session, until - timedelta(hours=hours), until, agency)
    except DomainError:
        data = {"items": [], "providers": [], "calls": 0, "errors": 0, "error_rate": None}
    return render(request, "exchange/operations.html", {"stats": data, "hours": hours})
