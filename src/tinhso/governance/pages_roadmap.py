"""Roadmap pages: the 142 tasks, a task with its history and the progress form (with evidence files), the annual
report."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from tinhso.governance import evidence, readmodels, report, service
from tinhso.governance.models import RoadmapTask
from tinhso.governance.pagekit import (
    agency_names,
    departments,
    html_errors,
    message_of,
    reader,
    validation_messages,
)
from tinhso.governance.roadmap import agency_roles, local_today
from tinhso.governance.schemas import Evidence, ProgressCreate
from tinhso.identity.auth import OptionalPrincipal
from tinhso.identity.models import Agency
from tinhso.identity.principal import Principal
from tinhso.kit.db import utcnow
from tinhso.kit.deps import SessionDep
from tinhso.kit.errors import DomainError
from tinhso.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/governance/roadmap", response_class=HTMLResponse)
@html_errors
def roadmap_page(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    agency_code: Annotated[str | None, Query(max_length=32)] = None,
    late: Annotated[str | None, Query(max_length=5)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    who = reader(principal)
    only_late = True if late == "1" else None
    rows = service.tasks(session, who, agency_code or None, None, None, only_late, None, q)
    now = utcnow()
    tasks = [readmodels.task_read(t, now) for t in rows]
    context = {
        "tasks": tasks,
        "names": agency_names(session),
        "agencies": departments(session),
        "agency_code": agency_code or "",
        "late": late == "1",
        "q": q or "",
        "year": local_today(now).year,
        "late_count": sum(1 for t in tasks if t.late),
    }
    return render(request, "governance/roadmap.html", context)


@router.get("/governance/roadmap/report", response_class=HTMLResponse)
@html_errors
def roadmap_report_page(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    year: Annotated[int | None, Query(ge=2025, le=2035)] = None,
) -> Response:
    """The annual report on screen, with its DOCX, PDF and XLSX downloads."""
    reader(principal)
    today = local_today(utcnow())
    rep = report.annual_report(session, year or today.year, today)
    return render(request, "governance/report.html", {"rep": rep, "totals": rep.totals})


def _task_page(  # noqa: PLR0913
    request: Request,
    session: Session,
    who: Principal,
    task: RoadmapTask,
    saved: bool = False,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    agency = session.get(Agency, who.agency_code) if who.agency_code else None
    can_report = who.is_platform_admin or (
        bool(agency_roles(task, agency)) and service.may_write(who, who.agency_code or "")
    )
    context: dict[str, Any] = {
        "t": readmodels.task_read(task),
        "history": service.progress_of(session, task.id),
        "names": agency_names(session),
        "can_report": can_report,
        "saved": saved,
        "errors": errors or [],
        "max_mb": evidence.MAX_BYTES // 2**20,
        "accept": ",".join(evidence.TYPES),
    }
    return render(request, "governance/task.html", context, status_code=status_code)


@router.get("/governance/roadmap/{code}", response_class=HTMLResponse)
@html_errors
def task_page(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    code: str,
    saved: Annotated[str | None, Query(max_length=1)] = None,
) -> Response:
    who = reader(principal)
    task = service.get_task(session, who, code)
    return _task_page(request, session, who, task, saved=saved == "1")


@router.post("/governance/roadmap/{code}/progress", response_class=HTMLResponse)
@html_errors
def task_progress_form(  # noqa: PLR0913
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    code: str,
    status: Annotated[str, Form(max_length=16)],
    percent: Annotated[int, Form(ge=0, le=100)],
    comment: Annotated[str, Form(max_length=4000)] = "",
    evidence_title: Annotated[str, Form(max_length=255)] = "",
    evidence_url: Annotated[str, Form(max_length=1000)] = "",
    evidence_file: Annotated[UploadFile | None, File()] = None,
    form_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """The progress form: a report, optionally with a link or document number and one evidence file."""
    who = reader(principal)
    task = service.get_task(session, who, code)
    has_file = evidence_file is not None and bool(evidence_file.filename)
    items: list[dict[str, Any]] = []
    if evidence_url or (evidence_title and not has_file):
        items.append({"title": evidence_title or evidence_url, "url": evidence_url or None})
    try:
        data = ProgressCreate.model_validate(
            {"status": status, "percent": percent, "comment": comment, "evidence": items}
        )
    except ValidationError as exc:
        return _task_page(request, session, who, task, errors=validation_messages(exc), status_code=422)
    try:
        with session.begin_nested():  # a refused file or report leaves nothing behind
            if (
                evidence_file
                and evidence_file.filename
                and not service.previous_report(session, task.id, form_id or None)
            ):
                raw = evidence_file.file.read(evidence.MAX_BYTES + 1)
                stored = service.upload_evidence(
                    session, who, task.id, evidence_title, evidence_file.filename, raw
                )
                data.evidence.append(Evidence(title=stored.title, file_id=stored.id))
            service.report_progress(session, who, task.id, data, form_id or None)
    except DomainError as exc:
        if exc.status not in (400, 413):
            raise
        errors = [message_of(request, exc)]
        return _task_page(request, session, who, task, errors=errors, status_code=exc.status)
    return RedirectResponse(f"/governance/roadmap/{task.code}?saved=1", status_code=303)
