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
from tinhso.procedures import files, organisations
from tinhso.procedures.models import Attachment, Dossier, EDataDocument

POPULATION_REGISTRY = "citizen"  # the data module's registry of citizens (CSDL dân cư), keyed by personal_id


def owner_id(principal: Principal) -> str:
    if principal.kind != "person":
        raise Forbidden("person_only", "Only a signed-in person has an e-data store")
    return principal.id


def add_document(
    session: Session,
    principal: Principal,
    title: str,
    filename: str,
    data: bytes,
    media: str | None,
    organisation: str | None = None,
) -> EDataDocument:
    """Add a document to the caller's store, or to the store of an organisation the caller acts for."""
    person = owner_id(principal)
    if organisation:
        organisations.require_member(session, principal, organisation)
    stored = files.store(data, media)
    doc = EDataDocument(
        owner_person_id=person,
        organisation_code=organisation or None,
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
        subject_id=subject_of(doc),
    )
    return doc


def subject_of(doc: EDataDocument) -> str:
    """Whose data the document is: the organisation's, or the person's."""
    return organisations.subject(doc.organisation_code) if doc.organisation_code else doc.owner_person_id


def documents_of(
    session: Session, principal: Principal, organisation: str | None = None
) -> list[EDataDocument]:
    """The caller's own documents, or those of an organisation the caller acts for."""
    stmt = select(EDataDocument).where(EDataDocument.deleted_at.is_(None))
    if organisation:
        organisations.require_member(session, principal, organisation)
        stmt = stmt.where(EDataDocument.organisation_code == organisation)
    else:
        stmt = stmt.where(
            EDataDocument.owner_person_id == owner_id(principal), EDataDocument.organisation_code.is_(None)
        )
    return list(session.scalars(stmt.order_by(EDataDocument.created_at.desc())))


def own_document(session: Session, principal: Principal, doc_id: str) -> EDataDocument:
    doc = session.get(EDataDocument, doc_id)
    person = owner_id(principal)
    if doc is not None and doc.deleted_at is None:
        if doc.organisation_code:
            if organisations.membership(session, principal, doc.organisation_code) is not None:
                return doc
        elif doc.owner_person_id == person:
            return doc
    raise NotFound("edata_document_not_found", "Document {id} not found in your e-data store", id=doc_id)


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
        subject_id=subject_of(doc),
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
        if doc.organisation_code != d.applicant_organisation_code:
            # An organisation's documents serve its own dossiers; a person's serve his or her own.
            raise NotFound(
                "edata_document_not_found", "Document {id} not found in your e-data store", id=doc_id
            )
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
            subject_id=subject_of(doc),
            purpose=f"Hồ sơ {d.code}",
        )
    if out:
        d.reused_data = True
        d.from_data_store = True
        d.digitised = True
    session.flush()
    return out


def access_log(
    session: Session, principal: Principal, limit: int = 200, organisation: str | None = None
) -> list[AuditEntry]:
    """Who read this person's (or organisation's) e-data and dossier data, and why (the owner's view)."""
    subject = owner_id(principal)
    if organisation:
        organisations.require_member(session, principal, organisation)
        subject = organisations.subject(organisation)
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.subject_id == subject, AuditEntry.actor_id != principal.id)
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
