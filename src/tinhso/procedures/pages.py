"""Portal pages: citizens (search, apply, my dossiers, e-data store, status lookup), officials (work queue,
dossier detail, transitions), leaders (the Decision 766 index), and the public result verification page."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.identity import repository as idrepo
from tinhso.identity.auth import OptionalPrincipal
from tinhso.identity.models import Agency
from tinhso.identity.principal import Principal
from tinhso.kit import audit
from tinhso.kit.db import utcnow
from tinhso.kit.deps import SessionDep
from tinhso.kit.errors import DomainError, NotFound
from tinhso.kit.i18n import gettext
from tinhso.procedures import (
    catalog,
    dossiers,
    edata,
    feedback,
    files,
    index766,
    payments,
    signing,
)
from tinhso.procedures.catalog_api import fees_text
from tinhso.procedures.endpoints import STATUS_TEXT, attach, create_dossier, dossier_for, guarded_lookup
from tinhso.procedures.models import Attachment, Dossier, DossierHistory, EDataDocument, Procedure
from tinhso.procedures.results import verify_url
from tinhso.procedures.schemas import DossierCreate
from tinhso.reference.models import Commune
from tinhso.settings import get_settings
from tinhso.web.templating import language_of, render

router = APIRouter(include_in_schema=False)
Code = Annotated[str, Path(max_length=40)]

ACTION_LABELS = {
    "assign": "Take the dossier",
    "start_review": "Start review",
    "submit_for_signature": "Submit for signature",
    "send_back": "Send back for review",
    "sign": "Sign and issue the result",
    "return_result": "Return the result",
    "request_supplement": "Request more documents",
    "supplement": "Documents supplemented",
    "refuse": "Refuse",
    "withdraw": "Withdraw the dossier",
}


def _signin(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/signin?next={request.url.path}", status_code=303)


def refused(request: Request, session: Session, target: str, exc: DomainError) -> RedirectResponse:
    """Back to `target` with the refusal's message; what the refused step wrote was rolled back."""
    session.expire_all()
    msg = gettext(exc.message, language_of(request), **exc.params)
    return RedirectResponse(f"{target}?error={quote(msg[:300])}", status_code=303)


def _ctx(request: Request, **kw: Any) -> dict[str, Any]:
    lang = language_of(request)
    return {
        "status_text": lambda s: gettext(STATUS_TEXT.get(s) or str(s), lang),
        "action_labels": ACTION_LABELS,
        "time_limit_text": catalog.time_limit_text,
        "fees_text": fees_text,
    } | kw


@router.get("/thu-tuc", response_class=HTMLResponse)
def catalog_page(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    q: Annotated[str | None, Query(max_length=200)] = None,
    level: Annotated[str | None, Query(pattern="^(tinh|xa)?$")] = None,
) -> HTMLResponse:
    procs = list(session.scalars(catalog.statement(q, level or None).limit(200)))
    return render(
        request, "procedures/catalog.html", _ctx(request, procs=procs, q=q or "", level=level or "")
    )


@router.get("/thu-tuc/{code}", response_class=HTMLResponse)
def procedure_page(
    request: Request,
    code: Annotated[str, Path(max_length=32)],
    session: SessionDep,
    principal: OptionalPrincipal,
) -> HTMLResponse:
    proc = catalog.get_or_404(session, code)
    agency = session.get(Agency, proc.agency_code) if proc.agency_code else None
    return render(request, "procedures/procedure.html", _ctx(request, proc=proc, agency=agency))


def _apply_context(
    request: Request,
    session: SessionDep,
    principal: Principal,
    proc: Procedure,
    values: dict[str, Any],
    error: str | None = None,
) -> dict[str, Any]:
    communes = list(session.scalars(select(Commune).order_by(Commune.name))) if proc.level == "xa" else []
    docs = edata.documents_of(session, principal)
    return _ctx(
        request,
        proc=proc,
        values=values,
        error=error,
        communes=communes,
        docs=docs,
        props=(proc.form_schema or {}).get("properties", {}),
        required=set((proc.form_schema or {}).get("required", [])),
    )


@router.get("/thu-tuc/{code}/nop", response_class=HTMLResponse, response_model=None)
def apply_page(
    request: Request,
    code: Annotated[str, Path(max_length=32)],
    session: SessionDep,
    principal: OptionalPrincipal,
) -> Response:
    if principal is None:
        return _signin(request)
    proc = catalog.get_or_404(session, code)
    values, source = edata.prefill(session, principal, f"Điền sẵn tờ khai thủ tục {proc.code}")
    ctx = _apply_context(request, session, principal, proc, values) | {"source": source}
    return render(request, "procedures/apply.html", ctx)


@router.post("/thu-tuc/{code}/nop", response_class=HTMLResponse, response_model=None)
async def apply_submit(
    request: Request,
    code: Annotated[str, Path(max_length=32)],
    session: SessionDep,
    principal: OptionalPrincipal,
) -> Response:
    if principal is None:
        return _signin(request)
    proc = catalog.get_or_404(session, code)
    form = await request.form()
    props = (proc.form_schema or {}).get("properties", {})
    values: dict[str, Any] = {}
    for name, spec in props.items():
        raw = str(form.get(f"f_{name}") or "").strip()
        if raw == "":
            continue
        if spec.get("type") in ("integer", "number"):
            try:
                values[name] = int(raw) if spec["type"] == "integer" else float(raw)
            except ValueError:
                values[name] = raw
        else:
            values[name] = raw
    doc_ids = [str(v) for v in form.getlist("edata")]
    body = DossierCreate(
        procedure_code=proc.code,
        form=values,
        channel=2,
        commune_code=str(form.get("commune_code") or "") or None,
        edata_document_ids=doc_ids,
        edata_components=["Tài liệu từ kho dữ liệu"] * len(doc_ids),
        prefilled=form.get("prefilled") == "population",
    )
    try:
        with session.begin_nested():
            d = create_dossier(session, principal, body)
    except DomainError as exc:
        msg = gettext(exc.message, language_of(request), **exc.params)
        return render(
            request,
            "procedures/apply.html",
            _apply_context(request, session, principal, proc, values, msg),
            status_code=exc.status,
        )
    return RedirectResponse(f"/ho-so/{d.code}", status_code=303)


@router.get("/ho-so", response_class=HTMLResponse, response_model=None)
def my_dossiers(request: Request, session: SessionDep, principal: OptionalPrincipal) -> Response:
    if principal is None:
        return _signin(request)
    rows = list(
        session.scalars(
            select(Dossier)
            .where(Dossier.applicant_person_id == principal.id)
            .order_by(Dossier.received_at.desc())
            .limit(200)
        )
    )
    return render(request, "procedures/my_dossiers.html", _ctx(request, rows=rows))


@router.get("/ho-so/{code}", response_class=HTMLResponse, response_model=None)
def dossier_page(
    request: Request,
    code: Code,
    session: SessionDep,
    principal: OptionalPrincipal,
    error: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    if principal is None:
        return _signin(request)
    d = dossier_for(session, principal, code)
    from tinhso.procedures.endpoints import detail

    info = detail(session, principal, d)  # audits an official's read of the applicant's data
    proc = session.get(Procedure, d.procedure_code)
    result = session.get(EDataDocument, d.result_document_id) if d.result_document_id else None
    history = list(
        session.scalars(
            select(DossierHistory).where(DossierHistory.dossier_id == d.id).order_by(DossierHistory.id)
        )
    )
    attachments = list(session.scalars(select(Attachment).where(Attachment.dossier_id == d.id)))
    return render(
        request,
        "procedures/dossier.html",
        _ctx(
            request,
            d=d,
            proc=proc,
            actions=info.actions,
            history=history,
            attachments=attachments,
            result=result,
            is_applicant=dossiers.is_applicant(principal, d),
            error=error,
            verify=verify_url(result.verify_token) if result and result.verify_token else None,
        ),
    )


@router.post("/ho-so/{code}/thao-tac", response_model=None)
def dossier_action(
    request: Request,
    code: Code,
    session: SessionDep,
    principal: OptionalPrincipal,
    action: Annotated[str, Form(max_length=32)],
    version: Annotated[int, Form()],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    if principal is None:
        return _signin(request)
    d = dossier_for(session, principal, code)
    try:
        with session.begin_nested():
            dossiers.transition(session, principal, d, action, version=version, note=note)
    except DomainError as exc:
        return refused(request, session, f"/ho-so/{code}", exc)
    return RedirectResponse(f"/ho-so/{code}", status_code=303)


@router.post("/ho-so/{code}/tai-lieu", response_model=None)
async def dossier_upload(
    request: Request, code: Code, session: SessionDep, principal: OptionalPrincipal
) -> Response:
    """The applicant (or an official) adds a document, e.g. the supplement an official asked for."""
    if principal is None:
        return _signin(request)
    d = dossier_for(session, principal, code)
    form = await request.form()
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        return RedirectResponse(f"/ho-so/{code}", status_code=303)
    data = await upload.read(files.MAX_BYTES + 1)
    try:
        with session.begin_nested():
            attach(
                session,
                principal,
                d,
                str(form.get("component") or "Tài liệu bổ sung"),
                upload.filename or "tep",
                data,
                upload.content_type,
            )
    except DomainError as exc:
        return refused(request, session, f"/ho-so/{code}", exc)
    return RedirectResponse(f"/ho-so/{code}", status_code=303)


@router.post("/ho-so/{code}/thanh-toan", response_model=None)
def dossier_pay(request: Request, code: Code, session: SessionDep, principal: OptionalPrincipal) -> Response:
    if principal is None:
        return _signin(request)
    d = dossier_for(session, principal, code)
    pay = payments.start(session, d)
    return RedirectResponse(f"/thanh-toan-thu/{pay.provider_ref}?ho_so={d.code}", status_code=303)


@router.get("/thanh-toan-thu/{ref}", response_class=HTMLResponse)
def payment_double_page(
    request: Request,
    ref: Annotated[str, Path(max_length=64)],
    principal: OptionalPrincipal,
    ho_so: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    """The checkout page of the national payment platform's TEST DOUBLE (clearly labelled as such)."""
    return render(request, "procedures/payment_double.html", {"ref": ref, "code": ho_so})


@router.post("/thanh-toan-thu/{ref}", response_model=None)
def payment_double_submit(
    request: Request,
    ref: Annotated[str, Path(max_length=64)],
    session: SessionDep,
    principal: OptionalPrincipal,
    outcome: Annotated[str, Form(pattern="^(paid|failed)$")],
    code: Annotated[str, Form(max_length=40)],
) -> Response:
    if principal is None:
        return _signin(request)
    double = payments.provider()
    if get_settings().environment == "production" or not isinstance(
        double, payments.NationalPaymentPlatformTestDouble
    ):
        raise NotFound()
    double.settle(ref, outcome)
    d = dossier_for(session, principal, code)
    payments.reconcile(session, d.id)
    return RedirectResponse(f"/ho-so/{code}", status_code=303)


@router.post("/ho-so/{code}/danh-gia", response_model=None)
def dossier_rate(
    request: Request,
    code: Code,
    session: SessionDep,
    principal: OptionalPrincipal,
    rating: Annotated[int, Form(ge=1, le=5)],
) -> Response:
    if principal is None:
        return _signin(request)
    d = dossier_for(session, principal, code)
    if dossiers.is_applicant(principal, d) and d.status in dossiers.FINISHED:
        d.rating = rating
        d.complaint = rating <= 2 or feedback.has_feedback(session, d.code)
        session.flush()
        audit.record(
            session,
            "procedures.dossier.rate",
            object_type="dossier",
            object_id=d.code,
            detail={"rating": rating},
        )
    return RedirectResponse(f"/ho-so/{code}", status_code=303)


@router.get("/tra-cuu", response_class=HTMLResponse)
def lookup_page(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    ma: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    status, error = None, None
    if ma:
        try:
            status = guarded_lookup(request, session, ma.strip(), language_of(request))
        except DomainError as exc:
            error = gettext(exc.message, language_of(request), **exc.params)
    return render(
        request,
        "procedures/lookup.html",
        {"ma": ma or "", "status": status, "error": error},
        status_code=200 if error is None else 404 if "not found" in error or "Không tìm" in error else 429,
    )


@router.get("/can-bo/ho-so", response_class=HTMLResponse, response_model=None)
def queue_page(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    status: Annotated[str | None, Query(max_length=24)] = None,
) -> Response:
    if principal is None:
        return _signin(request)
    granted = idrepo.readable_agencies(session, principal, "procedures.dossier", utcnow())
    stmt = select(Dossier).order_by(Dossier.due_at).limit(200)
    if granted is not None:
        stmt = stmt.where(Dossier.agency_code.in_(sorted(granted | {principal.agency_code or ""})))
    stmt = stmt.where(Dossier.status == status) if status else stmt.where(Dossier.status.in_(dossiers.OPEN))
    rows = list(session.scalars(stmt))
    dossiers.audit_listed(session, principal, rows, "Danh sách hồ sơ cần giải quyết")
    return render(
        request,
        "procedures/queue.html",
        _ctx(request, rows=rows, status=status or "", statuses=dossiers.STATUSES, now=utcnow()),
    )


@router.get("/chi-so-766", response_class=HTMLResponse, response_model=None)
def index_page(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    period: Annotated[str | None, Query(max_length=7)] = None,
    group_by: Annotated[str, Query(pattern="^(province|agency|commune)$")] = "agency",
) -> Response:
    if principal is None:
        return _signin(request)
    from tinhso.procedures.reports import scope_for

    period = period or utcnow().astimezone(signing_tz()).strftime("%Y-%m")
    try:
        group, agency = scope_for(principal, group_by, None)
        province = (
            index766.compute(session, period, "province", agency)
            if group != "agency" or agency is None
            else []
        )
        items = index766.compute(session, period, group, agency)
        error = None
    except DomainError as exc:
        province, items, error = [], [], gettext(exc.message, language_of(request), **exc.params)
        group = group_by
    return render(
        request,
        "procedures/index766.html",
        {
            "period": period,
            "group_by": group,
            "items": items,
            "province": province[0] if province else None,
            "indicators": index766.INDICATORS,
            "error": error,
        },
    )


def signing_tz():  # noqa: ANN201
    from tinhso.procedures.calendar import TZ

    return TZ


@router.get("/xac-thuc/{token}", response_class=HTMLResponse)
def verify_page(
    request: Request,
    token: Annotated[str, Path(max_length=64)],
    session: SessionDep,
    principal: OptionalPrincipal,
) -> HTMLResponse:
    doc = session.scalar(select(EDataDocument).where(EDataDocument.verify_token == token))
    valid = False
    d = None
    if doc is not None:
        valid = signing.verify(
            files.read(doc.storage_key), doc.signature_b64 or "", doc.certificate_pem or ""
        )
        d = session.scalar(select(Dossier).where(Dossier.code == doc.dossier_code))
    agency = session.get(Agency, d.agency_code) if d else None
    qr = signing.qr_svg(verify_url(token)) if doc else ""
    return render(
        request,
        "procedures/verify.html",
        {"doc": doc, "valid": valid, "d": d, "agency": agency, "qr": qr},
        status_code=200 if doc else 404,
    )
