"""Procedures API: catalog, dossiers, attachments, fees, public status (the calendar is `calendar_api`, the e-data
store and signed results `edata_api`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy import select, update

from tinhso.identity import repository as idrepo
from tinhso.identity.auth import CurrentPrincipal, require_roles
from tinhso.identity.models import Agency
from tinhso.identity.principal import Principal
from tinhso.kit import audit
from tinhso.kit.db import utcnow
from tinhso.kit.deps import ReadSessionDep, SessionDep
from tinhso.kit.errors import Forbidden, NotFound, Unprocessable
from tinhso.kit.i18n import gettext
from tinhso.kit.pagination import Page, PageDep, paginate
from tinhso.procedures import (
    catalog,
    dossiers,
    edata,
    feedback,
    files,
    organisations,
    payments,
    ratelimit,
)
from tinhso.procedures.models import (
    Attachment,
    Dossier,
    DossierHistory,
    Procedure,
)
from tinhso.procedures.schemas import (
    AttachmentRead,
    DossierCreate,
    DossierDetail,
    DossierRead,
    HistoryRead,
    PaymentRead,
    ProcedureDetail,
    ProcedureRead,
    PublicStatus,
    RatingIn,
    TransitionIn,
)
from tinhso.settings import get_settings

router = APIRouter(tags=["procedures"])
P = "/api/v1/procedures"
CodePath = Annotated[str, Path(max_length=40)]
AdminDep = Annotated[Principal, require_roles("platform_admin")]

STATUS_TEXT = {
    "received": "Received",
    "assigned": "Assigned to an official",
    "in_review": "Being reviewed",
    "for_signature": "Awaiting signature",
    "supplement_requested": "Waiting for additional documents",
    "result_ready": "Result ready",
    "returned": "Result returned",
    "refused": "Refused",
    "withdrawn": "Withdrawn",
}


def proc_read(p: Procedure, detail: bool = False) -> ProcedureRead:
    model = ProcedureDetail if detail else ProcedureRead
    out = model.model_validate(p)
    out.time_limit_text = catalog.time_limit_text(p.time_limit_value, p.time_limit_unit)
    return out


# ---- catalog -------------------------------------------------------------------------------------------
@router.get(f"{P}/catalog", operation_id="list_procedures", response_model=Page[ProcedureRead])
def list_procedures(
    session: ReadSessionDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=200, description="Accent-insensitive search")] = None,
    level: Annotated[str | None, Query(pattern="^(tinh|xa)$")] = None,
    agency_code: Annotated[str | None, Query(max_length=32)] = None,
    field: Annotated[str | None, Query(max_length=128)] = None,
):
    rows, total = paginate(session, catalog.statement(q, level, agency_code, field), page)
    return Page(items=[proc_read(r) for r in rows], total=total, page=page.page, page_size=page.page_size)


@router.get(
    f"{P}/catalog/export",
    operation_id="export_procedures",
    responses={200: {"content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}}}},
)
def export_procedures(
    session: ReadSessionDep, format: Annotated[str, Query(pattern="^(json|csv)$")] = "json"
):
    rows = catalog.export_rows(session)
    if format == "csv":
        return Response(
            catalog.to_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="thu-tuc.csv"'},
        )
    return Response(json.dumps(rows, ensure_ascii=False, default=str), media_type="application/json")


@router.post(f"{P}/catalog/import", operation_id="import_procedures")
async def import_procedures(request: Request, session: SessionDep, admin: AdminDep) -> dict[str, int]:
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
        rows = (
            catalog.parse_csv(text)
            if request.headers.get("content-type", "").startswith("text/csv")
            else json.loads(text)
        )
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Unprocessable("catalog_import_invalid", "The catalog file has invalid rows", rows=1) from exc
    if not isinstance(rows, list):
        raise Unprocessable("catalog_import_invalid", "The catalog file has invalid rows", rows=1)
    return {"imported": catalog.import_rows(session, rows)}


@router.get(f"{P}/catalog/{{code}}", operation_id="get_procedure", response_model=ProcedureDetail)
def get_procedure(session: ReadSessionDep, code: Annotated[str, Path(max_length=32)]):
    return proc_read(catalog.get_or_404(session, code), detail=True)


# ---- dossiers --------------------------------------------------------------------------------------------
def dossier_for(session: SessionDep, principal: Principal, code: str) -> Dossier:
    d = dossiers.get_or_404(session, code)
    granted = idrepo.readable_agencies(session, principal, "procedures.dossier", utcnow())
    if not dossiers.can_read(principal, d, granted):
        raise NotFound("dossier_not_found", "Dossier {code} not found", code=code)
    return d


def _actions(session: SessionDep, principal: Principal, d: Dossier) -> list[str]:
    proc = session.get(Procedure, d.procedure_code)
    assert proc is not None
    return [
        a
        for a, rule in dossiers.TRANSITIONS.items()
        if d.status in rule.sources and dossiers._allowed(principal, d, proc, rule)
    ]


def detail(session: SessionDep, principal: Principal, d: Dossier) -> DossierDetail:
    if not dossiers.is_applicant(principal, d):
        audit.record(
            session,
            "procedures.dossier.read",
            object_type="dossier",
            object_id=d.code,
            subject_id=d.applicant_person_id,
            purpose=f"Giải quyết hồ sơ {d.code}",
        )
    out = DossierDetail.model_validate(d)
    out.history = [
        HistoryRead.model_validate(h)
        for h in session.scalars(
            select(DossierHistory).where(DossierHistory.dossier_id == d.id).order_by(DossierHistory.id)
        )
    ]
    out.attachments = [
        AttachmentRead.model_validate(a)
        for a in session.scalars(
            select(Attachment).where(Attachment.dossier_id == d.id).order_by(Attachment.created_at)
        )
    ]
    out.actions = _actions(session, principal, d)
    return out


def create_dossier(session: SessionDep, principal: Principal, body: DossierCreate) -> Dossier:
    proc = session.get(Procedure, body.procedure_code)
    if proc is None:
        raise NotFound("procedure_not_found", "Procedure {code} not found", code=body.procedure_code)
    flags = {}
    if body.prefilled and principal.kind == "person" and principal.has_role("citizen"):
        flags = {"population_data": True}
    d = dossiers.receive(
        session,
        principal,
        proc,
        body.form,
        channel=body.channel,
        commune_code=body.commune_code,
        applicant_person_id=None,
        flags=flags,
    )
    if body.organisation_code:
        if not dossiers.is_applicant(principal, d):
            raise Forbidden("organisation_applicant_only", "Only the applicant can act for an organisation")
        organisations.require_member(session, principal, body.organisation_code)
        d.applicant_kind, d.applicant_organisation_code = "organisation", body.organisation_code
    if body.edata_document_ids:
        if not dossiers.is_applicant(principal, d):
            raise Forbidden(
                "consent_applicant_only", "Only the applicant can reuse documents of the e-data store"
            )
        edata.attach_with_consent(session, principal, d, body.edata_document_ids, body.edata_components)
    return d


@router.post(f"{P}/dossiers", operation_id="create_dossier", response_model=DossierDetail, status_code=201)
def post_dossier(body: DossierCreate, session: SessionDep, principal: CurrentPrincipal):
    return detail(session, principal, create_dossier(session, principal, body))


@router.get(f"{P}/dossiers", operation_id="list_dossiers", response_model=Page[DossierRead])
def list_dossiers(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    status: Annotated[str | None, Query(max_length=24)] = None,
    overdue: bool | None = None,
    agency_code: Annotated[str | None, Query(max_length=32)] = None,
    mine: bool = False,
):
    """The caller's work queue (officials: their agency's dossiers, soonest due first) or own dossiers."""
    stmt = select(Dossier)
    if mine or not principal.has_role("official", "agency_admin", "leader"):
        if principal.kind != "person":
            raise Forbidden("person_only", "Only a signed-in person has an e-data store")
        stmt = stmt.where(Dossier.applicant_person_id == principal.id).order_by(Dossier.received_at.desc())
    else:
        granted = idrepo.readable_agencies(session, principal, "procedures.dossier", utcnow())
        if agency_code:
            if granted is not None and agency_code not in granted:
                raise Forbidden(
                    "agency_not_readable", "You may not read dossiers of agency {code}", code=agency_code
                )
            stmt = stmt.where(Dossier.agency_code == agency_code)
        elif granted is not None:
            stmt = stmt.where(Dossier.agency_code.in_(sorted(granted)))
        stmt = stmt.order_by(Dossier.due_at)
    if status:
        stmt = stmt.where(Dossier.status == status)
    else:
        stmt = (
            stmt.where(Dossier.status.in_(dossiers.OPEN))
            if not mine and principal.has_role("official")
            else stmt
        )
    if overdue is not None:
        stmt = stmt.where(Dossier.overdue.is_(overdue))
    rows, total = paginate(session, stmt, page)
    dossiers.audit_listed(session, principal, rows, "Danh sách hồ sơ cần giải quyết")
    return Page(
        items=[DossierRead.model_validate(r) for r in rows],
        total=total,
        page=page.page,
        page_size=page.page_size,
    )


@router.get(f"{P}/dossiers/{{code}}", operation_id="get_dossier", response_model=DossierDetail)
def get_dossier(code: CodePath, session: SessionDep, principal: CurrentPrincipal):
    return detail(session, principal, dossier_for(session, principal, code))


@router.post(
    f"{P}/dossiers/{{code}}/transitions", operation_id="transition_dossier", response_model=DossierDetail
)
def transition_dossier(code: CodePath, body: TransitionIn, session: SessionDep, principal: CurrentPrincipal):
    d = dossier_for(session, principal, code)
    dossiers.transition(session, principal, d, body.action, version=body.version, note=body.note)
    return detail(session, principal, d)


@router.post(
    f"{P}/dossiers/{{code}}/attachments",
    operation_id="add_attachment",
    response_model=AttachmentRead,
    status_code=201,
)
async def add_attachment(
    code: CodePath,
    session: SessionDep,
    principal: CurrentPrincipal,
    component: Annotated[str, Form(max_length=500)],
    file: Annotated[UploadFile, File()],
):
    d = dossier_for(session, principal, code)
    data = await file.read(files.MAX_BYTES + 1)
    return attach(session, principal, d, component, file.filename or "tep", data, file.content_type)


def attach(
    session: SessionDep,
    principal: Principal,
    d: Dossier,
    component: str,
    filename: str,
    data: bytes,
    media_type: str | None,
) -> Attachment:
    """Add a checked, checksummed document to a dossier (the applicant only while documents are awaited)."""
    if dossiers.is_applicant(principal, d):
        if d.status not in ("received", "supplement_requested"):
            raise Forbidden("attachments_closed", "Documents can be added only while the dossier awaits them")
    elif not dossiers.is_agency_official(principal, d):
        raise Forbidden("transition_not_permitted", "You may not {action} this dossier", action="attach")
    stored = files.store(data, media_type)
    att = Attachment(
        dossier_id=d.id,
        component=component[:500],
        filename=filename[:255],
        media_type=stored.media_type,
        size=stored.size,
        sha256=stored.sha256,
        storage_key=stored.storage_key,
        uploaded_by=principal.id,
    )
    session.add(att)
    session.execute(update(Dossier).where(Dossier.id == d.id).values(digitised=True))
    session.flush()
    audit.record(
        session,
        "procedures.attachment.add",
        object_type="dossier",
        object_id=d.code,
        detail={"attachment": att.id, "sha256": stored.sha256, "size": stored.size},
    )
    return att


@router.get(f"{P}/dossiers/{{code}}/attachments/{{att_id}}", operation_id="get_attachment")
def get_attachment(
    code: CodePath,
    att_id: Annotated[str, Path(max_length=32)],
    session: SessionDep,
    principal: CurrentPrincipal,
) -> Response:
    d = dossier_for(session, principal, code)
    att = session.get(Attachment, att_id)
    if att is None or att.dossier_id != d.id:
        raise NotFound("attachment_not_found", "Attachment {id} not found", id=att_id)
    if not dossiers.is_applicant(principal, d):
        audit.record(
            session,
            "procedures.edata.read" if att.edata_document_id else "procedures.attachment.read",
            object_type="attachment",
            object_id=att.id,
            subject_id=(
                organisations.subject(d.applicant_organisation_code)
                if att.edata_document_id and d.applicant_organisation_code
                else d.applicant_person_id
            ),
            purpose=f"Giải quyết hồ sơ {d.code}",
        )
    return Response(
        files.read(att.storage_key),
        media_type=att.media_type,
        headers={"Content-Disposition": f'attachment; filename="{att.id}"', "X-Checksum-SHA256": att.sha256},
    )


@router.post(f"{P}/dossiers/{{code}}/rating", operation_id="rate_dossier", response_model=DossierRead)
def rate_dossier(code: CodePath, body: RatingIn, session: SessionDep, principal: CurrentPrincipal):
    d = dossier_for(session, principal, code)
    if not dossiers.is_applicant(principal, d):
        raise Forbidden("applicant_only", "Only the applicant can do this")
    if d.status not in dossiers.FINISHED:
        raise Unprocessable("not_finished", "The dossier is not finished yet")
    d.rating = body.rating
    d.complaint = body.rating <= 2 or feedback.has_feedback(session, d.code)  # PAKN or a dislike (5.4)
    session.flush()
    audit.record(
        session,
        "procedures.dossier.rate",
        object_type="dossier",
        object_id=d.code,
        detail={"rating": body.rating},
    )
    return d


@router.post(f"{P}/dossiers/{{code}}/payments", operation_id="start_payment")
def start_payment(code: CodePath, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    d = dossier_for(session, principal, code)
    if not (dossiers.is_applicant(principal, d) or dossiers.is_agency_official(principal, d)):
        raise Forbidden("applicant_only", "Only the applicant can do this")
    pay = payments.start(session, d)
    return PaymentRead.model_validate(pay).model_dump() | {"provider_test_double": True}


@router.post(f"{P}/dossiers/{{code}}/payments/check", operation_id="check_payment")
def check_payment(code: CodePath, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    d = dossier_for(session, principal, code)
    report = payments.reconcile(session, d.id)
    session.refresh(d)
    return {"payment_status": d.payment_status, "report": report}


@router.post(f"{P}/payments/reconcile", operation_id="reconcile_payments")
def reconcile_payments(session: SessionDep, admin: AdminDep) -> dict[str, int]:
    return payments.reconcile(session)


@router.post(
    f"{P}/payment-test-double/{{ref}}/settle",
    operation_id="payment_test_double_settle",
    include_in_schema=False,
)
def settle_test_double(
    ref: Annotated[str, Path(max_length=64)],
    status: Annotated[str, Query(pattern="^(paid|failed)$")],
    principal: CurrentPrincipal,
) -> dict[str, str]:
    """The payer's side of the national payment platform's TEST DOUBLE (never in production)."""
    if get_settings().environment == "production":
        raise NotFound()
    double = payments.provider()
    if not isinstance(double, payments.NationalPaymentPlatformTestDouble):
        raise NotFound()
    double.settle(ref, status)
    return {"provider_ref": ref, "status": status}


@router.post(f"{P}/sweep", operation_id="sweep_deadlines")
def sweep(session: SessionDep, admin: AdminDep) -> dict[str, int]:
    return dossiers.sweep_deadlines(session)


# ---- public status lookup ----------------------------------------------------------------------------------
def client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def public_status(session: Any, code: str, lang: str = "vi") -> PublicStatus:
    d = session.scalar(select(Dossier).where(Dossier.code == code))
    if d is None:
        raise NotFound("dossier_not_found", "Dossier {code} not found", code=code)
    proc = session.get(Procedure, d.procedure_code)
    agency = session.get(Agency, d.agency_code)
    return PublicStatus(
        code=d.code,
        procedure_code=d.procedure_code,
        procedure_name=proc.name if proc else "",
        agency_name=agency.name if agency else d.agency_code,
        status=d.status,
        status_text=gettext(STATUS_TEXT[d.status], lang),
        received_at=d.received_at,
        due_at=d.due_at,
        finished_at=d.finished_at,
    )


def guarded_lookup(request: Request, session: Any, code: str, lang: str = "vi") -> PublicStatus:
    key, db = client_key(request), request.app.state.db
    ratelimit.check(db, key)
    try:
        return public_status(session, code, lang)
    except NotFound:
        ratelimit.missed(db, key)
        raise


@router.get(f"{P}/status/{{code}}", operation_id="dossier_status", response_model=PublicStatus)
def dossier_status(
    code: CodePath,
    request: Request,
    session: ReadSessionDep,
    lang: Annotated[str, Query(pattern="^(vi|en)$")] = "vi",
):
    """Public: the status of a dossier by its code, without personal data (rate-limited)."""
    return guarded_lookup(request, session, code, lang)
