"""Governance tables: the registry of information systems, compliance verdicts, the roadmap, KPIs and alerts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tinhso.kit.db import Base, IdMixin, TimestampMixin, UTCDateTime, utcnow

SYSTEM_STATUSES = ("planned", "building", "live", "retired")
LAYERS = ("infrastructure", "data", "application", "channel")
HOSTINGS = ("provincial_dc", "gov_cloud", "national_platform", "agency_premises", "commercial_cloud")
INTEGRATIONS = ("lgsp", "ndxp", "direct", "none")
SIGN_INS = ("shared_sso", "vneid", "own_accounts", "none")
MONITORING = ("network", "application", "database", "endpoint")
TASK_STATUSES = ("not_started", "in_progress", "done", "blocked")


class RegisteredSystem(Base, IdMixin, TimestampMixin):
    """An information system (HTTT) in the province's registry, declared by its owner agency."""

    __tablename__ = "governance_system"
    __table_args__ = (UniqueConstraint("agency_code", "code"),)
    code: Mapped[str] = mapped_column(String(64))
    agency_code: Mapped[str] = mapped_column(ForeignKey("identity_agency.code"), index=True)
    identity_system_id: Mapped[str | None] = mapped_column(
        ForeignKey("identity_system.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    purpose: Mapped[str] = mapped_column(Text, default="")
    layer: Mapped[str] = mapped_column(String(32))
    component: Mapped[str] = mapped_column(String(128), default="")
    status: Mapped[str] = mapped_column(String(16), default="planned", index=True)
    security_level: Mapped[int | None] = mapped_column(Integer)  # cấp độ 1-5, Nghị định 85/2016/NĐ-CP
    security_approved: Mapped[bool] = mapped_column(Boolean, default=False)
    security_approval_ref: Mapped[str | None] = mapped_column(String(255))
    security_approved_on: Mapped[date | None] = mapped_column(Date)
    hosting: Mapped[str] = mapped_column(String(32), default="provincial_dc")
    integration: Mapped[str] = mapped_column(String(16), default="lgsp")
    sign_in: Mapped[str] = mapped_column(String(16), default="shared_sso")
    entities_mastered: Mapped[list[Any]] = mapped_column(default=list)
    services_exposed: Mapped[list[Any]] = mapped_column(default=list)  # [{"code", "openapi_url"}]
    services_consumed: Mapped[list[Any]] = mapped_column(default=list)
    national_platforms: Mapped[list[Any]] = mapped_column(default=list)
    sectoral_software: Mapped[bool] = mapped_column(Boolean, default=False)
    ministry_consent_ref: Mapped[str | None] = mapped_column(String(255))
    duplicates_platform: Mapped[str | None] = mapped_column(String(64))
    exemption_ref: Mapped[str | None] = mapped_column(String(255))
    holds_important_data: Mapped[bool] = mapped_column(Boolean, default=False)
    backup_frequency: Mapped[str] = mapped_column(String(16), default="none")
    last_backup_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    monitoring: Mapped[list[Any]] = mapped_column(default=list)
    reports_operational_data: Mapped[bool] = mapped_column(Boolean, default=False)
    contact: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer, default=1)
    search_text: Mapped[str] = mapped_column(Text, default="")
    compliance_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    compliance_failed: Mapped[int] = mapped_column(Integer, default=0)
    results: Mapped[list[ComplianceResult]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="ComplianceResult.rule_code"
    )


class ComplianceResult(Base, IdMixin):
    """The latest verdict of one rule on one system, with its evidence and where the evidence came from."""

    __tablename__ = "governance_compliance"
    __table_args__ = (UniqueConstraint("system_id", "rule_code"),)
    system_id: Mapped[str] = mapped_column(ForeignKey("governance_system.id", ondelete="CASCADE"), index=True)
    rule_code: Mapped[str] = mapped_column(String(16))
    verdict: Mapped[str] = mapped_column(String(16))  # pass, fail, warn, not_applicable
    source: Mapped[str] = mapped_column(String(16))  # live, declared, mixed
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RoadmapTask(Base, IdMixin, TimestampMixin):
    """A task of the framework's roadmap (section 2.1 of the decision), with its normalised deadline."""

    __tablename__ = "governance_task"
    code: Mapped[str] = mapped_column(String(32), unique=True)  # e.g. "IV.2.24"
    ordinal: Mapped[int] = mapped_column(Integer)
    section: Mapped[str] = mapped_column(String(16), index=True)
    section_title: Mapped[str] = mapped_column(Text)
    group: Mapped[str] = mapped_column(String(8))
    group_title: Mapped[str] = mapped_column(Text)
    number: Mapped[str] = mapped_column(String(16), default="")
    parent_number: Mapped[str] = mapped_column(String(16), default="")
    title: Mapped[str] = mapped_column(Text)
    lead_text: Mapped[str] = mapped_column(Text, default="")
    coordinating_text: Mapped[str] = mapped_column(Text, default="")
    deadline_text: Mapped[str] = mapped_column(String(255), default="")
    start_on: Mapped[date | None] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)
    recurrence: Mapped[str] = mapped_column(String(16), default="once")  # once, annual, continuous, guided
    unmatched: Mapped[list[Any]] = mapped_column(default=list)  # [{"role", "text"}] matching no agency
    collectives: Mapped[list[Any]] = mapped_column(default=list)  # [{"role", "group"}]: "all departments"
    status: Mapped[str] = mapped_column(String(16), default="not_started")
    percent: Mapped[int] = mapped_column(Integer, default=0)
    last_reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    overdue_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    search_text: Mapped[str] = mapped_column(Text, default="")
    agencies: Mapped[list[TaskAgency]] = relationship(lazy="raise", cascade="all, delete-orphan")


class TaskAgency(Base):
    """An agency leading (chủ trì) or coordinating (phối hợp) a roadmap task."""

    __tablename__ = "governance_task_agency"
    __table_args__ = (UniqueConstraint("task_id", "agency_code", "role"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("governance_task.id", ondelete="CASCADE"), index=True)
    agency_code: Mapped[str] = mapped_column(ForeignKey("identity_agency.code"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # lead, coordinating


class TaskProgress(Base, IdMixin):
    """A progress report on a task by one of its agencies: status, percent, comment and evidence."""

    __tablename__ = "governance_task_progress"
    __table_args__ = (UniqueConstraint("task_id", "idempotency_key"),)
    task_id: Mapped[str] = mapped_column(ForeignKey("governance_task.id", ondelete="CASCADE"), index=True)
    agency_code: Mapped[str | None] = mapped_column(String(32))
    reported_by: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    percent: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[list[Any]] = mapped_column(default=list)  # [{"title", "url"}]
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class EvidenceFile(Base, IdMixin):
    """A file an agency uploaded as evidence of its progress on a task (kept in the database, checksummed)."""

    __tablename__ = "governance_evidence_file"
    task_id: Mapped[str] = mapped_column(ForeignKey("governance_task.id", ondelete="CASCADE"), index=True)
    progress_id: Mapped[str | None] = mapped_column(
        ForeignKey("governance_task_progress.id", ondelete="SET NULL"), index=True
    )
    agency_code: Mapped[str | None] = mapped_column(String(32), index=True)
    uploaded_by: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(255))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KpiDefinition(Base, TimestampMixin):
    """A KPI of the framework (section IV.1): group, formula over measures, unit, direction, target."""

    __tablename__ = "governance_kpi"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    group: Mapped[str] = mapped_column(String(32), index=True)
    name_vi: Mapped[str] = mapped_column(String(255))
    name_en: Mapped[str] = mapped_column(String(255))
    unit: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(8))  # up (higher is better), down
    target: Mapped[float | None] = mapped_column(Float)
    alert_threshold: Mapped[float | None] = mapped_column(Float)
    frequency: Mapped[str] = mapped_column(String(16))  # hourly, daily, monthly
    formula: Mapped[str] = mapped_column(Text)  # the formula as people read it
    measures: Mapped[list[Any]] = mapped_column(default=list)
    ordinal: Mapped[int] = mapped_column(Integer, default=0)


class KpiRun(Base, IdMixin):
    """One computation of every KPI (schedule, CLI or on demand)."""

    __tablename__ = "governance_kpi_run"
    trigger: Mapped[str] = mapped_column(String(16))
    computed_for: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # the moment the values describe
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    computed: Mapped[int] = mapped_column(Integer, default=0)
    not_measured: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)


class KpiValue(Base, IdMixin):
    """A KPI's value for one period (province-wide), with the status and the measures it came from."""

    __tablename__ = "governance_kpi_value"
    __table_args__ = (
        UniqueConstraint("kpi_code", "period_start", "period_end"),
        Index("ix_governance_kpi_value_code_end", "kpi_code", "period_end"),
    )
    kpi_code: Mapped[str] = mapped_column(ForeignKey("governance_kpi.code", ondelete="CASCADE"), index=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("governance_kpi_run.id", ondelete="CASCADE"), index=True)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    value: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))  # computed, not_measured, failed
    reason: Mapped[str | None] = mapped_column(Text)
    provenance: Mapped[dict[str, Any]] = mapped_column(default=dict)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Alert(Base, IdMixin):
    """An alert shown on the IOC, received from another module's event."""

    __tablename__ = "governance_alert"
    event_id: Mapped[str] = mapped_column(String(32), unique=True)
    topic: Mapped[str] = mapped_column(String(128), index=True)
    severity: Mapped[str] = mapped_column(String(16), default="warning")
    title: Mapped[str] = mapped_column(Text)
    agency_code: Mapped[str | None] = mapped_column(String(32), index=True)
    commune_code: Mapped[str | None] = mapped_column(String(5), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
