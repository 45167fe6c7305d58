"""Audit queries, scoped: platform admins see everything, agency admins their agency's entries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select

from tinhso.identity.principal import Principal
from tinhso.kit.audit import AuditEntry


def entries_statement(
    principal: Principal,
    *,
    action: str | None = None,
    actor_id: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    agency_code: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[AuditEntry]:
    stmt = select(AuditEntry).order_by(AuditEntry.seq.desc())
    if not principal.is_platform_admin:
        stmt = stmt.where(AuditEntry.agency_code == principal.agency_code)
    if action:
        stmt = (
            stmt.where(AuditEntry.action.startswith(action))
            if action.endswith(".")
            else stmt.where(AuditEntry.action == action)
        )
    filters = {
        AuditEntry.actor_id: actor_id,
        AuditEntry.object_type: object_type,
        AuditEntry.object_id: object_id,
        AuditEntry.agency_code: agency_code,
        AuditEntry.outcome: outcome,
    }
    for column, value in filters.items():
        if value:
            stmt = stmt.where(column == value)
    if since:
        stmt = stmt.where(AuditEntry.at >= since)
    if until:
        stmt = stmt.where(AuditEntry.at < until)
    return stmt


def data_usage_statement(person_id: str) -> Select[AuditEntry]:
    """Reads of one person's personal data by anyone else."""
    return (
        select(AuditEntry)
        .where(AuditEntry.subject_id == person_id, AuditEntry.actor_id != person_id)
        .order_by(AuditEntry.seq.desc())
    )
