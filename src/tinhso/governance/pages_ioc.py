"""IOC pages: the province at a glance, drill-down to an agency or a commune, the monthly KPI report, live alerts.

The IOC page renders from the stored KPI values only (one indexed read per KPI); the sparklines, the commune map
and new alerts are loaded after the page is shown (`/ioc/sparklines`, `/api/v1/ioc/communes`, the SSE stream).
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.governance import kpi, readmodels, report, service
from tinhso.governance.models import Alert
from tinhso.governance.pagekit import by_group, found, html_errors, reader
from tinhso.identity.auth import OptionalPrincipal
from tinhso.identity.models import Agency
from tinhso.identity.principal import Principal
from tinhso.kit.db import utcnow
from tinhso.kit.deps import SessionDep
from tinhso.kit.i18n import gettext
from tinhso.reference.models import Commune
from tinhso.web.templating import language_of, render, templates

router = APIRouter(include_in_schema=False)
DEFAULT_MEASURE = "governance.alerts"
SPARK_POINTS = 30
STREAM_SECONDS = 25.0  # the browser reconnects after each stream ends
STREAM_POLL_SECONDS = 1.0


@router.get("/ioc", response_class=HTMLResponse)
@html_errors
def ioc_page(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    measure: Annotated[str, Query(max_length=128)] = DEFAULT_MEASURE,
) -> Response:
    reader(principal)
    lang = language_of(request)
    measures = readmodels.measure_ids()
    context = {
        "groups": by_group(readmodels.kpi_reads(session, lang), lambda k: k.group, lang),
        "measures": measures,
        "measure": measure if measure in measures else DEFAULT_MEASURE,
        "alerts": service.recent_alerts(session, 15),
    }
    return render(request, "governance/ioc.html", context)


@router.get("/ioc/sparklines")
@html_errors
def ioc_sparklines(request: Request, session: SessionDep, principal: OptionalPrincipal) -> Response:
    """The last stored values of every KPI, oldest first: {code: [value, ...]} (loaded after the page)."""
    reader(principal)
    history = kpi.recent_values(session, SPARK_POINTS)
    body = {code: [v.value for v in values] for code, values in history.items()}
    return JSONResponse(body, headers={"Cache-Control": "private, max-age=60"})


@router.get("/ioc/alerts", response_class=HTMLResponse)
@html_errors
def ioc_alerts_fragment(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    agency_code: Annotated[str | None, Query(max_length=32)] = None,
    commune_code: Annotated[str | None, Query(max_length=5)] = None,
) -> Response:
    reader(principal)
    alerts = service.recent_alerts(session, 15, agency_code or None, commune_code or None)
    return render(request, "governance/_alerts.html", {"alerts": alerts})


def _drill(  # noqa: PLR0913
    request: Request,
    session: Session,
    who: Principal,
    title: str,
    agency: Agency | None,
    commune: Commune | None,
) -> HTMLResponse:
    """A unit's page: KPIs computed for its agency, its systems (when readable), the tasks it leads, its alerts."""
    code = agency.code if agency else None
    scope = service.readable(session, who)
    systems = (
        list(session.scalars(service.systems_statement(session, who, code)))
        if code and commune is None and (scope is None or code in scope)
        else []
    )
    kpis = readmodels.kpi_reads_for_agency(session, code, language_of(request)) if code else []
    context = {
        "title": title,
        "agency": agency,
        "commune": commune,
        "kpis": [k for k in kpis if k.status == "computed"],
        "systems": systems,
        "tasks": [readmodels.task_read(t) for t in service.tasks(session, who, code, "lead")] if code else [],
        "alerts": service.recent_alerts(
            session, 15, None if commune else code, commune.code if commune else None
        ),
    }
    return render(request, "governance/ioc_drill.html", context)


@router.get("/ioc/agency/{agency_code}", response_class=HTMLResponse)
@html_errors
def ioc_agency(
    request: Request, session: SessionDep, principal: OptionalPrincipal, agency_code: str
) -> Response:
    who = reader(principal)
    agency = found(session, Agency, agency_code, "agency_not_found", "Agency {code} not found")
    return _drill(request, session, who, agency.name, agency, None)


@router.get("/ioc/commune/{commune_code}", response_class=HTMLResponse)
@html_errors
def ioc_commune(
    request: Request, session: SessionDep, principal: OptionalPrincipal, commune_code: str
) -> Response:
    who = reader(principal)
    commune = found(session, Commune, commune_code, "commune_not_found", "Commune {code} not found")
    agency = session.scalar(select(Agency).where(Agency.commune_code == commune_code))
    return _drill(request, session, who, commune.name, agency, commune)


@router.get("/ioc/report", response_class=HTMLResponse)
@html_errors
def kpi_month_report(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    month: Annotated[str | None, Query(pattern=r"^20\d\d-(0[1-9]|1[0-2])$")] = None,
) -> Response:
    """The monthly KPI report to the province's leaders: every KPI with its month's values and charts by group."""
    reader(principal)
    year, mon = report.month_of(month)
    rep = report.monthly_report(session, year, mon, language_of(request))
    charts = {
        g.code: [
            {
                "name": i.name,
                "data": [[at.astimezone(kpi.TZ).strftime("%d/%m %H:%M"), v] for at, v in i.series],
            }
            for i in g.items
            if i.series and i.definition.unit == "%"
        ]
        for g in rep.groups
    }
    context = {"rep": rep, "month_value": f"{year}-{mon:02d}", "charts": json.dumps(charts)}
    return render(request, "governance/kpi_report.html", context)


def _stream_principal(request: Request) -> Principal | None:
    """The signed-in person of a browser stream, read in its own short transaction (EventSource sends cookies only).

    The stream must not hold the request's transaction open (on SQLite that would hold the write lock).
    """
    from tinhso.identity import repository as identity_repo
    from tinhso.identity.auth import web_session_of
    from tinhso.identity.service import principal_for_person

    db = request.app.state.db
    with db.transaction() as session:
        web = web_session_of(session, request)
        person = identity_repo.get_person(session, web.person_id) if web else None
        if person is None or not person.active:
            return None
        return principal_for_person(session, person)


@router.get("/ioc/alerts/stream")
@html_errors
async def ioc_alerts_stream(request: Request) -> Response:
    """Server-sent events: each new alert as an HTML list item, as it arrives (the page prepends it)."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import StreamingResponse

    principal = await run_in_threadpool(_stream_principal, request)
    reader(principal)
    lang = language_of(request)
    db = request.app.state.db
    since = utcnow()

    def fetch(after: datetime) -> list[tuple[datetime, str]]:
        with db.transaction(write=False) as session:
            rows = list(
                session.scalars(
                    select(Alert).where(Alert.received_at > after).order_by(Alert.received_at).limit(50)
                )
            )
            out = []
            for alert in rows:
                html = templates.env.get_template("governance/_alerts.html").render(
                    alerts=[alert], _=lambda m, **p: gettext(m, lang, **p), lang=lang
                )
                out.append((alert.received_at, " ".join(html.split())))
            return out

    async def events():  # noqa: ANN202
        after = since
        yield "retry: 2000\n\n"
        deadline = asyncio.get_running_loop().time() + STREAM_SECONDS
        while asyncio.get_running_loop().time() < deadline:
            if await request.is_disconnected():
                return
            for at, html in await run_in_threadpool(fetch, after):
                after = max(after, at)
                yield f"event: alert\ndata: {html}\n\n"
            await asyncio.sleep(STREAM_POLL_SECONDS)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
