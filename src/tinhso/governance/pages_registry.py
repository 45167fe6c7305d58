"""Registry pages: the systems list, registering and editing a system, a system's and an agency's compliance."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from tinhso.governance import readmodels, service
from tinhso.governance.compliance import RULES
from tinhso.governance.pagekit import (
    agency_names,
    departments,
    found,
    html_errors,
    message_of,
    reader,
    validation_messages,
)
from tinhso.governance.schemas import NationalPlatform, SystemCreate, SystemRead, SystemUpdate
from tinhso.identity.auth import OptionalPrincipal
from tinhso.identity.models import Agency
from tinhso.identity.principal import Principal
from tinhso.kit.deps import SessionDep
from tinhso.kit.errors import DomainError, Forbidden, NotFound
from tinhso.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/governance", response_class=HTMLResponse)
def governance_home() -> Response:
    return RedirectResponse("/governance/systems", status_code=303)


@router.get("/governance/systems", response_class=HTMLResponse)
@html_errors
def systems_page(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    agency_code: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    who = reader(principal)
    status = status if status in ("planned", "building", "live", "retired") else None
    systems = list(
        session.scalars(service.systems_statement(session, who, agency_code or None, status, None, q))
    )
    context = {
        "systems": systems,
        "names": agency_names(session),
        "by_agency": Counter(s.agency_code for s in systems),
        "agency_code": agency_code or "",
        "status": status or "",
        "q": q or "",
    }
    return render(request, "governance/systems.html", context)


# --- registering and editing a system -------------------------------------------------------------

_TEXT_FIELDS = (
    "code",
    "name",
    "purpose",
    "layer",
    "component",
    "status",
    "security_approval_ref",
    "hosting",
    "integration",
    "sign_in",
    "ministry_consent_ref",
    "duplicates_platform",
    "exemption_ref",
    "backup_frequency",
    "contact",
    "agency_code",
    "security_level",
    "security_approved_on",
    "last_backup_at",
)
_LIST_FIELDS = ("entities_mastered", "services_consumed")
_CHOICE_LISTS = ("national_platforms", "monitoring")
_BOOLS = ("security_approved", "sectoral_software", "holds_important_data", "reports_operational_data")


def _form_values(form: Any) -> dict[str, Any]:
    """Turn the HTML form into the API's shape (lists from lines, booleans from checkboxes)."""
    values: dict[str, Any] = {}
    for key in _TEXT_FIELDS:
        raw = str(form.get(key) or "").strip()
        if raw:
            values[key] = raw
    for key in _LIST_FIELDS:
        values[key] = [x.strip() for x in str(form.get(key) or "").splitlines() if x.strip()]
    for key in _CHOICE_LISTS:
        values[key] = [str(x) for x in form.getlist(key)]
    for key in _BOOLS:
        values[key] = form.get(key) == "on"
    apis = []
    for line in str(form.get("services_exposed") or "").splitlines():
        code, _, url = line.strip().partition(" ")
        if code:
            apis.append({"code": code, "openapi_url": url.strip() or None})
    values["services_exposed"] = apis
    return values


def _form_page(  # noqa: PLR0913
    request: Request,
    session: Session,
    who: Principal,
    values: dict[str, Any],
    errors: list[str],
    system_id: str | None,
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "v": values,
        "errors": errors,
        "system_id": system_id,
        "agencies": departments(session) if who.is_platform_admin else [],
        "platforms": list(get_args(NationalPlatform)),
    }
    return render(request, "governance/system_form.html", context, status_code=status_code)


@router.get("/governance/systems/new", response_class=HTMLResponse)
@html_errors
def new_system_page(request: Request, session: SessionDep, principal: OptionalPrincipal) -> Response:
    who = reader(principal)
    if not (who.is_platform_admin or service.may_write(who, who.agency_code or "")):
        raise Forbidden("system_not_yours", "You may register systems only for your own agency")
    return _form_page(request, session, who, {"layer": "application", "status": "planned"}, [], None)


@router.get("/governance/systems/{system_id}/edit", response_class=HTMLResponse)
@html_errors
def edit_system_page(
    request: Request, session: SessionDep, principal: OptionalPrincipal, system_id: str
) -> Response:
    who = reader(principal)
    system = service.get_system(session, who, system_id)
    if not service.may_write(who, system.agency_code):
        raise Forbidden("system_not_yours", "You may change only your own agency's systems")
    values = SystemRead.model_validate(system).model_dump()
    return _form_page(request, session, who, values, [], system.id)


@router.post("/governance/systems/new", response_class=HTMLResponse)
@router.post("/governance/systems/{system_id}/edit", response_class=HTMLResponse)
@html_errors
async def save_system_page(
    request: Request, session: SessionDep, principal: OptionalPrincipal, system_id: str | None = None
) -> Response:
    form = await request.form()
    who = reader(principal)
    values = _form_values(form)
    try:
        if system_id is None:
            system = service.create_system(session, who, SystemCreate.model_validate(values))
        else:
            values.pop("code", None)
            values.pop("agency_code", None)
            values["version"] = int(str(form.get("version") or "0") or 0)
            system = service.update_system(session, who, system_id, SystemUpdate.model_validate(values))
    except (ValidationError, DomainError) as exc:
        if isinstance(exc, DomainError) and exc.status not in (400, 409):
            raise
        errors, status = (
            (validation_messages(exc), 422)
            if isinstance(exc, ValidationError)
            else ([message_of(request, exc)], exc.status)
        )
        again = values | {"version": form.get("version")}
        return _form_page(request, session, who, again, errors, system_id, status)
    return RedirectResponse(f"/governance/systems/{system.id}", status_code=303)


@router.get("/governance/systems/{system_id}", response_class=HTMLResponse)
@html_errors
def system_page(
    request: Request, session: SessionDep, principal: OptionalPrincipal, system_id: str
) -> Response:
    who = reader(principal)
    system = service.get_system(session, who, system_id)
    rep = readmodels.system_report(system, service.results_of(session, [system.id])[system.id])
    context = {
        "rep": rep,
        "s": rep.system,
        "agency_name": agency_names(session).get(system.agency_code, system.agency_code),
        "can_edit": service.may_write(who, system.agency_code),
    }
    return render(request, "governance/system.html", context)


@router.get("/governance/agencies/{agency_code}", response_class=HTMLResponse)
@html_errors
def agency_page(
    request: Request, session: SessionDep, principal: OptionalPrincipal, agency_code: str
) -> Response:
    who = reader(principal)
    agency = found(session, Agency, agency_code, "agency_not_found", "Agency {code} not found")
    scope = service.readable(session, who)
    if scope is not None and agency_code not in scope:
        raise NotFound("agency_not_found", "Agency {code} not found", code=agency_code)
    systems = list(session.scalars(service.systems_statement(session, who, agency_code)))
    results = service.results_of(session, [s.id for s in systems])
    rep = readmodels.agency_report(agency_code, [readmodels.system_report(s, results[s.id]) for s in systems])
    return render(request, "governance/agency.html", {"agency": agency, "rep": rep, "rules": RULES})
