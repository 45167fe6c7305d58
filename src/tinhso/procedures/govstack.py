"""GovStack Registration building block API shapes (bb-registration, api/GovStack_Registration_BB_API.json)
served over the same procedures and dossiers: services = procedures, eForms = their JSON Schema forms,
applications = dossiers, tasks = the next transitions an operator (official) or applicant may take,
documents = the caller's e-data store, statistics = counts of dossiers.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Path, Query, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from tinhso.identity import repository as idrepo
from tinhso.identity.auth import CurrentPrincipal
from tinhso.identity.principal import Principal
from tinhso.kit import audit
from tinhso.kit.db import utcnow
from tinhso.kit.deps import ReadSessionDep, SessionDep
from tinhso.kit.errors import Forbidden, NotFound, Unprocessable
from tinhso.procedures import catalog, dossiers, edata, files
from tinhso.procedures.models import Dossier, Procedure
from tinhso.procedures.schemas import DossierCreate

router = APIRouter(tags=["govstack-registration"])
G = "/api/v1/procedures/govstack"
STATUS = {
    "received": ("PENDING", "Pending"),
    "assigned": ("PENDING", "Pending"),
    "in_review": ("PENDING", "Pending"),
    "for_signature": ("PENDING", "Pending"),
    "supplement_requested": ("SENDBACK", "Sent back to the applicant"),
    "result_ready": ("APPROVED", "Approved"),
    "returned": ("APPROVED", "Approved"),
    "refused": ("REJECTED", "Rejected"),
    "withdrawn": ("REJECTED", "Withdrawn"),
}


class FormData(BaseModel):
    data: dict[str, Any] = {}
    eFormId: str | None = None


class ApplicationSubmit(BaseModel):
    applicantId: str = Field(max_length=64)
    applicationName: str | None = Field(default=None, max_length=255)
    formData: FormData = FormData()
    documentUrls: list[str] = Field(default=[], max_length=20)
    commune: str | None = Field(
        default=None, pattern=r"^\d{5}$", description="tinhso extension: settling commune"
    )


class AdditionalData(BaseModel):
    data: dict[str, Any] = {}


def _service(p: Procedure) -> dict[str, Any]:
    return {
        "id": p.code,
        "serviceKey": p.code,
        "name": p.name,
        "version": "1",
        "type": "Public",
        "isExecutable": p.status == "published" and p.online != "none",
        "isClosed": p.status != "published",
        "description": f"{p.field}; {catalog.time_limit_text(p.time_limit_value, p.time_limit_unit)}",
    }


def _status(status: str) -> dict[str, str]:
    code, title = STATUS[status]
    return {"code": code, "title": title}


def _audit_read(session: Any, principal: Principal, d: Dossier) -> None:
    """An official's (or system's) read of the applicant's identity number, name or form is audited."""
    if not dossiers.is_applicant(principal, d):
        audit.record(
            session,
            "procedures.dossier.read",
            object_type="dossier",
            object_id=d.code,
            subject_id=d.applicant_person_id,
            purpose=f"Giải quyết hồ sơ {d.code}",
        )


def _application(session: Any, d: Dossier) -> dict[str, Any]:
    proc = session.get(Procedure, d.procedure_code)
    return {
        "fileId": d.code,
        "registered": d.received_at.isoformat(),
        "serviceKey": d.procedure_code,
        "serviceName": proc.name if proc else "",
        "status": _status(d.status),
        "ended": d.status in dossiers.FINISHED,
        "applicationData": {
            "applicantId": d.applicant_personal_id or "",
            "applicationName": d.applicant_name,
            "created": d.created_at.isoformat(),
            "formData": {"data": d.form_data, "eFormId": f"F{d.procedure_code}"},
        },
    }


@router.get(f"{G}/services", operation_id="govstack_services")
def services(
    session: ReadSessionDep, name: Annotated[str | None, Query(max_length=200)] = None
) -> list[dict[str, Any]]:
    return [_service(p) for p in session.scalars(catalog.statement(name))]


@router.get(f"{G}/services/{{serviceKey}}", operation_id="govstack_service")
def service(session: ReadSessionDep, serviceKey: Annotated[str, Path(max_length=32)]) -> dict[str, Any]:  # noqa: N803
    return _service(catalog.get_or_404(session, serviceKey))


@router.get(f"{G}/eForms/{{key}}", operation_id="govstack_eforms")
def eforms(session: ReadSessionDep, key: Annotated[str, Path(max_length=33)]) -> Any:
    """By service key: the list of the service's e-forms; by e-form id (F + service key): the e-form."""
    form_id = key.startswith("F")
    proc = catalog.get_or_404(session, key[1:] if form_id else key)
    item = {
        "eFormId": f"F{proc.code}",
        "name": proc.name,
        "description": "Tờ khai",
        "version": "1",
        "latest": True,
    }
    return item | {"schema": proc.form_schema} if form_id else [item]


@router.post(f"{G}/services/{{serviceKey}}/applications", operation_id="govstack_submit")
def submit(
    session: SessionDep,
    principal: CurrentPrincipal,
    body: ApplicationSubmit,
    serviceKey: Annotated[str, Path(max_length=32)],
) -> dict[str, Any]:  # noqa: N803
    catalog.get_or_404(session, serviceKey)
    online = (
        principal.kind == "person" and principal.has_role("citizen") and not principal.has_role("official")
    )
    if online and principal.personal_id and body.applicantId != principal.personal_id:
        raise Unprocessable("applicant_mismatch", "The applicant's identity number must be your own")
    form = dict(body.formData.data)
    form.setdefault("personal_id", body.applicantId)
    doc_ids = [u.rstrip("/").split("/")[-2] for u in body.documentUrls if u.rstrip("/").endswith("/content")]
    create = DossierCreate(
        procedure_code=serviceKey,
        form=form,
        channel=2 if online else 1,
        commune_code=body.commune,
        edata_document_ids=doc_ids,
        edata_components=["Tài liệu đính kèm"] * len(doc_ids),
    )
    from tinhso.procedures.endpoints import create_dossier

    return _application(session, create_dossier(session, principal, create))


def _visible(session: Any, principal: Principal) -> Any:
    stmt = select(Dossier)
    if principal.has_role("official", "agency_admin", "leader"):
        granted = idrepo.readable_agencies(session, principal, "procedures.dossier", utcnow())
        if granted is not None:
            stmt = stmt.where(Dossier.agency_code.in_(sorted(granted)))
        return stmt
    if principal.kind != "person":
        raise Forbidden("person_only", "Only a signed-in person has an e-data store")
    return stmt.where(Dossier.applicant_person_id == principal.id)


@router.get(f"{G}/applications", operation_id="govstack_applications")
def applications(
    session: SessionDep,
    principal: CurrentPrincipal,
    serviceKey: Annotated[str | None, Query(max_length=32)] = None,  # noqa: N803
    applicantId: Annotated[str | None, Query(max_length=64)] = None,  # noqa: N803
    firstResult: Annotated[int, Query(ge=0, le=100_000)] = 0,  # noqa: N803
    maxResult: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:  # noqa: N803
    stmt = _visible(session, principal).order_by(Dossier.received_at.desc())
    if serviceKey:
        stmt = stmt.where(Dossier.procedure_code == serviceKey)
    if applicantId:
        stmt = stmt.where(Dossier.applicant_personal_id == applicantId)
    out = []
    for d in session.scalars(stmt.offset(firstResult).limit(maxResult)):
        _audit_read(session, principal, d)
        a = _application(session, d)
        out.append(
            {
                "fileId": d.code,
                "mainTaskId": f"{d.code}:main",
                "taskTitle": a["serviceName"],
                "assigneeId": d.assigned_to,
                "status": a["status"],
                "applicantId": d.applicant_personal_id,
                "created": d.created_at.isoformat(),
                "registered": d.received_at.isoformat(),
                "serviceName": a["serviceName"],
                "serviceKey": d.procedure_code,
                "eformId": f"F{d.procedure_code}",
                "documentUrls": [],
            }
        )
    return out


@router.get(f"{G}/applications/{{fileId}}", operation_id="govstack_application")
def application(
    session: SessionDep, principal: CurrentPrincipal, fileId: Annotated[str, Path(max_length=40)]
) -> dict[str, Any]:  # noqa: N803
    from tinhso.procedures.endpoints import dossier_for

    d = dossier_for(session, principal, fileId)
    _audit_read(session, principal, d)
    return _application(session, d)


def _tasks_of(session: Any, principal: Principal, d: Dossier) -> list[dict[str, Any]]:
    from tinhso.procedures.endpoints import _actions

    proc = session.get(Procedure, d.procedure_code)
    return [
        {
            "taskId": f"{d.code}:{a}",
            "mainTaskId": f"{d.code}:main",
            "name": a,
            "assigneeId": d.assigned_to,
            "created": d.updated_at.isoformat(),
            "description": f"version {d.version}",
            "serviceKey": d.procedure_code,
            "serviceName": proc.name if proc else "",
            "fileId": d.code,
            "eFormId": f"F{d.procedure_code}",
            "status": _status(d.status),
        }
        for a in _actions(session, principal, d)
    ]


@router.get(f"{G}/tasks", operation_id="govstack_tasks")
def tasks(
    session: SessionDep,
    principal: CurrentPrincipal,
    fileId: Annotated[str | None, Query(max_length=40)] = None,  # noqa: N803
    firstResult: Annotated[int, Query(ge=0, le=100_000)] = 0,  # noqa: N803
    maxResult: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:  # noqa: N803
    stmt = _visible(session, principal).where(Dossier.status.in_(dossiers.OPEN)).order_by(Dossier.due_at)
    if fileId:
        stmt = stmt.where(Dossier.code == fileId)
    out: list[dict[str, Any]] = []
    for d in session.scalars(stmt.limit(500)):
        out.extend(_tasks_of(session, principal, d))
    return out[firstResult : firstResult + maxResult]


def _split(task_id: str) -> tuple[str, str]:
    code, _, action = task_id.rpartition(":")
    if not code or action not in dossiers.TRANSITIONS:
        raise NotFound("task_not_found", "Task {id} not found", id=task_id)
    return code, action


@router.get(f"{G}/tasks/{{taskId}}", operation_id="govstack_task")
def task(
    session: SessionDep, principal: CurrentPrincipal, taskId: Annotated[str, Path(max_length=80)]
) -> dict[str, Any]:  # noqa: N803
    from tinhso.procedures.endpoints import dossier_for

    code, action = _split(taskId)
    d = dossier_for(session, principal, code)
    found = [t for t in _tasks_of(session, principal, d) if t["name"] == action]
    if not found:
        raise NotFound("task_not_found", "Task {id} not found", id=taskId)
    return found[0] | {"taskName": action, "data": {"version": d.version}, "formVariables": {}}


@router.post(f"{G}/tasks/{{taskId}}/complete", operation_id="govstack_complete_task")
def complete(
    session: SessionDep,
    principal: CurrentPrincipal,
    body: AdditionalData,
    taskId: Annotated[str, Path(max_length=80)],
) -> dict[str, Any]:  # noqa: N803
    """Complete a task: apply its transition; `data.version` guards against a concurrent change."""
    from tinhso.procedures.endpoints import dossier_for

    code, action = _split(taskId)
    d = dossier_for(session, principal, code)
    version = body.data.get("version", d.version)
    if not isinstance(version, int):
        raise Unprocessable("validation_error", "The data is not valid")
    dossiers.transition(session, principal, d, action, version=version, note=str(body.data.get("note", "")))
    return {
        "taskId": taskId,
        "fileId": d.code,
        "serviceKey": d.procedure_code,
        "status": _status(d.status),
        "variables": {},
    }


@router.post(f"{G}/documents", operation_id="govstack_upload")
async def upload(
    session: SessionDep, principal: CurrentPrincipal, file: Annotated[UploadFile, File()]
) -> dict[str, Any]:
    data = await file.read(files.MAX_BYTES + 1)
    doc = edata.add_document(
        session, principal, file.filename or "tài liệu", file.filename or "tep", data, file.content_type
    )
    return {
        "code": 200,
        "type": doc.media_type,
        "message": "uploaded",
        "url": f"/api/v1/procedures/edata/{doc.id}/content",
    }


@router.get(f"{G}/data/statistics/1.0", operation_id="govstack_statistics")
def statistics(session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    base = _visible(session, principal).subquery()
    by_service = session.execute(
        select(base.c.procedure_code, func.count()).group_by(base.c.procedure_code)
    ).all()
    by_status = session.execute(select(base.c.status, func.count()).group_by(base.c.status)).all()
    return {
        "total": sum(n for _, n in by_status),
        "byService": [{"serviceKey": k, "count": n} for k, n in by_service],
        "byStatus": [{"status": _status(k)["code"], "state": k, "count": n} for k, n in by_status],
    }
