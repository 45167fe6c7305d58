"""Procedures API: the working-day calendar (holidays and make-up days) and due-date computation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy import select

from tinhso.identity.auth import CurrentPrincipal
from tinhso.identity.principal import Principal
from tinhso.kit import audit
from tinhso.kit.deps import ReadSessionDep, SessionDep
from tinhso.kit.errors import Forbidden, NotFound, Unprocessable
from tinhso.procedures.calendar import WorkCalendar
from tinhso.procedures.models import CalendarDay
from tinhso.procedures.schemas import CalendarDayIn, CalendarDayRead

router = APIRouter(tags=["procedures"])
P = "/api/v1/procedures"


# ---- working-day calendar ------------------------------------------------------------------------------
def _calendar_admin(p: Principal) -> None:
    if not (p.is_platform_admin or (p.has_role("agency_admin") and p.agency_code == "000.00.01.H41")):
        raise Forbidden("calendar_admin_only", "Only the provincial office administers the working calendar")


@router.get(f"{P}/calendar", operation_id="list_calendar_days", response_model=list[CalendarDayRead])
def list_calendar_days(session: ReadSessionDep):
    return list(session.scalars(select(CalendarDay).order_by(CalendarDay.day)))


@router.put(f"{P}/calendar", operation_id="put_calendar_day", response_model=CalendarDayRead)
def put_calendar_day(body: CalendarDayIn, session: SessionDep, principal: CurrentPrincipal):
    _calendar_admin(principal)
    row = session.get(CalendarDay, body.day) or CalendarDay(day=body.day)
    row.kind, row.note = body.kind, body.note
    session.add(row)
    session.flush()
    audit.record(
        session,
        "procedures.calendar.set",
        object_type="calendar_day",
        object_id=body.day.isoformat(),
        detail={"kind": body.kind},
    )
    return row


@router.delete(f"{P}/calendar/{{day}}", operation_id="delete_calendar_day", status_code=204)
def delete_calendar_day(day: str, session: SessionDep, principal: CurrentPrincipal) -> Response:
    _calendar_admin(principal)
    from datetime import date

    try:
        d = date.fromisoformat(day)
    except ValueError as exc:
        raise Unprocessable("bad_date", "Dates look like 2026-09-01") from exc
    row = session.get(CalendarDay, d)
    if row is None:
        raise NotFound("calendar_day_not_found", "No exception is recorded for {day}", day=day)
    session.delete(row)
    audit.record(session, "procedures.calendar.delete", object_type="calendar_day", object_id=day)
    return Response(status_code=204)


@router.get(f"{P}/calendar/due", operation_id="compute_due_date")
def compute_due(
    session: ReadSessionDep,
    received_at: Annotated[str, Query(description="ISO 8601 timestamp")],
    value: Annotated[int, Query(ge=0, le=365)],
    unit: Annotated[str, Query(pattern="^(working_days|working_hours)$")] = "working_days",
) -> dict[str, str]:
    from datetime import datetime

    try:
        at = datetime.fromisoformat(received_at)
    except ValueError as exc:
        raise Unprocessable("bad_date", "Dates look like 2026-09-01") from exc
    if at.tzinfo is None:
        from tinhso.procedures.calendar import TZ

        at = at.replace(tzinfo=TZ)
    return {"due_at": WorkCalendar.load(session).due_after(at, value, unit).isoformat()}
