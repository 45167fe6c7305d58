"""Governance pages: the registry and compliance reports, the roadmap and its annual report, and the IOC."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from tinhso.governance import kpi, readmodels, report, service
from tinhso.governance.compliance import RULES
from tinhso.governance.kpi import GROUPS
from tinhso.governance.models import Alert, KpiDefinition, KpiValue
from tinhso.governance.roadmap import agency_roles, local_today
from tinhso.governance.schemas import ProgressCreate, SystemCreate, SystemRead, SystemUpdate
from tinhso.identity.auth import OptionalPrincipal
from tinhso.identity.models import Agency
from tinhso.identity.principal import Principal
from tinhso.kit.db import utcnow
from tinhso.kit.deps import SessionDep
from tinhso.kit.errors import DomainError, Forbidden, NotFound, Unauthorized
from tinhso.kit.i18n import gettext
from tinhso.reference.models import Commune
from tinhso.web.templating import language_of, render, templates

router = APIRouter(include_in_schema=False)
DEFAULT_MEASURE = "governance.alerts"
STREAM_SECONDS = 25.0  # the browser reconnects after each stream ends
STREAM_POLL_SECONDS = 1.0


def _error(request: Request, exc: DomainError) -> HTMLResponse:
    lang = language_of(request)
    return render(
        request,
        "governance/error.html",
        {"status": exc.status, "code": exc.code, "message": gettext(exc.message, lang, **exc.params)},
        status_code=exc.status,
    )


def _who(principal: Principal | None) -> Principal:
    if principal is None:
        raise Unauthorized("sign_in_required", "Sign in to see this page")
    service.require_reader(principal)
    return principal


def _agency_names(session) -> dict[str, str]:  # noqa: ANN001
    return dict(session.execute(select(Agency.code, Agency.name)).tuples().all())


@router.get("/governance", response_class=HTMLResponse)
def governance_home() -> Response:
    return RedirectResponse("/governance/systems", status_code=303)


@router.get("/governance/systems", response_class=HTMLResponse)
def systems_page(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    agency_code: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    try:
        who = _who(principal)
        status = status if status in ("planned", "building", "live", "retired") else None
        systems = list(
            session.scalars(service.systems_statement(session, who, agency_code or None, status, None, q))
        )
    except DomainError as exc:
        return _error(request, exc)
    names = _agency_names(session)
    by_agency = Counter(s.agency_code for s in systems)
    return render(
        request,
        "governance/systems.html",
        {
            "systems": systems,
            "names": names,
            "by_agency": by_agency,
            "agency_code": agency_code or "",
            "status": status or "",
            "q": q or "",
        },
    )


# --- registering and editing a system -------------------------------------------------------------

_LIST_FIELDS = ("entities_mastered", "services_consumed")
_CHOICE_LISTS = ("national_platforms", "monitoring")
_BOOLS = ("security_approved", "sectoral_software", "holds_important_data", "reports_operational_data")


def _form_values(form: Any) -> dict[str, Any]:
    """Turn the HTML form into the API's shape (lists from lines, booleans from checkboxes)."""
    values: dict[str, Any] = {}
    for key in (
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
    ):
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


def _form_page(
    request: Request,
    session,
    who: Principal,
    values: dict[str, Any],
    errors: list[str],
    system_id: str | None,
    status_code: int = 200,
) -> HTMLResponse:  # noqa: ANN001, PLR0913
    from tinhso.governance.schemas import NationalPlatform

    agencies = (
        list(session.scalars(select(Agency).where(Agency.kind != "commune").order_by(Agency.code)))
        if who.is_platform_admin
        else []
    )
    return render(
        request,
        "governance/system_form.html",
        {
            "v": values,
            "errors": errors,
            "system_id": system_id,
            "agencies": agencies,
            "platforms": list(get_args(NationalPlatform)),
        },
        status_code=status_code,
    )


@router.get("/governance/systems/new", response_class=HTMLResponse)
def new_system_page(request: Request, session: SessionDep, principal: OptionalPrincipal) -> Response:
    try:
        who = _who(principal)
        if not (who.is_platform_admin or service.may_write(who, who.agency_code or "")):
            raise Forbidden("system_not_yours", "You may register systems only for your own agency")
    except DomainError as exc:
        return _error(request, exc)
    return _form_page(request, session, who, {"layer": "application", "status": "planned"}, [], None)


@router.get("/governance/systems/{system_id}/edit", response_class=HTMLResponse)
def edit_system_page(
    request: Request, session: SessionDep, principal: OptionalPrincipal, system_id: str
) -> Response:
    try:
        who = _who(principal)
        system = service.get_system(session, who, system_id)
        if not service.may_write(who, system.agency_code):
            raise Forbidden("system_not_yours", "You may change only your own agency's systems")
    except DomainError as exc:
        return _error(request, exc)
    values = SystemRead.model_validate(system).model_dump()
    return _form_page(request, session, who, values, [], system.id)


@router.post("/governance/systems/new", response_class=HTMLResponse)
@router.post("/governance/systems/{system_id}/edit", response_class=HTMLResponse)
async def save_system_page(
    request: Request, session: SessionDep, principal: OptionalPrincipal, system_id: str | None = None
) -> Response:
    form = await request.form()
    try:
        who = _who(principal)
    except DomainError as exc:
        return _error(request, exc)
    values = _form_values(form)
    try:
        if system_id is None:
            system = service.create_system(session, who, SystemCreate.model_validate(values))
        else:
            values.pop("code", None)
            values.pop("agency_code", None)
            values["version"] = int(str(form.get("version") or "0") or 0)
            system = service.update_system(session, who, system_id, SystemUpdate.model_validate(values))
    except ValidationError as exc:
        errors = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return _form_page(
            request, session, who, values | {"version": form.get("version")}, errors, system_id, 422
        )
    except DomainError as exc:
        if exc.status in (400, 409):
            message = gettext(exc.message, language_of(request), **exc.params)
            return _form_page(
                request,
                session,
                who,
                values | {"version": form.get("version")},
                [message],
                system_id,
                exc.status,
            )
        return _error(request, exc)
    return RedirectResponse(f"/governance/systems/{system.id}", status_code=303)


@router.get("/governance/systems/{system_id}", response_class=HTMLResponse)
def system_page(
    request: Request, session: SessionDep, principal: OptionalPrincipal, system_id: str
) -> Response:
    try:
        who = _who(principal)
        system = service.get_system(session, who, system_id)
    except DomainError as exc:
        return _error(request, exc)
    rep = readmodels.system_report(system, service.results_of(session, [system.id])[system.id])
    return render(
        request,
        "governance/system.html",
        {
            "rep": rep,
            "s": rep.system,
            "agency_name": _agency_names(session).get(system.agency_code, system.agency_code),
            "can_edit": service.may_write(who, system.agency_code),
        },
    )


@router.get("/governance/agencies/{agency_code}", response_class=HTMLResponse)
def agency_page(
    request: Request, session: SessionDep, principal: OptionalPrincipal, agency_code: str
) -> Response:
    try:
        who = _who(principal)
        agency = session.get(Agency, agency_code)
        scope = service.readable(session, who)
        if agency is None or (scope is not None and agency_code not in scope):
            raise NotFound("agency_not_found", "Agency {code} not found", code=agency_code)
    except DomainError as exc:
        return _error(request, exc)
    systems = list(session.scalars(service.systems_statement(session, who, agency_code)))
    results = service.results_of(session, [s.id for s in systems])
    rep = readmodels.agency_report(agency_code, [readmodels.system_report(s, results[s.id]) for s in systems])
    return render(request, "governance/agency.html", {"agency": agency, "rep": rep, "rules": RULES})


@router.get("/governance/roadmap", response_class=HTMLResponse)
def roadmap_page(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    agency_code: Annotated[str | None, Query(max_length=32)] = None,
    late: Annotated[str | None, Query(max_length=5)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    try:
        who = _who(principal)
        rows = service.tasks(
            session, who, agency_code or None, None, None, True if late == "1" else None, None, q
        )
    except DomainError as exc:
        return _error(request, exc)
    now = utcnow()
    tasks = [readmodels.task_read(t, now) for t in rows]
    agencies = list(session.scalars(select(Agency).where(Agency.kind != "commune").order_by(Agency.code)))
    return render(
        request,
        "governance/roadmap.html",
        {
            "tasks": tasks,
            "names": _agency_names(session),
            "agencies": agencies,
            "agency_code": agency_code or "",
            "late": late == "1",
            "q": q or "",
            "year": local_today(now).year,
            "late_count": sum(1 for t in tasks if t.late),
        },
    )


@router.get("/governance/roadmap/report", response_class=HTMLResponse)
def roadmap_report_page(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    year: Annotated[int | None, Query(ge=2025, le=2035)] = None,
) -> Response:
    try:
        _who(principal)
    except DomainError as exc:
        return _error(request, exc)
    today = local_today(utcnow())
    rep = report.annual_report(session, year or today.year, today)
    return render(request, "governance/report.html", {"rep": rep, "totals": rep.totals})


@router.get("/governance/roadmap/{code}", response_class=HTMLResponse)
def task_page(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    code: str,
    saved: Annotated[str | None, Query(max_length=1)] = None,
) -> Response:
    try:
        who = _who(principal)
        task = service.get_task(session, who, code)
    except DomainError as exc:
        return _error(request, exc)
    agency = session.get(Agency, who.agency_code) if who.agency_code else None
    can_report = who.is_platform_admin or (
        bool(agency_roles(task, agency)) and service.may_write(who, who.agency_code or "")
    )
    return render(
        request,
        "governance/task.html",
        {
            "t": readmodels.task_read(task),
            "history": service.progress_of(session, task.id),
            "names": _agency_names(session),
            "can_report": can_report,
            "saved": saved == "1",
            "errors": [],
        },
    )


@router.post("/governance/roadmap/{code}/progress", response_class=HTMLResponse)
def task_progress_form(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    code: str,
    status: Annotated[str, Form(max_length=16)],
    percent: Annotated[int, Form(ge=0, le=100)],
    comment: Annotated[str, Form(max_length=4000)] = "",
    evidence_title: Annotated[str, Form(max_length=255)] = "",
    evidence_url: Annotated[str, Form(max_length=1000)] = "",
    form_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    try:
        who = _who(principal)
        task = service.get_task(session, who, code)
    except DomainError as exc:
        return _error(request, exc)
    evidence = [{"title": evidence_title, "url": evidence_url or None}] if evidence_title else []
    try:
        data = ProgressCreate.model_validate(
            {"status": status, "percent": percent, "comment": comment, "evidence": evidence}
        )
    except ValidationError as exc:
        errors = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        context = {
            "t": readmodels.task_read(task),
            "history": service.progress_of(session, task.id),
            "names": _agency_names(session),
            "can_report": True,
            "saved": False,
            "errors": errors,
        }
        return render(request, "governance/task.html", context, status_code=422)
    try:
        service.report_progress(session, who, task.id, data, form_id or None)
    except DomainError as exc:
        return _error(request, exc)
    return RedirectResponse(f"/governance/roadmap/{task.code}?saved=1", status_code=303)


# --- IOC ------------------------------------------------------------------------------------------


def _cards(session, lang: str) -> list[dict[str, Any]]:  # noqa: ANN001
    groups: list[dict[str, Any]] = []
    reads = readmodels.kpi_reads(session, lang)
    history = kpi.recent_values(session, 30)
    for code, (vi, en) in GROUPS.items():
        items = []
        for k in reads:
            if k.group != code:
                continue
            points = [p.value for p in history.get(k.code, [])]
            items.append({"k": k, "spark": json.dumps(points)})
        groups.append({"code": code, "name": vi if lang == "vi" else en, "items": items})
    return groups


@router.get("/ioc", response_class=HTMLResponse)
def ioc_page(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    measure: Annotated[str, Query(max_length=128)] = DEFAULT_MEASURE,
) -> Response:
    try:
        _who(principal)
    except DomainError as exc:
        return _error(request, exc)
    lang = language_of(request)
    measures = readmodels.measure_ids()
    if measure not in measures:
        measure = DEFAULT_MEASURE
    return render(
        request,
        "governance/ioc.html",
        {
            "groups": _cards(session, lang),
            "measures": measures,
            "measure": measure,
            "alerts": service.recent_alerts(session, 15),
        },
    )


@router.get("/ioc/alerts", response_class=HTMLResponse)
def ioc_alerts_fragment(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    agency_code: Annotated[str | None, Query(max_length=32)] = None,
    commune_code: Annotated[str | None, Query(max_length=5)] = None,
) -> Response:
    try:
        _who(principal)
    except DomainError as exc:
        return _error(request, exc)
    alerts = service.recent_alerts(session, 15, agency_code or None, commune_code or None)
    return render(request, "governance/_alerts.html", {"alerts": alerts})


@router.get("/ioc/agency/{agency_code}", response_class=HTMLResponse)
def ioc_agency(
    request: Request, session: SessionDep, principal: OptionalPrincipal, agency_code: str
) -> Response:
    try:
        who = _who(principal)
        agency = session.get(Agency, agency_code)
        if agency is None:
            raise NotFound("agency_not_found", "Agency {code} not found", code=agency_code)
    except DomainError as exc:
        return _error(request, exc)
    lang = language_of(request)
    scope = service.readable(session, who)
    systems = (
        list(session.scalars(service.systems_statement(session, who, agency_code)))
        if scope is None or agency_code in scope
        else []
    )
    tasks = [readmodels.task_read(t) for t in service.tasks(session, who, agency_code, "lead")]
    return render(
        request,
        "governance/ioc_drill.html",
        {
            "title": agency.name,
            "agency": agency,
            "commune": None,
            "kpis": [
                k
                for k in readmodels.kpi_reads_for_agency(session, agency_code, lang)
                if k.status == "computed"
            ],
            "systems": systems,
            "tasks": tasks,
            "alerts": service.recent_alerts(session, 15, agency_code),
        },
    )


@router.get("/ioc/commune/{commune_code}", response_class=HTMLResponse)
def ioc_commune(
    request: Request, session: SessionDep, principal: OptionalPrincipal, commune_code: str
) -> Response:
    try:
        who = _who(principal)
        commune = session.get(Commune, commune_code)
        if commune is None:
            raise NotFound("commune_not_found", "Commune {code} not found", code=commune_code)
    except DomainError as exc:
        return _error(request, exc)
    lang = language_of(request)
    agency = session.scalar(select(Agency).where(Agency.commune_code == commune_code))
    kpis = readmodels.kpi_reads_for_agency(session, agency.code, lang) if agency else []
    tasks = (
        [readmodels.task_read(t) for t in service.tasks(session, who, agency.code, "lead")] if agency else []
    )
    return render(
        request,
        "governance/ioc_drill.html",
        {
            "title": commune.name,
            "agency": agency,
            "commune": commune,
            "kpis": [k for k in kpis if k.status == "computed"],
            "systems": [],
            "tasks": tasks,
            "alerts": service.recent_alerts(session, 15, None, commune_code),
        },
    )


@router.get("/ioc/report", response_class=HTMLResponse)
def kpi_month_report(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    month: Annotated[str | None, Query(pattern=r"^20\d\d-(0[1-9]|1[0-2])$")] = None,
) -> Response:
    """The monthly KPI report to the province's leaders: every KPI with its month's values and charts by group."""
    try:
        _who(principal)
    except DomainError as exc:
        return _error(request, exc)
    lang = language_of(request)
    now = utcnow().astimezone(kpi.TZ)
    year, mon = (int(x) for x in (month or now.strftime("%Y-%m")).split("-"))
    start = datetime(year, mon, 1, tzinfo=kpi.TZ)
    end = (start + timedelta(days=32)).replace(day=1)
    rows = session.scalars(
        select(KpiValue)
        .where(KpiValue.period_end > start, KpiValue.period_end <= end)
        .order_by(KpiValue.kpi_code, KpiValue.period_end)
    )
    by_code: dict[str, list[KpiValue]] = {}
    for v in rows:
        by_code.setdefault(v.kpi_code, []).append(v)
    definitions = list(session.scalars(select(KpiDefinition).order_by(KpiDefinition.ordinal)))
    groups: list[dict[str, Any]] = []
    for code, (vi, en) in GROUPS.items():
        items: list[dict[str, Any]] = []
        for d in definitions:
            if d.group != code:
                continue
            values = by_code.get(d.code, [])
            last = next((v for v in reversed(values) if v.status == "computed"), None)
            items.append(
                {
                    "d": d,
                    "name": d.name_vi if lang == "vi" else d.name_en,
                    "last": last,
                    "status": values[-1].status if values else "not_computed",
                    "target_status": kpi.target_status(d, last.value if last else None),
                    "series": [
                        [v.period_end.astimezone(kpi.TZ).strftime("%d/%m %H:%M"), v.value]
                        for v in values
                        if v.value is not None
                    ],
                }
            )
        groups.append({"code": code, "name": vi if lang == "vi" else en, "items": items})
    return render(
        request,
        "governance/kpi_report.html",
        {
            "groups": groups,
            "month": f"{mon:02d}/{year}",
            "month_value": f"{year}-{mon:02d}",
            "charts": json.dumps(
                {
                    g["code"]: [
                        {"name": i["name"], "unit": i["d"].unit, "data": i["series"]}
                        for i in g["items"]
                        if i["series"] and i["d"].unit == "%"
                    ]
                    for g in groups
                }
            ),
        },
    )


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
async def ioc_alerts_stream(request: Request) -> Response:
    """Server-sent events: each new alert as an HTML list item, as it arrives (the page prepends it)."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import StreamingResponse

    principal = await run_in_threadpool(_stream_principal, request)
    try:
        _who(principal)
    except DomainError as exc:
        return _error(request, exc)
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
