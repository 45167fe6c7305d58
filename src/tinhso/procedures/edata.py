"""The personal e-data store (kho dữ liệu điện tử của tổ chức, cá nhân) and pre-filling from registries."""

from __future__ import annotations

import importlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.identity.models import Person
from tinhso.identity.principal import Principal
from tinhso.kit import audit
from tinhso.kit.audit import AuditEntry
from tinhso.kit.db import utcnow
from tinhso.kit.errors import DomainError, Forbidden, NotFound, Unprocessable
from tinhso.procedures import files
from tinhso.procedures.models import Attachment, Dossier, EDataDocument

POPULATION_REGISTRY = "citizen"  # the data module's registry of citizens (CSDL dân cư), keyed by personal_id


def owner_id(principal: Principal) -> str:
    if principal.kind != "person":
        raise Forbidden("person_only", "Only a signed-in person has an e-data store")
    return principal.id


def add_document(
    session: Session, principal: Principal, title: str, filename: str, data: bytes, media: str | None
) -> EDataDocument:
    stored = files.store(data, media)
    doc = EDataDocument(
        owner_person_id=owner_id(principal),
        title=title.strip()[:500] or filename,
        kind="upload",
        filename=filename[:255],
        media_type=stored.media_type,
        size=stored.size,
        sha256=stored.sha256,
        storage_key=stored.storage_key,
    )
    session.add(doc)
    session.flush()
    audit.record(
        session,
        "procedures.edata.add",
        object_type="edata_document",
        object_id=doc.id,
        subject_id=doc.owner_person_id,
    )
    return doc


def documents_of(session: Session, principal: Principal) -> list[EDataDocument]:
    return list(
        session.scalars(
            select(EDataDocument)
            .where(EDataDocument.owner_person_id == owner_id(principal), EDataDocument.deleted_at.is_(None))
            .order_by(EDataDocument.created_at.desc())
        )
    )


def own_document(session: Session, principal: Principal, doc_id: str) -> EDataDocument:
    doc = session.get(EDataDocument, doc_id)
    if doc is None or doc.deleted_at is not None or doc.owner_person_id != owner_id(principal):
        raise NotFound("edata_document_not_found", "Document {id} not found in your e-data store", id=doc_id)
    return doc


def delete_document(session: Session, principal: Principal, doc_id: str) -> None:
    doc = own_document(session, principal, doc_id)
    if doc.kind == "result":
        raise Forbidden("result_kept", "Results issued by the province cannot be deleted")
    doc.deleted_at = utcnow()
    audit.record(
        session,
        "procedures.edata.delete",
        object_type="edata_document",
        object_id=doc.id,
        subject_id=doc.owner_person_id,
    )


def attach_with_consent(
    session: Session, principal: Principal, d: Dossier, doc_ids: list[str], components: list[str]
) -> list[Attachment]:
    """Reuse documents of the applicant's store in a dossier; applying with them is the applicant's consent."""
    if len(components) != len(doc_ids):
        raise Unprocessable("components_mismatch", "Name one dossier component per reused document")
    out = []
    for doc_id, component in zip(doc_ids, components, strict=True):
        doc = own_document(session, principal, doc_id)
        att = Attachment(
            dossier_id=d.id,
            component=component,
            filename=doc.filename,
            media_type=doc.media_type,
            size=doc.size,
            sha256=doc.sha256,
            storage_key=doc.storage_key,
            edata_document_id=doc.id,
            uploaded_by=principal.id,
        )
        session.add(att)
        out.append(att)
        audit.record(
            session,
            "procedures.edata.consent",
            object_type="edata_document",
            object_id=doc.id,
            subject_id=doc.owner_person_id,
            purpose=f"Hồ sơ {d.code}",
        )
    if out:
        d.reused_data = True
        d.from_data_store = True
        d.digitised = True
    session.flush()
    return out


def access_log(session: Session, principal: Principal, limit: int = 200) -> list[AuditEntry]:
    """Who read this person's e-data and dossier data, and why (the owner's view)."""
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.subject_id == owner_id(principal), AuditEntry.actor_id != principal.id)
            .order_by(AuditEntry.seq.desc())
            .limit(limit)
        )
    )


def prefill(session: Session, principal: Principal, purpose: str) -> tuple[dict[str, Any], str]:
    """Form values known about the signed-in person: from the population registry through the data
    warehouse when that module is installed, else from the person's identity record. Audited with purpose."""
    if principal.kind != "person":
        raise Forbidden("person_only", "Only a signed-in person has an e-data store")
    person = session.get(Person, principal.id)
    if person is None:
        raise NotFound("person_not_found", "Person not found")
    values: dict[str, Any] = {"applicant_name": person.full_name}
    if person.personal_id:
        values["personal_id"] = person.personal_id
    if person.phone:
        values["phone"] = person.phone
    source = "identity"
    record: dict[str, Any] | None = None
    if person.personal_id:
        try:
            warehouse = importlib.import_module("tinhso.data.warehouse_api")
        except ImportError:
            warehouse = None
        lookup = getattr(warehouse, "lookup_record", None)
        if lookup is not None:
            try:
                record = lookup(
                    session, POPULATION_REGISTRY, "personal_id", person.personal_id, principal, purpose
                )
            except DomainError:
                record = None  # registry not set up or not readable: fall back to the identity record
    if record:
        source = "population"
        for ours, theirs in (
            ("applicant_name", "full_name"),
            ("birth_date", "birth_date"),
            ("address", "address"),
            ("phone", "phone"),
        ):
            if record.get(theirs):
                values[ours] = str(record[theirs])
    audit.record(
        session,
        "procedures.prefill.read",
        object_type="person",
        object_id=person.id,
        subject_id=person.id,
        purpose=purpose,
        detail={"source": source},
    )
    return values, source
