"""Governance API: the systems registry and its compliance reports, the roadmap, KPIs and the IOC's data."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Header, Query, Response, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from tinhso.governance import documents, evidence, kpi, readmodels, report, service
from tinhso.governance.models import KpiDefinition
from tinhso.governance.roadmap import local_today
from tinhso.governance.schemas import (
    AgencyReport,
    AlertRead,
    CommuneMap,
    EvidenceFileRead,
    KpiPoint,
    KpiRead,
    KpiRunRead,
    KpiSeries,
    ProgressCreate,
    ProgressRead,
    RuleRead,
    SystemCreate,
    SystemRead,
    SystemReport,
    SystemUpdate,
    TaskRead,
)
from tinhso.identity.auth import CurrentPrincipal
from tinhso.kit import audit
from tinhso.kit.db import utcnow
from tinhso.kit.deps import SessionDep
from tinhso.kit.errors import Forbidden, NotFound
from tinhso.kit.events import publish
from tinhso.kit.pagination import Page, PageDep, paginate
from tinhso.kit.text import fold

router = APIRouter(prefix="/api/v1", tags=["governance"])
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=64)]


@router.get("/governance/rules", operation_id="governance_rules", response_model=list[RuleRead])
def list_rules(session: SessionDep, principal: CurrentPrincipal) -> list[RuleRead]:
    """The compliance rules, each with the decision's section and words."""
    service.require_reader(principal)
    return readmodels.rule_reads()


@router.get("/governance/systems", operation_id="governance_list_systems", response_model=Page[SystemRead])
def list_systems(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    agency_code: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[str | None, Query(pattern="^(planned|building|live|retired)$")] = None,
    layer: Annotated[str | None, Query(pattern="^(infrastructure|data|application|channel)$")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Accent-insensitive search")] = None,
):
    stmt = service.systems_statement(session, principal, agency_code, status, layer, q)
    rows, total = paginate(session, stmt, page)
    return Page(
        items=[SystemRead.model_validate(r) for r in rows],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )


@router.post(
    "/governance/systems",
    operation_id="governance_register_system",
    response_model=SystemReport,
    status_code=201,
)
def register_system(session: SessionDep, principal: CurrentPrincipal, data: SystemCreate) -> SystemReport:
    """Register an information system of the caller's agency; the compliance rules run at once."""
    system = service.create_system(session, principal, data)
    return readmodels.system_report(system, service.results_of(session, [system.id])[system.id])


@router.get(
    "/governance/systems/{system_id}", operation_id="governance_get_system", response_model=SystemRead
)
def get_system(session: SessionDep, principal: CurrentPrincipal, system_id: str) -> SystemRead:
    return SystemRead.model_validate(service.get_system(session, principal, system_id))


@router.patch(
    "/governance/systems/{system_id}", operation_id="governance_update_system", response_model=SystemReport
)
def update_system(
    session: SessionDep, principal: CurrentPrincipal, system_id: str, data: SystemUpdate
) -> SystemReport:
    system = service.update_system(session, principal, system_id, data)
    return readmodels.system_report(system, service.results_of(session, [system.id])[system.id])


@router.get(
    "/governance/systems/{system_id}/compliance",
    operation_id="governance_system_compliance",
    response_model=SystemReport,
)
def system_compliance(session: SessionDep, principal: CurrentPrincipal, system_id: str) -> SystemReport:
    system = service.get_system(session, principal, system_id)
    return readmodels.system_report(system, service.results_of(session, [system.id])[system.id])


@router.post(
    "/governance/systems/{system_id}/compliance",
    operation_id="governance_recheck_system",
    response_model=SystemReport,
)
def recheck_system(session: SessionDep, principal: CurrentPrincipal, system_id: str) -> SystemReport:
    """Re-run the rules now (they also run on every change and nightly)."""
    system = service.recheck(session, principal, system_id)
    return readmodels.system_report(system, service.results_of(session, [system.id])[system.id])


@router.get(
    "/governance/agencies/{agency_code}/compliance",
    operation_id="governance_agency_compliance",
    response_model=AgencyReport,
)
def agency_compliance(session: SessionDep, principal: CurrentPrincipal, agency_code: str) -> AgencyReport:
    scope = service.readable(session, principal)
    if scope is not None and agency_code not in scope:
        raise NotFound("agency_not_found", "Agency {code} not found", code=agency_code)
    systems = list(session.scalars(service.systems_statement(session, principal, agency_code)))
    results = service.results_of(session, [s.id for s in systems])
    return readmodels.agency_report(
        agency_code, [readmodels.system_report(s, results[s.id]) for s in systems]
    )


@router.get("/governance/tasks", operation_id="governance_list_tasks", response_model=Page[TaskRead])
def list_tasks(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    agency_code: Annotated[str | None, Query(max_length=32)] = None,
    role: Annotated[str | None, Query(pattern="^(lead|coordinating)$")] = None,
    status: Annotated[str | None, Query(pattern="^(not_started|in_progress|done|blocked)$")] = None,
    late: bool | None = None,
    section: Annotated[str | None, Query(max_length=16, pattern=r"^[IVX]+(\.\d+)*$")] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
):
    rows = service.tasks(session, principal, agency_code, role, status, late, section, q)
    chunk = rows[page.offset : page.offset + page.page_size]
    now = utcnow()
    return Page(
        items=[readmodels.task_read(t, now) for t in chunk],
        total=len(rows),
        page=page.page,
        page_size=page.page_size,
    )


@router.get("/governance/tasks/{task_id}", operation_id="governance_get_task", response_model=TaskRead)
def get_task(session: SessionDep, principal: CurrentPrincipal, task_id: str) -> TaskRead:
    """A task by id or by its code in the decision (e.g. IV.2.24)."""
    return readmodels.task_read(service.get_task(session, principal, task_id))


@router.get(
    "/governance/tasks/{task_id}/progress",
    operation_id="governance_task_history",
    response_model=list[ProgressRead],
)
def task_history(session: SessionDep, principal: CurrentPrincipal, task_id: str) -> list[ProgressRead]:
    task = service.get_task(session, principal, task_id)
    return [ProgressRead.model_validate(p) for p in service.progress_of(session, task.id)]


@router.post(
    "/governance/tasks/{task_id}/progress",
    operation_id="governance_report_progress",
    response_model=ProgressRead,
    status_code=201,
    responses={200: {"description": "A retry with the same Idempotency-Key: the first report"}},
)
def report_progress(
    session: SessionDep,
    principal: CurrentPrincipal,
    task_id: str,
    data: ProgressCreate,
    idempotency_key: IdemKey = None,
):
    """Report progress on a task your agency leads or coordinates (status, percent, comment, evidence)."""
    entry, created = service.report_progress(session, principal, task_id, data, idempotency_key)
    body = ProgressRead.model_validate(entry)
    return JSONResponse(body.model_dump(mode="json"), status_code=201 if created else 200)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Lang = Annotated[str, Query(pattern="^(vi|en)$")]


def _download(data: bytes, media_type: str, filename: str) -> Response:
    plain = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in fold(filename))
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "private, no-store",
        },
    )


@router.post(
    "/governance/tasks/{task_id}/evidence",
    operation_id="governance_upload_evidence",
    response_model=EvidenceFileRead,
    status_code=201,
    summary="Upload an evidence file (PDF, DOCX, XLSX, ODT, ODS, PNG, JPEG; at most 8 MB) for a task",
)
async def upload_evidence(
    session: SessionDep,
    principal: CurrentPrincipal,
    task_id: str,
    file: Annotated[UploadFile, File(description="The evidence file")],
    title: Annotated[str, Form(max_length=255)] = "",
) -> EvidenceFileRead:
    """Keep a file for a task your agency leads or coordinates; name its id in the next progress report."""
    data = await file.read(evidence.MAX_BYTES + 1)
    entry = await run_in_threadpool(
        service.upload_evidence, session, principal, task_id, title, file.filename or "", data
    )
    return EvidenceFileRead.model_validate(entry)


@router.get(
    "/governance/evidence/{file_id}",
    operation_id="governance_download_evidence",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_evidence(session: SessionDep, principal: CurrentPrincipal, file_id: str) -> Response:
    """An evidence file (its agency, leaders and platform administrators); the SHA-256 is in the ETag."""
    f = evidence.readable_file(session, principal, file_id)
    response = _download(f.content, f.content_type, f.filename)
    response.headers["ETag"] = f'"{f.sha256}"'
    return response


@router.get(
    "/governance/roadmap/report.{fmt}",
    operation_id="governance_roadmap_report",
    response_class=Response,
    responses={200: {"content": {XLSX: {}, documents.MEDIA_TYPES["docx"]: {}, "application/pdf": {}}}},
)
def roadmap_report(
    session: SessionDep,
    principal: CurrentPrincipal,
    fmt: Literal["xlsx", "docx", "pdf"],
    year: Annotated[int | None, Query(ge=2025, le=2035)] = None,
    lang: Lang = "vi",
) -> Response:
    """The annual report of the roadmap: an Excel workbook, a Word document or a PDF."""
    service.require_roadmap_reader(principal)
    today = local_today(utcnow())
    year = year or today.year
    rep = report.annual_report(session, year, today)
    if fmt == "xlsx":
        data, media_type = report.annual_xlsx(rep, lang), XLSX
    else:
        title, blocks = documents.annual_blocks(rep, lang)
        data, media_type = documents.render(title, blocks, fmt, landscape=True), documents.MEDIA_TYPES[fmt]
    audit.record(session, "governance.roadmap.report", object_type="governance_report", object_id=str(year))
    return _download(data, media_type, f"lo-trinh-4520-{year}.{fmt}")


@router.get(
    "/kpis/report.{fmt}",
    operation_id="kpi_monthly_report",
    response_class=Response,
    responses={200: {"content": {documents.MEDIA_TYPES["docx"]: {}, "application/pdf": {}}}},
)
def kpi_monthly_report(
    session: SessionDep,
    principal: CurrentPrincipal,
    fmt: Literal["docx", "pdf"],
    month: Annotated[str | None, Query(pattern=r"^20\d\d-(0[1-9]|1[0-2])$")] = None,
    lang: Lang = "vi",
) -> Response:
    """The monthly KPI report to the province's leaders, with a chart per group (month YYYY-MM, default now)."""
    service.require_reader(principal)
    year, mon = report.month_of(month)
    title, blocks = documents.monthly_blocks(report.monthly_report(session, year, mon, lang))
    audit.record(
        session, "governance.kpi.report", object_type="governance_report", object_id=f"{year}-{mon:02d}"
    )
    return _download(
        documents.render(title, blocks, fmt), documents.MEDIA_TYPES[fmt], f"kpi-{year}-{mon:02d}.{fmt}"
    )


@router.get("/kpis", operation_id="list_kpis", response_model=list[KpiRead])
def list_kpis(
    session: SessionDep,
    principal: CurrentPrincipal,
    group: Annotated[
        str | None, Query(pattern="^(architecture|integration|operations|security|results)$")
    ] = None,
    lang: Annotated[str, Query(pattern="^(vi|en)$")] = "vi",
) -> list[KpiRead]:
    """Every KPI with its latest value, status (computed, not measured, failed) and target status."""
    service.require_reader(principal)
    return readmodels.kpi_reads(session, lang, group)


@router.get("/kpis/export.csv", operation_id="export_kpis", response_class=Response)
def export_kpis(
    session: SessionDep, principal: CurrentPrincipal, lang: Annotated[str, Query(pattern="^(vi|en)$")] = "vi"
) -> Response:
    service.require_reader(principal)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "code",
            "group",
            "name",
            "unit",
            "direction",
            "target",
            "value",
            "status",
            "reason",
            "period_start",
            "period_end",
        ]
    )
    for k in readmodels.kpi_reads(session, lang):
        writer.writerow(
            [
                k.code,
                k.group,
                k.name,
                k.unit,
                k.direction,
                k.target,
                k.value,
                k.status,
                k.reason or "",
                k.period_start.isoformat() if k.period_start else "",
                k.period_end.isoformat() if k.period_end else "",
            ]
        )
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="kpi.csv"'},
    )


@router.get("/kpis/{code}/series", operation_id="kpi_series", response_model=KpiSeries)
def kpi_series(
    session: SessionDep,
    principal: CurrentPrincipal,
    code: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 90,
) -> KpiSeries:
    service.require_reader(principal)
    definition = session.get(KpiDefinition, code)
    if definition is None:
        raise NotFound("kpi_not_found", "KPI {code} not found", code=code)
    points = [
        KpiPoint(
            period_start=v.period_start,
            period_end=v.period_end,
            value=v.value,
            status=v.status,
            reason=v.reason,
            provenance=v.provenance or {},
        )
        for v in kpi.series(session, code, limit)
    ]
    return KpiSeries(code=code, unit=definition.unit, points=points)


@router.post("/kpis/run", operation_id="run_kpis", response_model=KpiRunRead, status_code=201)
def run_kpis(session: SessionDep, principal: CurrentPrincipal) -> KpiRunRead:
    """Compute every KPI now (platform administrators)."""
    if not principal.is_platform_admin:
        raise Forbidden("role_required", "This needs one of the roles: {roles}", roles="platform_admin")
    run = kpi.run(session, trigger="api")
    audit.record(session, "governance.kpi.run", object_type="governance_kpi_run", object_id=run.id)
    publish(
        session,
        "governance.kpi.computed",
        {"run_id": run.id, "computed": run.computed, "not_measured": run.not_measured, "failed": run.failed},
        key="kpi",
    )
    return KpiRunRead.model_validate(run)


@router.get("/ioc/measures", operation_id="ioc_measures", response_model=list[str])
def ioc_measures(session: SessionDep, principal: CurrentPrincipal) -> list[str]:
    """The measures the platform can show (every module's `measures`)."""
    service.require_reader(principal)
    return readmodels.measure_ids()


@router.get("/ioc/communes", operation_id="ioc_communes", response_model=CommuneMap)
def ioc_communes(
    session: SessionDep,
    principal: CurrentPrincipal,
    measure: Annotated[str, Query(max_length=128)] = "governance.alerts",
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> CommuneMap:
    """A measure for each of the 130 communes, for the IOC's map."""
    service.require_reader(principal)
    return readmodels.commune_map(session, measure, days)


@router.get("/ioc/alerts", operation_id="ioc_alerts", response_model=list[AlertRead])
def ioc_alerts(
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    agency_code: Annotated[str | None, Query(max_length=32)] = None,
    commune_code: Annotated[str | None, Query(max_length=5, pattern=r"^\d{5}$")] = None,
) -> list[AlertRead]:
    service.require_reader(principal)
    return [
        AlertRead.model_validate(a) for a in service.recent_alerts(session, limit, agency_code, commune_code)
    ]


def _today() -> date:
    return local_today(utcnow())
