"""Administration pages: information systems and their client credentials (secret shown once), audit log."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from tinhso.audit import repository as audit_repo
from tinhso.identity import repository as repo
from tinhso.identity import service
from tinhso.identity.auth import OptionalPrincipal
from tinhso.identity.principal import Principal
from tinhso.identity.schemas import CredentialCreate, SystemCreate
from tinhso.kit import audit
from tinhso.kit.deps import SessionDep
from tinhso.kit.errors import DomainError
from tinhso.kit.pagination import PageDep, paginate
from tinhso.web.admin import NO_STORE, FormDep, gate, invalid_fields, refusal_text
from tinhso.web.templating import TZ, render

router = APIRouter(include_in_schema=False)
OUTCOMES = ("success", "failure", "denied", "locked")


@router.get("/admin/systems")
def systems(request: Request, session: SessionDep, principal: OptionalPrincipal, page: PageDep) -> Response:
    if (denied := gate(request, principal)) is not None:
        return denied
    assert principal is not None
    rows, total = paginate(session, repo.systems_statement(principal), page)
    return render(request, "admin/systems.html", {"rows": rows, "total": total, "page": page})


def _system_form(request: Request, principal: Principal, status: int = 200, **ctx: Any) -> Response:
    base: dict[str, Any] = {
        "values": {"agency_code": principal.agency_code or ""},
        "invalid": [],
        "error": None,
    }
    return render(request, "admin/system_new.html", base | ctx, status_code=status)


@router.get("/admin/systems/new")
def system_new(request: Request, principal: OptionalPrincipal) -> Response:
    if (denied := gate(request, principal)) is not None:
        return denied
    assert principal is not None
    return _system_form(request, principal)


@router.post("/admin/systems/new")
def system_create(
    request: Request, session: SessionDep, principal: OptionalPrincipal, form: FormDep
) -> Response:
    if (denied := gate(request, principal)) is not None:
        return denied
    assert principal is not None
    values = {k: str(form.get(k) or "").strip() for k in ("code", "name", "description", "agency_code")}
    if not principal.is_platform_admin:
        values["agency_code"] = principal.agency_code or ""
    try:
        data = SystemCreate(
            code=values["code"],
            name=values["name"],
            description=values["description"] or None,
            agency_code=values["agency_code"] or None,
        )
        system = service.create_system(session, principal, data)
    except ValidationError as exc:
        session.rollback()
        return _system_form(request, principal, 422, values=values, invalid=invalid_fields(exc))
    except DomainError as exc:
        session.rollback()
        return _system_form(request, principal, exc.status, values=values, error=refusal_text(request, exc))
    return RedirectResponse(f"/admin/systems/{system.id}", status_code=303)


def _system_page(
    request: Request, session: Session, principal: Principal, system_id: str, status: int = 200, **ctx: Any
) -> Response:
    try:
        system = service.get_system_for(session, principal, system_id)
    except DomainError:
        return render(request, "admin/not_found.html", status_code=404)
    base: dict[str, Any] = {
        "system": system,
        "credentials": repo.credentials_of(session, system.id),
        "issued": None,
        "secret": None,
        "error": None,
        "invalid": [],
    }
    response = render(request, "admin/system.html", base | ctx, status_code=status)
    response.headers.update(NO_STORE)
    return response


@router.get("/admin/systems/{system_id}")
def system_page(
    request: Request, session: SessionDep, principal: OptionalPrincipal, system_id: str
) -> Response:
    if (denied := gate(request, principal)) is not None:
        return denied
    assert principal is not None
    return _system_page(request, session, principal, system_id)


@router.post("/admin/systems/{system_id}/credentials")
def credential_issue(
    request: Request, session: SessionDep, principal: OptionalPrincipal, form: FormDep, system_id: str
) -> Response:
    """Issue a credential; its secret is in this one answer only (never stored, never shown again)."""
    if (denied := gate(request, principal)) is not None:
        return denied
    assert principal is not None
    try:
        days = str(form.get("expires_in_days") or "").strip()
        data = CredentialCreate(
            scopes=str(form.get("scopes") or "api").split(),
            expires_in_days=int(days) if days.isdigit() else None,
        )
        cred, secret = service.issue_credential(
            session, principal, system_id, data.scopes, data.expires_in_days
        )
    except ValidationError as exc:
        session.rollback()
        return _system_page(request, session, principal, system_id, 422, invalid=invalid_fields(exc))
    except DomainError as exc:
        session.rollback()
        if exc.status == 404:
            return render(request, "admin/not_found.html", status_code=404)
        return _system_page(
            request, session, principal, system_id, exc.status, error=refusal_text(request, exc)
        )
    return _system_page(request, session, principal, system_id, 201, issued=cred, secret=secret)


@router.post("/admin/systems/{system_id}/credentials/{credential_id}/{action}")
def credential_change(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    system_id: str,
    credential_id: str,
    action: str,
) -> Response:
    if (denied := gate(request, principal)) is not None:
        return denied
    assert principal is not None
    if action not in ("rotate", "revoke"):
        return render(request, "admin/not_found.html", status_code=404)
    try:
        if action == "rotate":
            cred, secret = service.rotate_credential(session, principal, system_id, credential_id)
            return _system_page(request, session, principal, system_id, 201, issued=cred, secret=secret)
        service.revoke_credential(session, principal, system_id, credential_id)
    except DomainError as exc:
        session.rollback()
        if exc.status == 404:
            return render(request, "admin/not_found.html", status_code=404)
        return _system_page(
            request, session, principal, system_id, exc.status, error=refusal_text(request, exc)
        )
    return RedirectResponse(f"/admin/systems/{system_id}", status_code=303)


# --- audit log --------------------------------------------------------------------------------------
def _when(value: str, end_of_day: bool = False) -> datetime | None:
    """A date typed on screen is a day in Vietnam's time zone; `until` includes that whole day."""
    try:
        moment = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=TZ)
    if moment is not None and end_of_day and len(value) == 10:
        moment += timedelta(days=1)
    return moment


@router.get("/admin/audit")
def audit_log(request: Request, session: SessionDep, principal: OptionalPrincipal, page: PageDep) -> Response:
    if (denied := gate(request, principal)) is not None:
        return denied
    assert principal is not None
    q = request.query_params
    filters = {
        k: (q.get(k) or "").strip()[:128]
        for k in ("action", "actor_id", "object_id", "outcome", "since", "until")
    }
    stmt = audit_repo.entries_statement(
        principal,
        action=filters["action"] or None,
        actor_id=filters["actor_id"] or None,
        object_id=filters["object_id"] or None,
        outcome=filters["outcome"] if filters["outcome"] in OUTCOMES else None,
        since=_when(filters["since"]),
        until=_when(filters["until"], end_of_day=True),
    )
    rows, total = paginate(session, stmt, page)
    return render(
        request,
        "admin/audit.html",
        {
            "rows": rows,
            "total": total,
            "page": page,
            "filters": filters,
            "outcomes": OUTCOMES,
            "result": None,
        },
    )


@router.post("/admin/audit/verify")
def audit_verify(request: Request, session: SessionDep, principal: OptionalPrincipal) -> Response:
    """Walk the whole hash chain and show whether any entry was altered, removed or reordered."""
    if (denied := gate(request, principal)) is not None:
        return denied
    assert principal is not None
    if not principal.is_platform_admin:
        return render(request, "admin/denied.html", status_code=403)
    result = audit.verify(session)
    filters = dict.fromkeys(("action", "actor_id", "object_id", "outcome", "since", "until"), "")
    return render(
        request,
        "admin/audit.html",
        {"rows": [], "total": 0, "page": None, "filters": filters, "outcomes": OUTCOMES, "result": result},
        status_code=200,
    )
