"""Administration pages for platform and agency administrators: agencies, people, roles, information systems.

Every write goes through `tinhso.identity.service` (the same rules, scoping and audit as the API). Forms are
posted with the session's `csrf_token` (checked by `identity.auth`); a refusal re-shows the form with the
reason in the page's language.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from tinhso.identity import repository as repo
from tinhso.identity import service
from tinhso.identity.auth import OptionalPrincipal
from tinhso.identity.models import ROLES, Role, RoleAssignment
from tinhso.identity.principal import Principal
from tinhso.identity.schemas import AgencyUpdate, PersonCreate, PersonUpdate
from tinhso.kit.db import utcnow
from tinhso.kit.deps import SessionDep
from tinhso.kit.errors import DomainError
from tinhso.kit.i18n import gettext
from tinhso.kit.pagination import PageDep, paginate
from tinhso.web.templating import language_of, render

router = APIRouter(include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def _form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(_form)]


def gate(request: Request, principal: Principal | None) -> Response | None:
    """Anonymous visitors are sent to sign in; people without an administrator role are refused."""
    if principal is None:
        from urllib.parse import urlencode

        return RedirectResponse("/signin?" + urlencode({"next": request.url.path}), status_code=303)
    if principal.kind != "person" or not principal.has_role("agency_admin"):
        return render(request, "admin/denied.html", status_code=403)
    return None


def refusal_text(request: Request, exc: DomainError) -> str:
    return gettext(exc.message, language_of(request), **exc.params)


def invalid_fields(exc: ValidationError) -> list[str]:
    return sorted({str(e["loc"][0]) for e in exc.errors() if e.get("loc")})


def _text(form: FormData, name: str, limit: int = 4000) -> str | None:
    value = str(form.get(name) or "").strip()[:limit]
    return value or None


@router.get("/admin")
def admin_home(request: Request, principal: OptionalPrincipal) -> Response:
    if (denied := gate(request, principal)) is not None:
        return denied
    return render(request, "admin/index.html")


# --- agencies ---------------------------------------------------------------------------------------
@router.get("/admin/agencies")
def agencies(
    request: Request, session: SessionDep, principal: OptionalPrincipal, page: PageDep, q: str = ""
) -> Response:
    if (denied := gate(request, principal)) is not None:
        return denied
    rows, total = paginate(session, repo.agencies_statement(q[:200] or None), page)
    return render(request, "admin/agencies.html", {"rows": rows, "total": total, "page": page, "q": q})


def _can_edit_agency(principal: Principal, code: str) -> bool:
    return principal.is_platform_admin or principal.agency_code == code


@router.get("/admin/agencies/{code}")
def agency_form(request: Request, session: SessionDep, principal: OptionalPrincipal, code: str) -> Response:
    if (denied := gate(request, principal)) is not None:
        return denied
    assert principal is not None
    agency = repo.get_agency(session, code)
    if agency is None:
        return render(request, "admin/not_found.html", status_code=404)
    return render(
        request,
        "admin/agency.html",
        {
            "agency": agency,
            "editable": _can_edit_agency(principal, code),
            "saved": "saved" in request.query_params,
        },
    )


@router.post("/admin/agencies/{code}")
def agency_save(
    request: Request, session: SessionDep, principal: OptionalPrincipal, form: FormDep, code: str
) -> Response:
    if (denied := gate(request, principal)) is not None:
        return denied
    assert principal is not None
    agency = repo.get_agency(session, code)
    if agency is None:
        return render(request, "admin/not_found.html", status_code=404)
    ctx: dict[str, Any] = {"agency": agency, "editable": True}
    try:
        data = AgencyUpdate(
            name=_text(form, "name", 255),
            name_en=_text(form, "name_en", 255),
            short_name=_text(form, "short_name", 64),
            active=form.get("active") == "on",
        )
        service.update_agency(session, principal, code, data)
    except ValidationError as exc:
        session.rollback()
        return render(request, "admin/agency.html", ctx | {"invalid": invalid_fields(exc)}, status_code=422)
    except DomainError as exc:
        session.rollback()
        return render(request, "admin/agency.html", ctx | {"error": refusal_text(request, exc)}, exc.status)
    return RedirectResponse(f"/admin/agencies/{code}?saved=1", status_code=303)


# --- people -----------------------------------------------------------------------------------------
def _grantable(principal: Principal) -> list[str]:
    return (
        list(ROLES)
        if principal.is_platform_admin
        else [r for r in ROLES if r not in ("leader", "platform_admin")]
    )


@router.get("/admin/people")
def people(
    request: Request, session: SessionDep, principal: OptionalPrincipal, page: PageDep, q: str = ""
) -> Response:
    if (denied := gate(request, principal)) is not None:
        return denied
    assert principal is not None
    rows, total = paginate(session, repo.people_statement(principal, q[:200] or None), page)
    return render(
        request, "admin/people.html", {"rows": rows, "total": total, "page": page, "q": q, "now": utcnow()}
    )


def _person_form(request: Request, principal: Principal, status: int = 200, **ctx: Any) -> Response:
    base: dict[str, Any] = {"roles": _grantable(principal), "values": {}, "invalid": [], "error": None}
    return render(request, "admin/person_new.html", base | ctx, status_code=status)


@router.get("/admin/people/new")
def person_new(request: Request, principal: OptionalPrincipal) -> Response:
    if (denied := gate(request, principal)) is not None:
        return denied
    assert principal is not None
    return _person_form(
        request, principal, values={"agency_code": principal.agency_code or "", "roles": ["official"]}
    )


@router.post("/admin/people/new")
def person_create(
    request: Request, session: SessionDep, principal: OptionalPrincipal, form: FormDep
) -> Response:
    if (denied := gate(request, principal)) is not None:
        return denied
    assert principal is not None
    values = {k: str(form.get(k) or "") for k in ("username", "full_name", "email", "phone", "agency_code")}
    values["roles"] = [str(r) for r in form.getlist("roles")]  # type: ignore[assignment]
    if not principal.is_platform_admin:
        values["agency_code"] = principal.agency_code or ""
    try:
        data = PersonCreate(
            username=values["username"].strip().lower(),
            full_name=values["full_name"],
            email=values["email"].strip() or None,
            phone=values["phone"].strip() or None,
            agency_code=values["agency_code"].strip() or None,
            password=str(form.get("password") or ""),
            roles=values["roles"] or ["official"],  # type: ignore[arg-type]
        )
        person = service.create_person(session, principal, data)
    except ValidationError as exc:
        session.rollback()
        return _person_form(request, principal, 422, values=values, invalid=invalid_fields(exc))
    except DomainError as exc:
        session.rollback()
        return _person_form(request, principal, exc.status, values=values, error=refusal_text(request, exc))
    return RedirectResponse(f"/admin/people/{person.id}?created=1", status_code=303)


def _person_page(
    request: Request, session: Session, principal: Principal, person_id: str, **ctx: Any
) -> Response:
    try:
        person = service.read_person(session, principal, person_id)  # audited: it shows personal fields
    except DomainError:
        return render(request, "admin/not_found.html", status_code=404)
    status = ctx.pop("status", 200)
    base: dict[str, Any] = {
        "person": person,
        "person_roles": sorted(r.role_code for r in person.roles),
        "roles": _grantable(principal),
        "locked": bool(person.locked_until and person.locked_until > utcnow()),
        "notice": ctx.pop("notice", None) or _notice(request),
        "invalid": [],
        "error": None,
    }
    return render(request, "admin/person.html", base | ctx, status_code=status)


def _notice(request: Request) -> str | None:
    for key in ("created", "saved", "unlocked"):
        if key in request.query_params:
            return key
    return None


@router.get("/admin/people/{person_id}")
def person_page(
    request: Request, session: SessionDep, principal: OptionalPrincipal, person_id: str
) -> Response:
    if (denied := gate(request, principal)) is not None:
        return denied
    assert principal is not None
    return _person_page(request, session, principal, person_id)


@router.post("/admin/people/{person_id}")
def person_save(
    request: Request, session: SessionDep, principal: OptionalPrincipal, form: FormDep, person_id: str
) -> Response:
    if (denied := gate(request, principal)) is not None:
        return denied
    assert principal is not None
    try:
        changes: dict[str, Any] = {
            "full_name": _text(form, "full_name", 255),
            "email": _text(form, "email", 255),
            "phone": _text(form, "phone", 32),
            "active": form.get("active") == "on",
            "roles": [str(r) for r in form.getlist("roles")],
        }
        if form.get("password"):
            changes["password"] = str(form.get("password"))
        service.update_person(session, principal, person_id, PersonUpdate(**changes))
    except ValidationError as exc:
        session.rollback()
        return _person_page(request, session, principal, person_id, invalid=invalid_fields(exc), status=422)
    except DomainError as exc:
        session.rollback()
        if exc.status == 404:
            return render(request, "admin/not_found.html", status_code=404)
        return _person_page(
            request, session, principal, person_id, error=refusal_text(request, exc), status=exc.status
        )
    return RedirectResponse(f"/admin/people/{person_id}?saved=1", status_code=303)


@router.post("/admin/people/{person_id}/unlock")
def person_unlock(
    request: Request, session: SessionDep, principal: OptionalPrincipal, person_id: str
) -> Response:
    if (denied := gate(request, principal)) is not None:
        return denied
    assert principal is not None
    try:
        service.update_person(session, principal, person_id, PersonUpdate(unlock=True))
    except DomainError as exc:
        session.rollback()
        if exc.status == 404:
            return render(request, "admin/not_found.html", status_code=404)
        return _person_page(
            request, session, principal, person_id, error=refusal_text(request, exc), status=exc.status
        )
    return RedirectResponse(f"/admin/people/{person_id}?unlocked=1", status_code=303)


# --- roles ------------------------------------------------------------------------------------------
@router.get("/admin/roles")
def roles(request: Request, session: SessionDep, principal: OptionalPrincipal) -> Response:
    if (denied := gate(request, principal)) is not None:
        return denied
    assert principal is not None
    counts = select(RoleAssignment.role_code, func.count()).group_by(RoleAssignment.role_code)
    if not principal.is_platform_admin:
        from tinhso.identity.models import Person

        counts = counts.join(Person, Person.id == RoleAssignment.person_id).where(
            Person.agency_code == principal.agency_code
        )
    held = dict(session.execute(counts).tuples().all())
    rows = list(session.scalars(select(Role)))
    rows.sort(key=lambda r: ROLES.index(r.code) if r.code in ROLES else 99)
    return render(request, "admin/roles.html", {"rows": rows, "held": held})
