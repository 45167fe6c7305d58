"""Governance rules: who may read and write the registry and the roadmap, compliance runs, progress, alerts.

Leaders read everything; agency administrators (and their systems holding the scope `governance:write`)
write their own agency's systems and progress; platform administrators (Sở KH&CN) everything. Officials
read their agency's systems (and those of agencies that granted `governance.system`) and the whole roadmap.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from tinhso.governance import compliance, events, evidence
from tinhso.governance.measures import registry
from tinhso.governance.models import (
    Alert,
    ComplianceResult,
    EvidenceFile,
    RegisteredSystem,
    RoadmapTask,
    TaskProgress,
)
from tinhso.governance.roadmap import agency_roles, is_late, local_today
from tinhso.governance.schemas import Evidence, ProgressCreate, SystemCreate, SystemUpdate
from tinhso.identity import repository as identity_repo
from tinhso.identity.models import Agency
from tinhso.identity.principal import Principal
from tinhso.kit import audit
from tinhso.kit.db import utcnow
from tinhso.kit.errors import BadRequest, Conflict, Forbidden, NotFound
from tinhso.kit.events import publish
from tinhso.kit.text import fold

READ_ROLES = ("official", "agency_admin", "leader")


def require_reader(principal: Principal) -> None:
    if principal.is_system:
        if not principal.has_scope("governance"):
            raise Forbidden("scope_required", "The token lacks the scope {scope}", scope="governance")
        return
    if not principal.has_role(*READ_ROLES):
        raise Forbidden("role_required", "This needs one of the roles: {roles}", roles=", ".join(READ_ROLES))


def sees_everything(principal: Principal) -> bool:
    return principal.is_platform_admin or (not principal.is_system and "leader" in principal.roles)


def readable(session: Session, principal: Principal) -> set[str] | None:
    """Agency codes whose systems the caller may read (None: all)."""
    require_reader(principal)
    if sees_everything(principal):
        return None
    return identity_repo.readable_agencies(session, principal, "governance.system", utcnow())


def may_write(principal: Principal, agency_code: str) -> bool:
    if principal.is_platform_admin:
        return True
    if principal.agency_code != agency_code:
        return False
    if principal.is_system:
        return principal.has_scope("governance:write")
    return "agency_admin" in principal.roles


# --- registry ---------------------------------------------------------------------------------------


def systems_statement(
    session: Session,
    principal: Principal,
    agency_code: str | None = None,
    status: str | None = None,
    layer: str | None = None,
    q: str | None = None,
) -> Select[Any]:
    stmt = select(RegisteredSystem).order_by(RegisteredSystem.agency_code, RegisteredSystem.code)
    scope = readable(session, principal)
    if scope is not None:
        stmt = stmt.where(RegisteredSystem.agency_code.in_(scope))
    if agency_code:
        stmt = stmt.where(RegisteredSystem.agency_code == agency_code)
    if status:
        stmt = stmt.where(RegisteredSystem.status == status)
    if layer:
        stmt = stmt.where(RegisteredSystem.layer == layer)
    for word in fold(q or "").split():
        stmt = stmt.where(RegisteredSystem.search_text.contains(word, autoescape=True))
    return stmt


def get_system(
    session: Session, principal: Principal, system_id: str, with_results: bool = False
) -> RegisteredSystem:
    stmt = select(RegisteredSystem).where(RegisteredSystem.id == system_id)
    if with_results:
        stmt = stmt.options(selectinload(RegisteredSystem.results))
    system = session.scalar(stmt)
    scope = readable(session, principal)
    if system is None or (scope is not None and system.agency_code not in scope):
        raise NotFound("system_not_found", "Information system {id} not found", id=system_id)
    return system


def _search_text(s: RegisteredSystem) -> str:
    return fold(" ".join([s.code, s.name, s.purpose or "", s.component or "", s.agency_code]))


def _apply(system: RegisteredSystem, values: dict[str, Any]) -> None:
    for key, value in values.items():
        if key == "services_exposed" and value is not None:
            value = [
                {"code": x["code"], "openapi_url": str(x["openapi_url"]) if x.get("openapi_url") else None}
                for x in value
            ]
        setattr(system, key, value)


def _check_link(session: Session, agency_code: str, identity_system_id: str | None) -> None:
    if identity_system_id is None:
        return
    linked = identity_repo.get_system(session, identity_system_id)
    if linked is None or linked.agency_code != agency_code:
        raise BadRequest(
            "identity_system_invalid",
            "Platform system {id} does not exist or belongs to another agency",
            id=identity_system_id,
        )


def create_system(session: Session, principal: Principal, data: SystemCreate) -> RegisteredSystem:
    agency_code = data.agency_code or principal.agency_code
    if not agency_code:
        raise BadRequest("agency_required", "Name the owner agency (agency_code)")
    if not may_write(principal, agency_code):
        raise Forbidden("system_not_yours", "You may register systems only for your own agency")
    if session.get(Agency, agency_code) is None:
        raise NotFound("agency_not_found", "Agency {code} not found", code=agency_code)
    _check_link(session, agency_code, data.identity_system_id)
    exists = session.scalar(
        select(RegisteredSystem.id).where(
            RegisteredSystem.agency_code == agency_code, RegisteredSystem.code == data.code
        )
    )
    if exists:
        raise Conflict(
            "system_code_taken", "The agency already registered a system with code {code}", code=data.code
        )
    system = RegisteredSystem(
        agency_code=agency_code, code=data.code, identity_system_id=data.identity_system_id, results=[]
    )
    _apply(system, data.model_dump(exclude={"code", "agency_code", "identity_system_id"}))
    system.search_text = _search_text(system)
    session.add(system)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:  # a concurrent registration of the same code
        raise Conflict(
            "system_code_taken", "The agency already registered a system with code {code}", code=data.code
        ) from exc
    compliance.evaluate(session, system, registry())
    audit.record(session, "governance.system.create", object_type="governance_system", object_id=system.id)
    publish(session, events.SYSTEM_REGISTERED, _event(system), key=system.id)
    return system


def update_system(
    session: Session, principal: Principal, system_id: str, data: SystemUpdate
) -> RegisteredSystem:
    system = get_system(session, principal, system_id)
    if not may_write(principal, system.agency_code):
        raise Forbidden("system_not_yours", "You may change only your own agency's systems")
    if data.version != system.version:
        raise Conflict(
            "system_changed",
            "The system was changed by someone else (version {version}); reload it",
            version=system.version,
        )
    changes = data.model_dump(exclude_unset=True, exclude={"version"})
    _apply(system, changes)
    system.version += 1
    system.search_text = _search_text(system)
    session.flush()
    compliance.evaluate(session, system, registry())
    audit.record(
        session,
        "governance.system.update",
        object_type="governance_system",
        object_id=system.id,
        detail={"fields": sorted(changes)},
    )
    publish(session, events.SYSTEM_CHANGED, _event(system) | {"fields": sorted(changes)}, key=system.id)
    return system


def recheck(session: Session, principal: Principal, system_id: str) -> RegisteredSystem:
    system = get_system(session, principal, system_id)
    if not may_write(principal, system.agency_code):
        raise Forbidden("system_not_yours", "You may change only your own agency's systems")
    compliance.evaluate(session, system, registry())
    audit.record(session, "governance.compliance.run", object_type="governance_system", object_id=system.id)
    publish(session, events.COMPLIANCE_EVALUATED, _event(system), key=system.id)
    return system


def recheck_all(session: Session, agency_code: str | None = None) -> int:
    """Re-run the rules on every system (of one agency); used by the worker and by subscribers."""
    stmt = select(RegisteredSystem)
    if agency_code:
        stmt = stmt.where(RegisteredSystem.agency_code == agency_code)
    ctx = compliance.Context(session, utcnow(), registry())
    count = 0
    for system in list(session.scalars(stmt)):
        compliance.evaluate(session, system, ctx.measures, ctx=ctx)
        count += 1
    return count


def _event(system: RegisteredSystem) -> dict[str, Any]:
    return {
        "system_id": system.id,
        "code": system.code,
        "agency_code": system.agency_code,
        "status": system.status,
        "compliance_failed": system.compliance_failed,
    }


def results_of(session: Session, system_ids: list[str]) -> dict[str, list[ComplianceResult]]:
    found: dict[str, list[ComplianceResult]] = {i: [] for i in system_ids}
    if not system_ids:
        return found
    rows = session.scalars(
        select(ComplianceResult)
        .where(ComplianceResult.system_id.in_(system_ids))
        .order_by(ComplianceResult.rule_code)
    )
    for r in rows:
        found[r.system_id].append(r)
    return found


# --- roadmap ----------------------------------------------------------------------------------------


def require_roadmap_reader(principal: Principal) -> None:
    require_reader(principal)


def tasks(
    session: Session,
    principal: Principal,
    agency_code: str | None = None,
    role: str | None = None,
    status: str | None = None,
    late: bool | None = None,
    section: str | None = None,
    q: str | None = None,
    now: datetime | None = None,
) -> list[RoadmapTask]:
    require_roadmap_reader(principal)
    stmt = select(RoadmapTask).options(selectinload(RoadmapTask.agencies)).order_by(RoadmapTask.ordinal)
    if status:
        stmt = stmt.where(RoadmapTask.status == status)
    if section:
        stmt = stmt.where(RoadmapTask.section.startswith(section, autoescape=True))
    for word in fold(q or "").split():
        stmt = stmt.where(RoadmapTask.search_text.contains(word, autoescape=True))
    rows = list(session.scalars(stmt))
    if agency_code:
        agency = session.get(Agency, agency_code)
        if agency is None:
            raise NotFound("agency_not_found", "Agency {code} not found", code=agency_code)
        rows = [
            t for t in rows if (role in agency_roles(t, agency) if role else bool(agency_roles(t, agency)))
        ]
    if late is not None:
        today = local_today(now or utcnow())
        rows = [t for t in rows if is_late(t, today) == late]
    return rows


def get_task(session: Session, principal: Principal, task_id: str) -> RoadmapTask:
    require_roadmap_reader(principal)
    task = session.scalar(
        select(RoadmapTask)
        .options(selectinload(RoadmapTask.agencies))
        .where((RoadmapTask.id == task_id) | (RoadmapTask.code == task_id))
    )
    if task is None:
        raise NotFound("task_not_found", "Roadmap task {id} not found", id=task_id)
    return task


def progress_of(session: Session, task_id: str) -> list[TaskProgress]:
    return list(
        session.scalars(
            select(TaskProgress)
            .where(TaskProgress.task_id == task_id)
            .order_by(TaskProgress.created_at.desc())
        )
    )


def require_task_reporter(session: Session, principal: Principal, task: RoadmapTask) -> set[str]:
    """The caller's agency's roles on the task ('lead', 'coordinating'); Forbidden when it may not report."""
    agency = session.get(Agency, principal.agency_code) if principal.agency_code else None
    roles = agency_roles(task, agency)
    if not principal.is_platform_admin and (
        not roles or not may_write(principal, principal.agency_code or "")
    ):
        raise Forbidden(
            "task_not_yours", "Your agency neither leads nor coordinates task {code}", code=task.code
        )
    return set(roles)


def upload_evidence(
    session: Session, principal: Principal, task_id: str, title: str, filename: str, data: bytes
) -> EvidenceFile:
    task = get_task(session, principal, task_id)
    require_task_reporter(session, principal, task)
    return evidence.store(session, principal, task, title, filename, data)


def _evidence_item(e: Evidence, f: EvidenceFile | None) -> dict[str, Any]:
    item: dict[str, Any] = {"title": e.title, "url": str(e.url) if e.url else None, "reference": e.reference}
    if f is not None:
        item |= {"file_id": f.id, "filename": f.filename, "size": f.size, "sha256": f.sha256}
    return item


def previous_report(session: Session, task_id: str, idempotency_key: str | None) -> TaskProgress | None:
    """The report already made with this idempotency key, if any."""
    if not idempotency_key:
        return None
    return session.scalar(
        select(TaskProgress).where(
            TaskProgress.task_id == task_id, TaskProgress.idempotency_key == idempotency_key
        )
    )


def report_progress(
    session: Session,
    principal: Principal,
    task_id: str,
    data: ProgressCreate,
    idempotency_key: str | None = None,
) -> tuple[TaskProgress, bool]:
    """Record a progress report; returns (report, created). A retry with the same key returns the first one."""
    task = get_task(session, principal, task_id)
    previous = previous_report(session, task.id, idempotency_key)
    if previous is not None:
        return previous, False
    roles = require_task_reporter(session, principal, task)
    files = {
        f.id: f
        for f in evidence.claimable(session, principal, task, [e.file_id for e in data.evidence if e.file_id])
    }
    entry = TaskProgress(
        task_id=task.id,
        agency_code=principal.agency_code,
        reported_by=principal.id,
        status=data.status,
        percent=100 if data.status == "done" else data.percent,
        comment=data.comment,
        evidence=[_evidence_item(e, files.get(e.file_id or "")) for e in data.evidence],
        idempotency_key=idempotency_key,
        created_at=utcnow(),
    )
    session.add(entry)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        previous = previous_report(session, task.id, idempotency_key)
        if previous is None:
            raise
        return previous, False
    for f in files.values():
        f.progress_id = entry.id
    # The lead agencies (and the platform administrators) set the task's status; coordinators add to the history.
    if principal.is_platform_admin or "lead" in roles:
        task.status, task.percent = entry.status, entry.percent
    task.last_reported_at = entry.created_at
    task.overdue_notified_at = None
    session.flush()
    audit.record(
        session,
        "governance.task.progress",
        object_type="governance_task",
        object_id=task.code,
        detail={"status": entry.status, "percent": entry.percent},
    )
    publish(
        session,
        events.TASK_PROGRESS,
        {
            "task": task.code,
            "agency_code": entry.agency_code,
            "status": entry.status,
            "percent": entry.percent,
        },
        key=task.code,
    )
    return entry, True


def notify_overdue(session: Session, now: datetime | None = None) -> int:
    """Publish a reminder for each task that became late and was not reminded since its last report."""
    now = now or utcnow()
    today = local_today(now)
    count = 0
    for task in session.scalars(select(RoadmapTask).options(selectinload(RoadmapTask.agencies))):
        if task.overdue_notified_at is None and is_late(task, today):
            task.overdue_notified_at = now
            publish(
                session,
                events.TASK_OVERDUE,
                {
                    "task": task.code,
                    "title": task.title[:300],
                    "lead": [a.agency_code for a in task.agencies if a.role == "lead"],
                    "due_on": task.due_on.isoformat() if task.due_on else None,
                    "recurrence": task.recurrence,
                },
                key=task.code,
            )
            count += 1
    session.flush()
    return count


# --- alerts -----------------------------------------------------------------------------------------


def ingest_alert(
    session: Session, event_id: str, topic: str, payload: dict[str, Any], created_at: datetime
) -> Alert | None:
    """Store an alert from another module's event (idempotent by event id)."""
    if session.scalar(select(Alert.id).where(Alert.event_id == event_id)):
        return None
    title = (
        payload.get("title")
        or payload.get("message")
        or payload.get("summary")
        or " ".join(
            str(payload.get(k))
            for k in ("station", "index", "value", "code", "task")
            if payload.get(k) is not None
        )
        or topic
    )
    if isinstance(title, dict):
        title = title.get("vi") or title.get("en") or str(title)
    severity = str(
        payload.get("severity") or payload.get("level") or ("warning" if "overdue" in topic else "info")
    )[:16]
    agency = payload.get("agency_code") or payload.get("agency")
    commune = payload.get("commune_code") or payload.get("commune")
    alert = Alert(
        event_id=event_id,
        topic=topic,
        severity=severity,
        title=str(title)[:1000],
        agency_code=str(agency)[:32] if isinstance(agency, str) else None,
        commune_code=str(commune)[:5] if isinstance(commune, str) else None,
        payload=payload,
        occurred_at=created_at,
    )
    session.add(alert)
    session.flush()
    return alert


def recent_alerts(
    session: Session, limit: int = 20, agency_code: str | None = None, commune_code: str | None = None
) -> list[Alert]:
    stmt = select(Alert).order_by(Alert.occurred_at.desc()).limit(limit)
    if agency_code:
        stmt = stmt.where(Alert.agency_code == agency_code)
    if commune_code:
        stmt = stmt.where(Alert.commune_code == commune_code)
    return list(session.scalars(stmt))
