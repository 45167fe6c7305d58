"""Audit API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from tinhso.audit import repository as repo
from tinhso.audit.schemas import AuditEntryRead, DataUsageRead, VerifyRead
from tinhso.identity.auth import CurrentPrincipal, require_roles
from tinhso.identity.principal import Principal
from tinhso.kit import audit
from tinhso.kit.deps import SessionDep
from tinhso.kit.errors import Forbidden
from tinhso.kit.pagination import Page, PageDep, paginate

router = APIRouter(tags=["audit"])


@router.get("/api/v1/audit", operation_id="list_audit_entries", response_model=Page[AuditEntryRead])
def list_audit(
    session: SessionDep,
    page: PageDep,
    principal: Annotated[Principal, require_roles("agency_admin")],
    action: Annotated[
        str | None, Query(max_length=64, description="Exact action, or a prefix ending in '.'")
    ] = None,
    actor_id: Annotated[str | None, Query(max_length=64)] = None,
    object_type: Annotated[str | None, Query(max_length=64)] = None,
    object_id: Annotated[str | None, Query(max_length=128)] = None,
    agency_code: Annotated[str | None, Query(max_length=32)] = None,
    outcome: Annotated[Literal["success", "failure", "denied", "locked"] | None, Query()] = None,
    since: datetime | None = None,
    until: datetime | None = None,
):
    stmt = repo.entries_statement(
        principal,
        action=action,
        actor_id=actor_id,
        object_type=object_type,
        object_id=object_id,
        agency_code=agency_code,
        outcome=outcome,
        since=since,
        until=until,
    )
    rows, total = paginate(session, stmt, page)
    return Page(
        items=[AuditEntryRead.model_validate(r) for r in rows],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )


@router.get("/api/v1/audit/verify", operation_id="verify_audit_chain", response_model=VerifyRead)
def verify_chain(session: SessionDep, principal: CurrentPrincipal):
    if not principal.is_platform_admin:
        raise Forbidden("not_platform_admin", "Only a platform administrator may do this")
    result = audit.verify(session)
    return VerifyRead(
        ok=result.ok, checked=result.checked, broken_seq=result.broken_seq, reason=result.reason
    )


@router.get(
    "/api/v1/me/data-usage", operation_id="my_personal_data_usage", response_model=Page[DataUsageRead]
)
def my_data_usage(session: SessionDep, principal: CurrentPrincipal, page: PageDep):
    """Who read my personal data, from which agency, when and why."""
    rows, total = paginate(session, repo.data_usage_statement(principal.id), page)
    return Page(
        items=[DataUsageRead.model_validate(r, from_attributes=True) for r in rows],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )
