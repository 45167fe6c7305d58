"""Procedure catalog (TTHC), dossiers (hồ sơ), working-day calendar, e-data store, fees and portal sync."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tinhso.kit.db import Base, IdMixin, TimestampMixin, UTCDateTime


class Procedure(Base, TimestampMixin):
    """An administrative procedure (thủ tục hành chính) as published for the province."""

    __tablename__ = "procedures_procedure"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)  # mã TTHC, e.g. 1.001193
    name: Mapped[str] = mapped_column(String(500))
    field: Mapped[str] = mapped_column(String(128), index=True)  # lĩnh vực
    level: Mapped[str] = mapped_column(String(8), index=True)  # tinh | xa
    # Competent agency; None for commune-level procedures (each commune's UBND settles its own).
    agency_code: Mapped[str | None] = mapped_column(ForeignKey("identity_agency.code"), index=True)
    time_limit_value: Mapped[int] = mapped_column(Integer)
    time_limit_unit: Mapped[str] = mapped_column(String(16), default="working_days")  # or working_hours
    fees: Mapped[list[Any]] = mapped_column(default=list)  # [{"name", "amount_vnd"}]
    subjects: Mapped[list[Any]] = mapped_column(default=list)  # ["individual", "organisation"]
    components: Mapped[list[Any]] = mapped_column(default=list)  # [{"name","copies","obtainable_from_data"}]
    form_schema: Mapped[dict[str, Any]] = mapped_column(default=dict)  # JSON Schema of the application form
    workflow: Mapped[list[Any]] = mapped_column(default=list)  # [{"name","role","share"}]
    where_to_apply: Mapped[str] = mapped_column(Text, default="")
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    steps_text: Mapped[str] = mapped_column(Text, default="")  # trình tự thực hiện
    method_text: Mapped[str] = mapped_column(Text, default="")  # cách thức thực hiện
    online: Mapped[str] = mapped_column(String(8), default="partial")  # full | partial | none
    result_document: Mapped[bool] = mapped_column(Boolean, default=True)  # issues a documentary result
    fee_online_synced: Mapped[bool] = mapped_column(Boolean, default=False)  # fee data synced to DVCQG
    population_data: Mapped[bool] = mapped_column(Boolean, default=False)  # uses the population database
    decision_date: Mapped[date | None] = mapped_column(Date)  # QĐ công bố
    effective_date: Mapped[date | None] = mapped_column(Date)  # legal basis takes effect
    disclosed_date: Mapped[date | None] = mapped_column(Date)  # made public on CSDL QG TTHC
    status: Mapped[str] = mapped_column(String(16), default="published")  # published | closed
    search_text: Mapped[str] = mapped_column(Text, default="")


class CalendarDay(Base, TimestampMixin):
    """A province-announced exception to the national calendar: an extra day off or a make-up working day."""

    __tablename__ = "procedures_calendar_day"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # off | work
    note: Mapped[str] = mapped_column(Text, default="")


class DossierCounter(Base):
    """The last sequence number used by a receiving unit on a day (XXXX of the dossier code)."""

    __tablename__ = "procedures_dossier_counter"
    unit_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[str] = mapped_column(String(6), primary_key=True)  # YYMMDD
    last: Mapped[int] = mapped_column(Integer, default=0)


OPEN_SQL = "status IN ('received', 'assigned', 'in_review', 'for_signature', 'supplement_requested')"


class Dossier(Base, IdMixin, TimestampMixin):
    """A dossier (hồ sơ TTHC) with the fields the national public-service portal (DVCQG) synchronises."""

    __tablename__ = "procedures_dossier"
    __table_args__ = (
        Index("ix_procedures_dossier_queue", "agency_code", "status", "due_at"),
        Index("ix_procedures_dossier_received", "received_at"),
        Index("ix_procedures_dossier_commune_received", "commune_code", "received_at"),
        Index("ix_procedures_dossier_finished", "finished_at"),
        # The officials' work queue: open dossiers of an agency by due date (a small partial index).
        Index(
            "ix_procedures_dossier_open_queue",
            "agency_code",
            "due_at",
            postgresql_where=text(OPEN_SQL),
            sqlite_where=text(OPEN_SQL),
        ),
    )
    code: Mapped[str] = mapped_column(String(40), unique=True)  # MaHoSo, Circular 01/2018 Art. 19
    procedure_code: Mapped[str] = mapped_column(ForeignKey("procedures_procedure.code"), index=True)
    receiving_agency_code: Mapped[str] = mapped_column(String(32))  # where it was received
    agency_code: Mapped[str] = mapped_column(String(32))  # competent agency it was routed to
    commune_code: Mapped[str | None] = mapped_column(String(5))  # commune of the receiving/competent unit
    applicant_person_id: Mapped[str | None] = mapped_column(String(32), index=True)
    applicant_personal_id: Mapped[str | None] = mapped_column(String(12), index=True)
    applicant_name: Mapped[str] = mapped_column(String(255))
    applicant_kind: Mapped[str] = mapped_column(String(16), default="individual")
    # The organisation the applicant acts for (applicant_kind "organisation"); its e-data store gets the result.
    applicant_organisation_code: Mapped[str | None] = mapped_column(String(20), index=True)
    channel: Mapped[int] = mapped_column(Integer, default=1)  # KenhThucHien: 1 in person, 2 online, 3 postal
    status: Mapped[str] = mapped_column(String(24), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    form_data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)  # NgayTiepNhan
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)  # NgayHenTra (moves while paused)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # NgayKetThucXuLy
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_seconds: Mapped[int] = mapped_column(BigInteger, default=0)  # time waiting for the citizen
    supplement_count: Mapped[int] = mapped_column(Integer, default=0)
    step_index: Mapped[int] = mapped_column(Integer, default=0)
    assigned_to: Mapped[str | None] = mapped_column(String(32))
    fee_total: Mapped[int] = mapped_column(BigInteger, default=0)
    payment_status: Mapped[str] = mapped_column(
        String(16), default="none"
    )  # none|pending|paid|failed|refunded
    paid_online: Mapped[int] = mapped_column(Integer, default=0)  # DuocThanhToanTrucTuyen 0/1/2
    digitised: Mapped[bool] = mapped_column(Boolean, default=False)  # HoSoCoThanhPhanSoHoa
    reused_data: Mapped[bool] = mapped_column(Boolean, default=False)  # component flagged DuocSoHoa reused
    from_data_store: Mapped[bool] = mapped_column(Boolean, default=False)  # DuocLayTuKhoDMQG
    vneid_verified: Mapped[bool] = mapped_column(Boolean, default=False)  # TaiKhoanDuocXacThucVoiVNeID
    population_data: Mapped[bool] = mapped_column(Boolean, default=False)
    result_code: Mapped[str | None] = mapped_column(String(64))  # MaKetQua
    result_document_id: Mapped[str | None] = mapped_column(String(32))  # DuongDanTepTinKetQua
    rating: Mapped[int | None] = mapped_column(Integer)  # 1..5
    complaint: Mapped[bool] = mapped_column(Boolean, default=False)  # PAKN or dislike
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    apology_text: Mapped[str | None] = mapped_column(Text)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")

    # Optimistic concurrency: every ORM update carries "WHERE version = <the version read>".
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}


class DossierHistory(Base):
    """One transition of a dossier."""

    __tablename__ = "procedures_dossier_history"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    dossier_id: Mapped[str] = mapped_column(
        ForeignKey("procedures_dossier.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    actor_id: Mapped[str | None] = mapped_column(String(32))
    actor_agency_code: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")


class Attachment(Base, IdMixin, TimestampMixin):
    """A document of a dossier: uploaded (checked, checksummed) or reused from the e-data store."""

    __tablename__ = "procedures_attachment"
    dossier_id: Mapped[str] = mapped_column(
        ForeignKey("procedures_dossier.id", ondelete="CASCADE"), index=True
    )
    component: Mapped[str] = mapped_column(String(500))
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(128))
    edata_document_id: Mapped[str | None] = mapped_column(String(32))
    uploaded_by: Mapped[str | None] = mapped_column(String(32))


class EDataDocument(Base, IdMixin, TimestampMixin):
    """A document in a person's or organisation's e-data store (kho dữ liệu điện tử)."""

    __tablename__ = "procedures_edata_document"
    # A person's own document, or (organisation_code set) a document of the organisation's store that this
    # person added or received for it.
    owner_person_id: Mapped[str] = mapped_column(String(32), index=True)
    organisation_code: Mapped[str | None] = mapped_column(String(20), index=True)
    title: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(16))  # upload | result
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(128))
    dossier_code: Mapped[str | None] = mapped_column(String(40))
    signature_b64: Mapped[str | None] = mapped_column(Text)  # detached signature over the file
    certificate_pem: Mapped[str | None] = mapped_column(Text)
    verify_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Payment(Base, IdMixin, TimestampMixin):
    """A fee payment of a dossier through a payment provider."""

    __tablename__ = "procedures_payment"
    __table_args__ = (UniqueConstraint("provider", "provider_ref"),)
    dossier_id: Mapped[str] = mapped_column(
        ForeignKey("procedures_dossier.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    provider_ref: Mapped[str] = mapped_column(String(64))
    amount_vnd: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))  # pending | paid | failed | refunded
    reconciled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class SyncRecord(Base, IdMixin, TimestampMixin):
    """A dossier sync record for the national public-service portal (DVCQG), with its delivery state."""

    __tablename__ = "procedures_sync_record"
    event_id: Mapped[str] = mapped_column(String(32), unique=True)
    dossier_code: Mapped[str] = mapped_column(String(40), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending|sent|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    remote_ref: Mapped[str | None] = mapped_column(String(64))


class Feedback(Base, IdMixin, TimestampMixin):
    """A citizen's feedback or petition (phản ánh, kiến nghị — PAKN) on a dossier or an agency's service."""

    __tablename__ = "procedures_feedback"
    __table_args__ = (Index("ix_procedures_feedback_agency_received", "agency_code", "received_at"),)
    code: Mapped[str] = mapped_column(String(24), unique=True)  # PAKN-YYMMDD-XXXXXX
    agency_code: Mapped[str] = mapped_column(String(32))  # agency that must handle it
    commune_code: Mapped[str | None] = mapped_column(String(5), index=True)
    dossier_code: Mapped[str | None] = mapped_column(String(40), index=True)
    category: Mapped[str] = mapped_column(String(24))  # feedback.CATEGORIES
    title: Mapped[str] = mapped_column(String(300))
    content: Mapped[str] = mapped_column(Text)
    submitter_person_id: Mapped[str | None] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(24), index=True)  # feedback.STATUSES
    version: Mapped[int] = mapped_column(Integer, default=1)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    rejected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    supplement_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    supplemented_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handler_id: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")  # refusal or supplement request
    supplement: Mapped[str] = mapped_column(Text, default="")  # the citizen's additions
    answer: Mapped[str] = mapped_column(Text, default="")
    satisfied: Mapped[bool | None] = mapped_column(Boolean)  # the citizen's like (True) / dislike (False)

    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}


class Organisation(Base, TimestampMixin):
    """An organisation (tổ chức, doanh nghiệp) with an e-data store, identified by its enterprise/tax code."""

    __tablename__ = "procedures_organisation"
    code: Mapped[str] = mapped_column(String(20), primary_key=True)  # mã số doanh nghiệp / mã định danh
    name: Mapped[str] = mapped_column(String(500))
    address: Mapped[str] = mapped_column(Text, default="")
    verified_by: Mapped[str | None] = mapped_column(String(32))  # the official who checked the papers


class OrganisationMember(Base, IdMixin, TimestampMixin):
    """A person who may act for an organisation: its legal representative or someone he or she authorised."""

    __tablename__ = "procedures_organisation_member"
    __table_args__ = (UniqueConstraint("organisation_code", "person_id"),)
    organisation_code: Mapped[str] = mapped_column(
        ForeignKey("procedures_organisation.code", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[str] = mapped_column(String(32), index=True)
    role: Mapped[str] = mapped_column(String(16))  # representative | authorised
    granted_by: Mapped[str | None] = mapped_column(String(32))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
