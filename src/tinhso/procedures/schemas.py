"""API shapes of the procedures module."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ProcedureRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    name: str
    field: str
    level: str
    agency_code: str | None
    time_limit_value: int
    time_limit_unit: str
    time_limit_text: str = ""
    fees: list[dict[str, Any]]
    subjects: list[str]
    components: list[dict[str, Any]]
    where_to_apply: str
    legal_basis: str
    online: str
    status: str


class ProcedureDetail(ProcedureRead):
    form_schema: dict[str, Any]
    workflow: list[dict[str, Any]]
    steps_text: str
    method_text: str


class DossierCreate(BaseModel):
    procedure_code: str = Field(max_length=32)
    form: dict[str, Any]
    channel: int = Field(default=2, ge=1, le=3, description="KenhThucHien: 1 in person, 2 online, 3 postal")
    commune_code: str | None = Field(
        default=None, pattern=r"^\d{5}$", description="Commune that settles a commune-level procedure"
    )
    edata_document_ids: list[str] = Field(
        default=[], max_length=20, description="Documents reused from your e-data store (consent)"
    )
    edata_components: list[str] = Field(default=[], max_length=20)
    prefilled: bool = Field(default=False, description="The form was pre-filled from the population registry")
    organisation_code: str | None = Field(
        default=None, max_length=20, description="Apply for an organisation you act for (its enterprise code)"
    )


class TransitionIn(BaseModel):
    action: str = Field(max_length=32)
    version: int = Field(ge=1)
    note: str = Field(default="", max_length=2000)


class RatingIn(BaseModel):
    rating: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=1000)


class HistoryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    at: datetime
    action: str
    from_status: str | None
    to_status: str
    note: str


class AttachmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    component: str
    filename: str
    media_type: str
    size: int
    sha256: str
    edata_document_id: str | None


class DossierRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    procedure_code: str
    receiving_agency_code: str
    agency_code: str
    commune_code: str | None
    applicant_name: str
    applicant_kind: str = "individual"
    applicant_organisation_code: str | None = None
    channel: int
    status: str
    version: int
    received_at: datetime
    due_at: datetime
    finished_at: datetime | None
    returned_at: datetime | None
    supplement_count: int
    fee_total: int
    payment_status: str
    paid_online: int
    overdue: bool
    result_code: str | None
    result_document_id: str | None
    rating: int | None
    note: str


class DossierDetail(DossierRead):
    form_data: dict[str, Any]
    apology_text: str | None
    history: list[HistoryRead] = []
    attachments: list[AttachmentRead] = []
    actions: list[str] = []


class PublicStatus(BaseModel):
    """What anyone may see of a dossier: no name, no form, no documents."""

    code: str
    procedure_code: str
    procedure_name: str
    agency_name: str
    status: str
    status_text: str
    received_at: datetime
    due_at: datetime
    finished_at: datetime | None


class EDataRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    title: str
    kind: str
    filename: str
    media_type: str
    size: int
    sha256: str
    dossier_code: str | None
    organisation_code: str | None = None
    verify_token: str | None
    created_at: datetime


class AccessLogRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    at: datetime
    actor_type: str
    actor_id: str | None
    agency_code: str | None
    action: str
    object_id: str | None
    purpose: str | None


class CalendarDayIn(BaseModel):
    day: date
    kind: str = Field(pattern="^(off|work)$")
    note: str = Field(default="", max_length=500)


class CalendarDayRead(CalendarDayIn):
    model_config = ConfigDict(from_attributes=True)


class PaymentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    provider: str
    provider_ref: str
    amount_vnd: int
    status: str
