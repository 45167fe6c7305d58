"""Reports API: the Decision 766 index (JSON, trace, XLSX), national-portal sync reconciliation, KPIs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tinhso.identity.auth import CurrentPrincipal
from tinhso.identity.principal import Principal
from tinhso.kit import audit
from tinhso.kit.deps import SessionDep
from tinhso.kit.errors import Forbidden
from tinhso.procedures import index766, sync
from tinhso.procedures.models import Dossier

router = APIRouter(tags=["procedures"])
P = "/api/v1/procedures"
Period = Annotated[str, Query(max_length=7, description="2026-03 or 2026-Q1")]
Group = Annotated[str, Query(pattern="^(province|agency|commune)$")]


def scope_for(principal: Principal, group_by: str, agency: str | None) -> tuple[str, str | None]:
    """Leaders and platform admins see every scope; other officials only their own agency."""
    if principal.has_role("leader"):
        return group_by, agency
    if principal.has_role("official", "agency_admin") and principal.agency_code:
        if agency and agency != principal.agency_code:
            raise Forbidden("agency_not_readable", "You may not read dossiers of agency {code}", code=agency)
        return "agency", principal.agency_code
    raise Forbidden("role_required", "This needs one of the roles: {roles}", roles="leader, official")


@router.get(f"{P}/index766", operation_id="index766")
def get_index(
    session: SessionDep,
    principal: CurrentPrincipal,
    period: Period,
    group_by: Group = "province",
    agency: Annotated[str | None, Query(max_length=32)] = None,
    commune: Annotated[str | None, Query(pattern=r"^\d{5}$")] = None,
) -> dict[str, Any]:
    group_by, agency = scope_for(principal, group_by, agency)
    results = index766.compute(session, period, group_by, agency, commune)
    return {
        "period": period,
        "group_by": group_by,
        "items": results,
        "indicators": [i.__dict__ for i in index766.INDICATORS],
    }


@router.get(f"{P}/index766/trace", operation_id="index766_trace")
def trace(
    session: SessionDep,
    principal: CurrentPrincipal,
    period: Period,
    indicator: Annotated[str, Query(max_length=8)],
    agency: Annotated[str | None, Query(max_length=32)] = None,
    commune: Annotated[str | None, Query(pattern=r"^\d{5}$")] = None,
) -> dict[str, Any]:
    _, agency = scope_for(principal, "agency" if agency else "province", agency)
    out = index766.trace(session, period, indicator, agency, commune)
    audit.record(
        session,
        "procedures.index766.trace",
        object_type="index766",
        object_id=indicator,
        detail={"period": period, "agency": agency, "commune": commune},
    )
    return out


@router.get(f"{P}/index766.xlsx", operation_id="index766_xlsx")
def export_xlsx(
    session: SessionDep, principal: CurrentPrincipal, period: Period, group_by: Group = "agency"
) -> Response:
    group_by, agency = scope_for(principal, group_by, None)
    data = index766.to_xlsx(index766.compute(session, period, group_by, agency))
    return Response(
        data,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="chi-so-766-{period}.xlsx"'},
    )


@router.get(f"{P}/sync/report", operation_id="sync_report")
def sync_report(session: SessionDep, principal: CurrentPrincipal, period: Period) -> dict[str, Any]:
    if not principal.has_role("leader", "agency_admin"):
        raise Forbidden("role_required", "This needs one of the roles: {roles}", roles="leader, agency_admin")
    since, until = index766.period_bounds(period)
    # Leaders (and platform admins) see the province; an agency's administrator sees the agency's dossiers.
    agency = None if principal.has_role("leader") else principal.agency_code
    return sync.reconciliation(session, since, until, agency)


# ---- measures for the KPI engine (governance) ----------------------------------------------------------------
def _scoped(stmt: Any, since: datetime, until: datetime, agency_code: str | None) -> Any:
    stmt = stmt.where(Dossier.received_at >= since, Dossier.received_at < until)
    return stmt.where(Dossier.agency_code == agency_code) if agency_code else stmt


def on_time_rate(session: Session, since: datetime, until: datetime, agency_code: str | None) -> float | None:
    done = _scoped(select(func.count()).select_from(Dossier), since, until, agency_code).where(
        Dossier.finished_at.is_not(None)
    )
    total = session.scalar(done) or 0
    if total == 0:
        return None
    late = session.scalar(done.where(Dossier.overdue.is_(True))) or 0
    return round(100 * (total - late) / total, 2)


def online_rate(session: Session, since: datetime, until: datetime, agency_code: str | None) -> float | None:
    base = _scoped(select(func.count()).select_from(Dossier), since, until, agency_code)
    total = session.scalar(base) or 0
    if total == 0:
        return None
    return round(100 * (session.scalar(base.where(Dossier.channel == 2)) or 0) / total, 2)


def satisfaction(session: Session, since: datetime, until: datetime, agency_code: str | None) -> float | None:
    stmt = _scoped(select(func.avg(Dossier.rating)), since, until, agency_code).where(
        Dossier.rating.is_not(None)
    )
    avg = session.scalar(stmt)
    return None if avg is None else round(float(avg) / 5 * 100, 2)
