"""Issuing results: a signed result document delivered into the applicant's e-data store, with a QR code."""

from __future__ import annotations

import secrets

from sqlalchemy.orm import Session

from tinhso.identity.models import Agency
from tinhso.kit import audit
from tinhso.procedures import files, signing
from tinhso.procedures.calendar import TZ
from tinhso.procedures.models import Dossier, EDataDocument, Procedure
from tinhso.settings import get_settings


def verify_url(token: str) -> str:
    return f"{get_settings().base_url.rstrip('/')}/xac-thuc/{token}"


def result_text(session: Session, d: Dossier, proc: Procedure, result_code: str) -> str:
    agency = session.get(Agency, d.agency_code)
    return (
        f"{agency.name if agency else d.agency_code}\n"
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM - Độc lập - Tự do - Hạnh phúc\n\n"
        f"KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH\nSố: {result_code}\n\n"
        f"Thủ tục: {proc.name} ({proc.code})\n"
        f"Hồ sơ: {d.code}\n"
        f"Người yêu cầu: {d.applicant_name}\n"
        f"Ngày tiếp nhận: {d.received_at.astimezone(TZ):%d/%m/%Y}\n"
        f"Ngày ký: {(d.finished_at or d.received_at).astimezone(TZ):%d/%m/%Y}\n\n"
        "Hồ sơ đủ điều kiện; cơ quan có thẩm quyền chấp thuận yêu cầu theo quy định.\n"
    )


def issue_result(session: Session, d: Dossier, proc: Procedure) -> EDataDocument:
    """Create, sign and file the result; it lands in the applicant's e-data store when the applicant has one."""
    result_code = f"KQ-{d.code}"
    data = result_text(session, d, proc, result_code).encode()
    stored = files.store(data, "text/plain")
    signature, cert = signing.sign(data)
    doc = EDataDocument(
        owner_person_id=d.applicant_person_id or f"dossier:{d.id}"[:32],
        organisation_code=d.applicant_organisation_code,
        title=f"Kết quả: {proc.name}",
        kind="result",
        filename=f"{result_code}.txt",
        media_type=stored.media_type,
        size=stored.size,
        sha256=stored.sha256,
        storage_key=stored.storage_key,
        dossier_code=d.code,
        signature_b64=signature,
        certificate_pem=cert,
        verify_token=secrets.token_urlsafe(24),
    )
    session.add(doc)
    session.flush()
    d.result_code = result_code
    d.result_document_id = doc.id
    d.digitised = True
    audit.record(
        session,
        "procedures.result.issue",
        object_type="dossier",
        object_id=d.code,
        detail={"document": doc.id, "sha256": stored.sha256},
    )
    return doc
