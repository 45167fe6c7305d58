"""Assistant tables: internal documents, the knowledge-index version, the answer log, the AI register."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tinhso.kit.db import Base, IdMixin, TimestampMixin, UTCDateTime, utcnow


class KnowledgeDocument(Base, IdMixin, TimestampMixin):
    """An internal rules document (quy chế, hướng dẫn nội bộ) uploaded by an agency; answered to officials."""

    __tablename__ = "assistant_document"
    agency_code: Mapped[str] = mapped_column(ForeignKey("identity_agency.code"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    format: Mapped[str] = mapped_column(String(16))  # text, markdown
    content: Mapped[str] = mapped_column(Text)
    visibility: Mapped[str] = mapped_column(String(16), default="agency")  # agency, province
    uploaded_by: Mapped[str] = mapped_column(String(32))
    content_hash: Mapped[str] = mapped_column(String(64))


class IndexState(Base):
    """A random token that changes whenever the knowledge changes; processes rebuild their index on change."""

    __tablename__ = "assistant_index_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(128))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AnswerLog(Base, IdMixin):
    """One question and the answer given, with the sources it was built from (personal data masked)."""

    __tablename__ = "assistant_answer"
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    session_id: Mapped[str | None] = mapped_column(String(64), index=True)
    principal_kind: Mapped[str | None] = mapped_column(String(16))
    principal_id: Mapped[str | None] = mapped_column(String(32))
    audience: Mapped[str] = mapped_column(String(16))  # public, officials
    question: Mapped[str] = mapped_column(Text)  # masked
    restored: Mapped[str] = mapped_column(Text)  # masked, with restored diacritics
    language: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), index=True)  # answered, unknown, refused
    reason: Mapped[str | None] = mapped_column(String(64))
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    answer: Mapped[str] = mapped_column(Text)
    sources: Mapped[list[Any]] = mapped_column(default=list)
    agency_code: Mapped[str | None] = mapped_column(String(32), index=True)  # agency of the top source
    llm_used: Mapped[bool] = mapped_column(Boolean, default=False)
    elapsed_ms: Mapped[float] = mapped_column(Float, default=0.0)


class AISystem(Base, IdMixin, TimestampMixin):
    """An AI system used in the province (Sổ đăng ký hệ thống AI), with its risk level and the reasons."""

    __tablename__ = "assistant_ai_system"
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    owner_agency_code: Mapped[str] = mapped_column(ForeignKey("identity_agency.code"), index=True)
    purpose: Mapped[str] = mapped_column(Text)
    data_used: Mapped[list[Any]] = mapped_column(default=list)
    personal_data: Mapped[str] = mapped_column(String(16))  # none, personal, sensitive
    decision_role: Mapped[str] = mapped_column(String(16))  # informs, assists, decides
    affected: Mapped[list[Any]] = mapped_column(default=list)  # citizens, businesses, officials, vulnerable
    prohibited_practices: Mapped[list[Any]] = mapped_column(default=list)
    risk_level: Mapped[str] = mapped_column(String(16), index=True)  # minimal, limited, high, unacceptable
    risk_reasons: Mapped[list[Any]] = mapped_column(default=list)
    human_oversight: Mapped[str] = mapped_column(Text)
    transparency_note: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="active")  # planned, active, retired
    version: Mapped[int] = mapped_column(Integer, default=1)


class FaqEntry(Base, IdMixin, TimestampMixin):
    """A frequently asked question and its answer, written by an agency; published ones are public knowledge."""

    __tablename__ = "assistant_faq"
    agency_code: Mapped[str] = mapped_column(ForeignKey("identity_agency.code"), index=True)
    question: Mapped[str] = mapped_column(String(500))
    answer: Mapped[str] = mapped_column(Text)
    published: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=1)
