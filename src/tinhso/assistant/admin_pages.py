"""Admin pages of the AI register: list, register and edit systems (platform admins; agency admins, own agency)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from tinhso.assistant import register
from tinhso.assistant.models import AISystem
from tinhso.assistant.schemas import AISystemCreate, AISystemUpdate
from tinhso.identity.auth import require_roles
from tinhso.identity.principal import Principal
from tinhso.kit.deps import SessionDep
from tinhso.kit.errors import DomainError, Forbidden
from tinhso.kit.i18n import gettext
from tinhso.web.templating import language_of, render

router = APIRouter(include_in_schema=False)
AdminDep = Annotated[Principal, require_roles("agency_admin")]
BASE = "/admin/ai-register"
RISK_LABELS = {
    "minimal": "Minimal risk",
    "limited": "Limited risk",
    "high": "High risk",
    "unacceptable": "Unacceptable risk",
}
CHOICES = {
    "personal_data": ["none", "personal", "sensitive"],
    "decision_role": ["informs", "assists", "decides"],
    "affected": ["citizens", "businesses", "officials", "vulnerable"],
    "prohibited_practices": ["social_scoring", "manipulation", "mass_biometric_surveillance"],
    "status": ["planned", "active", "retired"],
}
TEXT_FIELDS = ("code", "name", "owner_agency_code", "purpose", "human_oversight", "transparency_note")


def _managed(session: Session, principal: Principal) -> list[AISystem]:
    agency = None if principal.is_platform_admin else principal.agency_code
    return register.search(session, None, None, agency)


def _values(form: Any) -> dict[str, Any]:
    """The submitted form as the API's fields (lists from checkboxes; data used one per line)."""
    values: dict[str, Any] = {k: str(form.get(k) or "").strip() for k in TEXT_FIELDS}
    for key in ("personal_data", "decision_role", "status"):
        values[key] = str(form.get(key) or "")
    for key in ("affected", "prohibited_practices"):
        values[key] = [str(v) for v in form.getlist(key)]
    values["data_used"] = [
        line.strip() for line in str(form.get("data_used") or "").splitlines() if line.strip()
    ]
    return values


def _form(
    request: Request, values: dict[str, Any], errors: list[str], system: AISystem | None, status: int = 200
) -> HTMLResponse:
    return render(
        request,
        "assistant/register_form.html",
        {
            "values": values,
            "errors": errors,
            "system": system,
            "choices": CHOICES,
            "risk_labels": RISK_LABELS,
        },
        status_code=status,
    )


def _messages(request: Request, exc: Exception) -> list[str]:
    lang = language_of(request)
    if isinstance(exc, ValidationError):
        return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    if isinstance(exc, DomainError):
        return [gettext(exc.message, lang, **exc.params)]
    return [str(exc)]


@router.get(BASE, response_class=HTMLResponse)
def register_list(request: Request, session: SessionDep, principal: AdminDep) -> HTMLResponse:
    return render(
        request,
        "assistant/register_admin.html",
        {"systems": _managed(session, principal), "risk_labels": RISK_LABELS},
    )


@router.get(f"{BASE}/new", response_class=HTMLResponse)
def register_new(request: Request, principal: AdminDep) -> HTMLResponse:
    values = {"owner_agency_code": principal.agency_code or "", "status": "planned", "affected": []}
    return _form(request, values, [], None)


@router.post(f"{BASE}/new", response_class=HTMLResponse)
async def register_create(request: Request, session: SessionDep, principal: AdminDep) -> Response:
    values = _values(await request.form())
    try:
        row = register.create(session, principal, AISystemCreate.model_validate(values))
    except Forbidden:
        raise
    except (ValidationError, DomainError) as exc:
        session.rollback()
        return _form(request, values, _messages(request, exc), None, 422)
    return RedirectResponse(f"{BASE}#ai-{row.code}", status_code=303)


@router.get(f"{BASE}/{{system_id}}", response_class=HTMLResponse)
def register_edit(request: Request, system_id: str, session: SessionDep, principal: AdminDep) -> HTMLResponse:
    row = register.get(session, system_id)
    if not register.can_manage(principal, row.owner_agency_code):
        raise Forbidden("ai_system_not_yours", "You may change only your own agency's AI systems")
    values = {k: getattr(row, k) for k in (*TEXT_FIELDS, *CHOICES, "data_used")}
    return _form(request, values, [], row)


@router.post(f"{BASE}/{{system_id}}", response_class=HTMLResponse)
async def register_update(
    request: Request, system_id: str, session: SessionDep, principal: AdminDep
) -> Response:
    form = await request.form()
    values = _values(form)
    row = register.get(session, system_id)
    changes = {k: v for k, v in values.items() if k not in ("code", "owner_agency_code")}
    try:
        version = int(str(form.get("version") or "0"))
        updated = register.update(
            session, principal, system_id, AISystemUpdate.model_validate({**changes, "version": version})
        )
    except Forbidden:
        raise
    except (ValidationError, DomainError, ValueError) as exc:
        session.rollback()
        row = register.get(session, system_id)
        values.update(code=row.code, owner_agency_code=row.owner_agency_code)
        status = 409 if getattr(exc, "status", 422) == 409 else 422
        return _form(request, values, _messages(request, exc), row, status)
    return RedirectResponse(f"{BASE}#ai-{updated.code}", status_code=303)
