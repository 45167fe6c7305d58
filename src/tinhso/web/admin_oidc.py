"""Administration page: applications that sign people in through the platform (OpenID Connect clients)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from tinhso.identity import oidc_clients as relying_parties
from tinhso.identity.auth import OptionalPrincipal
from tinhso.kit.deps import SessionDep
from tinhso.kit.errors import DomainError
from tinhso.web.admin import NO_STORE, FormDep, gate, refusal_text
from tinhso.web.templating import render

router = APIRouter(include_in_schema=False)


def _page(request: Request, session: Session, status: int = 200, **ctx: Any) -> Response:
    base: dict[str, Any] = {
        "rows": relying_parties.clients(session),
        "created": None,
        "secret": None,
        "error": None,
        "values": {},
    }
    response = render(request, "admin/oidc_clients.html", base | ctx, status_code=status)
    response.headers.update(NO_STORE)
    return response


@router.get("/admin/oidc-clients")
def oidc_clients(request: Request, session: SessionDep, principal: OptionalPrincipal) -> Response:
    if (denied := gate(request, principal)) is not None:
        return denied
    assert principal is not None
    if not principal.is_platform_admin:
        return render(request, "admin/denied.html", status_code=403)
    return _page(request, session)


@router.post("/admin/oidc-clients")
def oidc_client_create(
    request: Request, session: SessionDep, principal: OptionalPrincipal, form: FormDep
) -> Response:
    if (denied := gate(request, principal)) is not None:
        return denied
    assert principal is not None
    values = {k: str(form.get(k) or "")[:4000] for k in ("name", "redirect_uris", "agency_code")}
    values["confidential"] = "on" if form.get("confidential") == "on" else ""
    try:
        row, secret = relying_parties.register_client(
            session,
            principal,
            values["name"],
            values["redirect_uris"].split(),
            confidential=bool(values["confidential"]),
            agency_code=values["agency_code"].strip() or None,
        )
    except DomainError as exc:
        session.rollback()
        if exc.status == 403:
            return render(request, "admin/denied.html", status_code=403)
        return _page(request, session, exc.status, error=refusal_text(request, exc), values=values)
    return _page(request, session, 201, created=row, secret=secret)


@router.post("/admin/oidc-clients/{client_id}/active")
def oidc_client_active(
    request: Request, session: SessionDep, principal: OptionalPrincipal, form: FormDep, client_id: str
) -> Response:
    if (denied := gate(request, principal)) is not None:
        return denied
    assert principal is not None
    try:
        relying_parties.set_client_active(session, principal, client_id, form.get("active") == "on")
    except DomainError as exc:
        session.rollback()
        if exc.status == 403:
            return render(request, "admin/denied.html", status_code=403)
        return render(request, "admin/not_found.html", status_code=404)
    return RedirectResponse("/admin/oidc-clients", status_code=303)
