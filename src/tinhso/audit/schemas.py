"""Audit API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    seq: int
    at: datetime
    actor_type: str
    actor_id: str | None
    system_id: str | None
    agency_code: str | None
    action: str
    object_type: str | None
    object_id: str | None
    subject_id: str | None
    purpose: str | None
    request_id: str | None
    outcome: str
    detail: dict[str, Any]
    hash: str


class VerifyRead(BaseModel):
    ok: bool
    checked: int
    broken_seq: int | None
    reason: str | None


class DataUsageRead(BaseModel):
    """One read of the caller's personal data: who, from which agency, when, why."""

    at: datetime
    actor_type: str
    actor_id: str | None
    agency_code: str | None
    action: str
    object_type: str | None
    purpose: str | None
