"""Governance API shapes: registered systems, compliance results, roadmap tasks and progress, KPIs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

Status = Literal["planned", "building", "live", "retired"]
Layer = Literal["infrastructure", "data", "application", "channel"]
Hosting = Literal["provincial_dc", "gov_cloud", "national_platform", "agency_premises", "commercial_cloud"]
Integration = Literal["lgsp", "ndxp", "direct", "none"]
SignIn = Literal["shared_sso", "vneid", "own_accounts", "none"]
Backup = Literal["none", "daily", "weekly", "monthly"]
Monitor = Literal["network", "application", "database", "endpoint"]
NationalPlatform = Literal[
    "vneid",
    "ndxp",
    "ndop",
    "dvc_quoc_gia",
    "v_apex",
    "cong_du_lieu_quoc_gia",
    "truc_van_ban",
    "bao_cao_quoc_gia",
    "email_cong_vu",
    "hop_truc_tuyen",
    "csdl_dan_cu",
    "csdl_dat_dai",
    "csdl_doanh_nghiep",
    "csdl_can_bo",
    "ky_so_cong_vu",
    "phong_ve_mang",
    "ai_quoc_gia",
]
Code = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")


class ServiceRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=128)
    openapi_url: HttpUrl | None = None


class SystemBase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=2, max_length=255)
    purpose: str = Field(default="", max_length=4000)
    layer: Layer
    component: str = Field(default="", max_length=128)
    status: Status = "planned"
    security_level: int | None = Field(default=None, ge=1, le=5)
    security_approved: bool = False
    security_approval_ref: str | None = Field(default=None, max_length=255)
    security_approved_on: date | None = None
    hosting: Hosting = "provincial_dc"
    integration: Integration = "lgsp"
    sign_in: SignIn = "shared_sso"
    entities_mastered: list[str] = Field(default_factory=list, max_length=100)
    services_exposed: list[ServiceRef] = Field(default_factory=list, max_length=200)
    services_consumed: list[str] = Field(default_factory=list, max_length=200)
    national_platforms: list[NationalPlatform] = Field(default_factory=list)
    sectoral_software: bool = False
    ministry_consent_ref: str | None = Field(default=None, max_length=255)
    duplicates_platform: str | None = Field(default=None, max_length=64)
    exemption_ref: str | None = Field(default=None, max_length=255)
    holds_important_data: bool = False
    backup_frequency: Backup = "none"
    last_backup_at: datetime | None = None
    monitoring: list[Monitor] = Field(default_factory=list)
    reports_operational_data: bool = False
    contact: str | None = Field(default=None, max_length=255)

    @field_validator("entities_mastered", "services_consumed")
    @classmethod
    def _short_items(cls, v: list[str]) -> list[str]:
        if any(not x or len(x) > 128 for x in v):
            raise ValueError("each item must have 1 to 128 characters")
        return v


class SystemCreate(SystemBase):
    code: str = Code
    agency_code: str | None = Field(
        default=None, max_length=32, description="Defaults to the caller's agency"
    )
    identity_system_id: str | None = Field(default=None, max_length=32)


class SystemUpdate(BaseModel):
    """A partial update; `version` (from the last read) guards against overwriting someone else's change."""

    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1)
    name: str | None = Field(default=None, min_length=2, max_length=255)
    purpose: str | None = Field(default=None, max_length=4000)
    layer: Layer | None = None
    component: str | None = Field(default=None, max_length=128)
    status: Status | None = None
    security_level: int | None = Field(default=None, ge=1, le=5)
    security_approved: bool | None = None
    security_approval_ref: str | None = Field(default=None, max_length=255)
    security_approved_on: date | None = None
    hosting: Hosting | None = None
    integration: Integration | None = None
    sign_in: SignIn | None = None
    entities_mastered: list[str] | None = Field(default=None, max_length=100)
    services_exposed: list[ServiceRef] | None = Field(default=None, max_length=200)
    services_consumed: list[str] | None = Field(default=None, max_length=200)
    national_platforms: list[NationalPlatform] | None = None
    sectoral_software: bool | None = None
    ministry_consent_ref: str | None = Field(default=None, max_length=255)
    duplicates_platform: str | None = Field(default=None, max_length=64)
    exemption_ref: str | None = Field(default=None, max_length=255)
    holds_important_data: bool | None = None
    backup_frequency: Backup | None = None
    last_backup_at: datetime | None = None
    monitoring: list[Monitor] | None = None
    reports_operational_data: bool | None = None
    contact: str | None = Field(default=None, max_length=255)


class ComplianceRead(BaseModel):
    rule_code: str
    section: str
    quote: str
    title: dict[str, str]
    verdict: str
    source: str
    evidence: dict[str, str]
    evidence_data: dict[str, Any]
    remedy: dict[str, str] | None
    evaluated_at: datetime


class SystemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    code: str
    agency_code: str
    identity_system_id: str | None
    name: str
    purpose: str
    layer: str
    component: str
    status: str
    security_level: int | None
    security_approved: bool
    security_approval_ref: str | None
    security_approved_on: date | None
    hosting: str
    integration: str
    sign_in: str
    entities_mastered: list[str]
    services_exposed: list[dict[str, Any]]
    services_consumed: list[str]
    national_platforms: list[str]
    sectoral_software: bool
    ministry_consent_ref: str | None
    duplicates_platform: str | None
    exemption_ref: str | None
    holds_important_data: bool
    backup_frequency: str
    last_backup_at: datetime | None
    monitoring: list[str]
    reports_operational_data: bool
    contact: str | None
    version: int
    compliance_checked_at: datetime | None
    compliance_failed: int
    created_at: datetime
    updated_at: datetime


class SystemReport(BaseModel):
    system: SystemRead
    results: list[ComplianceRead]
    summary: dict[str, int]


class AgencyReport(BaseModel):
    agency_code: str
    systems: int
    compliant: int
    verdicts: dict[str, int]
    by_rule: dict[str, dict[str, int]]
    items: list[SystemReport]


class RuleRead(BaseModel):
    code: str
    section: str
    quote: str
    title: dict[str, str]
    remedy: dict[str, str]


class TaskAgencyRead(BaseModel):
    agency_code: str
    role: str


class TaskRead(BaseModel):
    id: str
    code: str
    section: str
    section_title: str
    group: str
    number: str
    parent_number: str
    title: str
    lead_text: str
    coordinating_text: str
    deadline_text: str
    start_on: date | None
    due_on: date | None
    recurrence: str
    agencies: list[TaskAgencyRead]
    collectives: list[dict[str, str]]
    unmatched: list[dict[str, str]]
    status: str
    percent: int
    late: bool
    last_reported_at: datetime | None


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=255)
    url: HttpUrl | None = None
    reference: str | None = Field(
        default=None, max_length=255, description="Document number, e.g. 123/QĐ-UBND"
    )
    file_id: str | None = Field(
        default=None,
        max_length=32,
        description="An evidence file uploaded for this task by POST /governance/tasks/{id}/evidence",
    )


class EvidenceFileRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    task_id: str
    progress_id: str | None
    agency_code: str | None
    title: str
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime


class ProgressCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["not_started", "in_progress", "done", "blocked"]
    percent: int = Field(ge=0, le=100)
    comment: str = Field(default="", max_length=4000)
    evidence: list[Evidence] = Field(default_factory=list, max_length=20)


class ProgressRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    task_id: str
    agency_code: str | None
    reported_by: str | None
    status: str
    percent: int
    comment: str
    evidence: list[dict[str, Any]]
    created_at: datetime


class KpiRead(BaseModel):
    code: str
    group: str
    group_name: str
    name: str
    unit: str
    direction: str
    target: float | None
    alert_threshold: float | None
    frequency: str
    formula: str
    measures: list[str]
    value: float | None
    status: str  # computed, not_measured, failed, not_computed
    reason: str | None
    target_status: str
    period_start: datetime | None
    period_end: datetime | None
    computed_at: datetime | None


class KpiPoint(BaseModel):
    period_start: datetime
    period_end: datetime
    value: float | None
    status: str
    reason: str | None
    provenance: dict[str, Any]


class KpiSeries(BaseModel):
    code: str
    unit: str
    points: list[KpiPoint]


class KpiRunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    computed: int
    not_measured: int
    failed: int


class CommuneValue(BaseModel):
    code: str
    name: str
    agency_code: str | None
    value: float | None
    row: int
    col: int
    latitude: float | None
    longitude: float | None


class CommuneMap(BaseModel):
    measure: str
    layout: str  # coordinates or grid
    since: datetime
    until: datetime
    items: list[CommuneValue]


class AlertRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    topic: str
    severity: str
    title: str
    agency_code: str | None
    commune_code: str | None
    occurred_at: datetime
