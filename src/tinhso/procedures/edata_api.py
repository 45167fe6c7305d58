"""Procedures API: the e-data store (a person's or organisation's documents, reused to pre-fill forms) and signed
results with their public verification."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, UploadFile
from fastapi.responses import Response
from sqlalchemy import select

from tinhso.identity.auth import CurrentPrincipal
from tinhso.kit import audit
from tinhso.kit.deps import ReadSessionDep, SessionDep
from tinhso.kit.errors import NotFound
from tinhso.procedures import catalog, dossiers, edata, files, signing
from tinhso.procedures.endpoints import dossier_for
from tinhso.procedures.models import Dossier, EDataDocument
from tinhso.procedures.schemas import AccessLogRead, EDataRead

router = APIRouter(tags=["procedures"])
P = "/api/v1/procedures"


# ---- e-data store ------------------------------------------------------------------------------------------
OrgQuery = Annotated[str | None, Query(max_length=20, description="An organisation you act for")]


@router.get(f"{P}/edata", operation_id="list_edata", response_model=list[EDataRead])
def list_edata(session: SessionDep, principal: CurrentPrincipal, organisation: OrgQuery = None):
    """My e-data store, or that of an organisation I act for."""
    return edata.documents_of(session, principal, organisation)


@router.post(f"{P}/edata", operation_id="add_edata", response_model=EDataRead, status_code=201)
async def add_edata(
    session: SessionDep,
    principal: CurrentPrincipal,
    title: Annotated[str, Form(max_length=500)],
    file: Annotated[UploadFile, File()],
    organisation: Annotated[str | None, Form(max_length=20)] = None,
):
    data = await file.read(files.MAX_BYTES + 1)
    name = file.filename or "tep"
    return edata.add_document(session, principal, title, name, data, file.content_type, organisation)


@router.get(f"{P}/edata/access-log", operation_id="edata_access_log", response_model=list[AccessLogRead])
def edata_access_log(session: SessionDep, principal: CurrentPrincipal, organisation: OrgQuery = None):
    """Who read my (or my organisation's) documents and dossier data, and for which dossier."""
    return edata.access_log(session, principal, organisation=organisation)


@router.get(f"{P}/edata/{{doc_id}}/content", operation_id="get_edata_content")
def get_edata_content(
    doc_id: Annotated[str, Path(max_length=32)], session: SessionDep, principal: CurrentPrincipal
) -> Response:
    doc = edata.own_document(session, principal, doc_id)
    return Response(
        files.read(doc.storage_key), media_type=doc.media_type, headers={"X-Checksum-SHA256": doc.sha256}
    )


@router.delete(f"{P}/edata/{{doc_id}}", operation_id="delete_edata", status_code=204)
def delete_edata(
    doc_id: Annotated[str, Path(max_length=32)], session: SessionDep, principal: CurrentPrincipal
) -> Response:
    edata.delete_document(session, principal, doc_id)
    return Response(status_code=204)


@router.get(f"{P}/prefill", operation_id="prefill_form")
def prefill_form(
    session: SessionDep, principal: CurrentPrincipal, procedure_code: Annotated[str, Query(max_length=32)]
) -> dict[str, Any]:
    proc = catalog.get_or_404(session, procedure_code)
    values, source = edata.prefill(session, principal, f"Điền sẵn tờ khai thủ tục {proc.code}")
    allowed = set((proc.form_schema or {}).get("properties", {}))
    return {"values": {k: v for k, v in values.items() if k in allowed}, "source": source}


# ---- signed results ----------------------------------------------------------------------------------------
@router.get(f"{P}/results/{{doc_id}}", operation_id="get_result")
def get_result(
    doc_id: Annotated[str, Path(max_length=32)], session: SessionDep, principal: CurrentPrincipal
) -> Response:
    doc = session.get(EDataDocument, doc_id)
    if doc is None or doc.kind != "result" or doc.dossier_code is None:
        raise NotFound("result_not_found", "Result {id} not found", id=doc_id)
    d = dossier_for(session, principal, doc.dossier_code)
    if not dossiers.is_applicant(principal, d):
        audit.record(
            session,
            "procedures.result.read",
            object_type="edata",
            object_id=doc.id,
            subject_id=d.applicant_person_id,
            purpose=f"Giải quyết hồ sơ {d.code}",
        )
    return Response(
        files.read(doc.storage_key),
        media_type=doc.media_type + "; charset=utf-8",
        headers={"X-Checksum-SHA256": doc.sha256},
    )


@router.get(f"{P}/verify/{{token}}", operation_id="verify_result")
def verify_result(token: Annotated[str, Path(max_length=64)], session: ReadSessionDep) -> dict[str, Any]:
    """Public: whether a result carrying this QR token is authentic (no personal data)."""
    doc = session.scalar(select(EDataDocument).where(EDataDocument.verify_token == token))
    if doc is None:
        raise NotFound("result_not_found", "Result {id} not found", id=token[:8])
    data = files.read(doc.storage_key)
    ok = signing.verify(data, doc.signature_b64 or "", doc.certificate_pem or "")
    d = session.scalar(select(Dossier).where(Dossier.code == doc.dossier_code))
    return {
        "valid": ok,
        "sha256": doc.sha256,
        "dossier_code": doc.dossier_code,
        "procedure_code": d.procedure_code if d else None,
        "agency_code": d.agency_code if d else None,
        "issued_at": doc.created_at.isoformat(),
        "title": doc.title,
    }


@router.get(f"{P}/verify/{{token}}/signature.p7s", operation_id="result_signature")
def result_signature(token: Annotated[str, Path(max_length=64)], session: ReadSessionDep) -> Response:
    doc = session.scalar(select(EDataDocument).where(EDataDocument.verify_token == token))
    if doc is None or not doc.signature_b64:
        raise NotFound("result_not_found", "Result {id} not found", id=token[:8])
    return Response(signing.cms_der(doc.signature_b64), media_type="application/pkcs7-signature")
