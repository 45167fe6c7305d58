"""Measures: the live figures the KPI engine, the compliance rules and the IOC read.

Every module exposes `measures = {id: fn(session, since, until, agency_code) -> float | None}` in its plugin;
this module gathers them (`registry()`), and defines the measures of the foundation (identity, audit, outbox)
and of governance itself. Shares are fractions between 0 and 1; counts are plain numbers; `None` means the
figure does not exist for that scope (e.g. no system to take a share of).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tinhso.governance.models import Alert, ComplianceResult, RegisteredSystem, RoadmapTask, TaskProgress
from tinhso.identity.models import Agency, ClientCredential, InformationSystem
from tinhso.kit.audit import AuditEntry

log = logging.getLogger("tinhso.governance")

Measure = Callable[[Session, datetime, datetime, str | None], float | None]

BACKUP_MAX_AGE = {"daily": timedelta(days=2), "weekly": timedelta(days=8), "monthly": timedelta(days=32)}


def registry() -> dict[str, Measure]:
    """Every measure of every loaded module, by id."""
    from tinhso.modules import plugins

    found: dict[str, Measure] = {}
    for name, plugin in plugins():
        for mid, fn in (getattr(plugin, "measures", None) or {}).items():
            if mid in found:
                log.warning("measure %s defined twice; keeping the first", mid, extra={"module": name})
                continue
            found[mid] = fn
    return found


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


# --- foundation: identity, audit, outbox ------------------------------------------------------------


def agencies_active(session: Session, since: datetime, until: datetime, agency: str | None) -> float | None:
    stmt = select(func.count()).select_from(Agency).where(Agency.active.is_(True))
    if agency:
        stmt = stmt.where(Agency.code == agency)
    return float(session.scalar(stmt) or 0)


def platform_systems(session: Session, since: datetime, until: datetime, agency: str | None) -> float | None:
    stmt = select(func.count()).select_from(InformationSystem).where(InformationSystem.active.is_(True))
    if agency:
        stmt = stmt.where(InformationSystem.agency_code == agency)
    return float(session.scalar(stmt) or 0)


def active_credentials(
    session: Session, since: datetime, until: datetime, agency: str | None
) -> float | None:
    stmt = (
        select(func.count())
        .select_from(ClientCredential)
        .join(InformationSystem, InformationSystem.id == ClientCredential.system_id)
        .where(
            ClientCredential.revoked_at.is_(None),
            or_(ClientCredential.expires_at.is_(None), ClientCredential.expires_at > until),
        )
    )
    if agency:
        stmt = stmt.where(InformationSystem.agency_code == agency)
    return float(session.scalar(stmt) or 0)


def agencies_connected_share(
    session: Session, since: datetime, until: datetime, agency: str | None
) -> float | None:
    """Share of provincial departments and sectors with at least one system holding a live credential."""
    depts = select(Agency.code).where(Agency.kind.in_(("department", "sector")), Agency.active.is_(True))
    if agency:
        depts = depts.where(Agency.code == agency)
    codes = set(session.scalars(depts))
    connected = set(
        session.scalars(
            select(InformationSystem.agency_code)
            .join(ClientCredential, ClientCredential.system_id == InformationSystem.id)
            .where(ClientCredential.revoked_at.is_(None))
            .distinct()
        )
    )
    return _share(len(codes & connected), len(codes))


def failed_signin_share(
    session: Session, since: datetime, until: datetime, agency: str | None
) -> float | None:
    stmt = select(AuditEntry.outcome, func.count()).where(
        AuditEntry.action == "auth.sign_in", AuditEntry.at >= since, AuditEntry.at < until
    )
    if agency:
        stmt = stmt.where(AuditEntry.agency_code == agency)
    counts = dict(session.execute(stmt.group_by(AuditEntry.outcome)).tuples().all())
    total = sum(counts.values())
    return _share(total - counts.get("success", 0), total)


def audit_chain_intact(
    session: Session, since: datetime, until: datetime, agency: str | None
) -> float | None:
    if agency:
        return None  # the chain is one for the whole platform
    from tinhso.kit.audit import verify

    with session.begin_nested():
        result = verify(session)
    return 1.0 if result.ok else 0.0


def outbox_oldest_age(session: Session, since: datetime, until: datetime, agency: str | None) -> float | None:
    if agency:
        return None
    from tinhso.kit.events import outbox_lag

    return float(outbox_lag(session)["oldest_age_seconds"])


# --- governance: registry, compliance, roadmap, alerts ----------------------------------------------


def _systems(session: Session, agency: str | None, live_only: bool = True) -> list[RegisteredSystem]:
    stmt = select(RegisteredSystem).where(RegisteredSystem.status != "retired")
    if live_only:
        stmt = stmt.where(RegisteredSystem.status == "live")
    if agency:
        stmt = stmt.where(RegisteredSystem.agency_code == agency)
    return list(session.scalars(stmt))


def systems_registered(
    session: Session, since: datetime, until: datetime, agency: str | None
) -> float | None:
    return float(len(_systems(session, agency, live_only=False)))


def systems_compliant_share(
    session: Session, since: datetime, until: datetime, agency: str | None
) -> float | None:
    systems = [s for s in _systems(session, agency) if s.compliance_checked_at is not None]
    return _share(sum(1 for s in systems if s.compliance_failed == 0), len(systems))


def rule_pass_rate(session: Session, since: datetime, until: datetime, agency: str | None) -> float | None:
    stmt = (
        select(ComplianceResult.verdict, func.count())
        .join(RegisteredSystem, RegisteredSystem.id == ComplianceResult.system_id)
        .where(RegisteredSystem.status == "live", ComplianceResult.verdict.in_(("pass", "fail", "warn")))
    )
    if agency:
        stmt = stmt.where(RegisteredSystem.agency_code == agency)
    counts = dict(session.execute(stmt.group_by(ComplianceResult.verdict)).tuples().all())
    return _share(counts.get("pass", 0), sum(counts.values()))


def _declared_share(predicate: Callable[[RegisteredSystem], bool | None]) -> Measure:
    def measure(session: Session, since: datetime, until: datetime, agency: str | None) -> float | None:
        verdicts = [predicate(s) for s in _systems(session, agency)]
        relevant = [v for v in verdicts if v is not None]
        return _share(sum(1 for v in relevant if v), len(relevant))

    return measure


def _apis_documented(s: RegisteredSystem) -> bool | None:
    if not s.services_exposed:
        return None
    return all(bool(x.get("openapi_url")) for x in s.services_exposed)


def _monitored(s: RegisteredSystem) -> bool | None:
    if (s.security_level or 0) < 3:
        return None
    return {"network", "application", "database", "endpoint"} <= set(s.monitoring or [])


def _no_duplicate(s: RegisteredSystem) -> bool | None:
    dup = bool(s.duplicates_platform) and not s.exemption_ref
    sectoral = s.sectoral_software and not s.ministry_consent_ref
    return not (dup or sectoral)


def backup_fresh_share(
    session: Session, since: datetime, until: datetime, agency: str | None
) -> float | None:
    relevant = [s for s in _systems(session, agency) if s.holds_important_data]
    fresh = 0
    for s in relevant:
        limit = BACKUP_MAX_AGE.get(s.backup_frequency)
        if limit and s.last_backup_at is not None and until - s.last_backup_at <= limit:
            fresh += 1
    return _share(fresh, len(relevant))


def _tasks(session: Session) -> list[RoadmapTask]:
    return list(session.scalars(select(RoadmapTask)))


def _tasks_of(session: Session, agency: str | None) -> list[RoadmapTask]:
    from sqlalchemy.orm import selectinload

    from tinhso.governance.roadmap import agency_roles

    tasks = list(session.scalars(select(RoadmapTask).options(selectinload(RoadmapTask.agencies))))
    if not agency:
        return tasks
    who = session.get(Agency, agency)
    return [t for t in tasks if "lead" in agency_roles(t, who)]


def roadmap_on_track_share(
    session: Session, since: datetime, until: datetime, agency: str | None
) -> float | None:
    from tinhso.governance.roadmap import is_late, is_started, local_today

    today = local_today(until)
    started = [t for t in _tasks_of(session, agency) if is_started(t, today)]
    return _share(sum(1 for t in started if not is_late(t, today)), len(started))


def roadmap_done_share(
    session: Session, since: datetime, until: datetime, agency: str | None
) -> float | None:
    tasks = [t for t in _tasks_of(session, agency) if t.recurrence == "once"]
    return _share(sum(1 for t in tasks if t.status == "done"), len(tasks))


def roadmap_overdue(session: Session, since: datetime, until: datetime, agency: str | None) -> float | None:
    from tinhso.governance.roadmap import is_late, local_today

    today = local_today(until)
    return float(sum(1 for t in _tasks_of(session, agency) if is_late(t, today)))


def roadmap_reported_share(
    session: Session, since: datetime, until: datetime, agency: str | None
) -> float | None:
    """Share of the tasks (led by the agency) that received a progress report in the period."""
    tasks = _tasks_of(session, agency)
    reported = set(
        session.scalars(
            select(TaskProgress.task_id).where(
                TaskProgress.created_at >= since, TaskProgress.created_at < until
            )
        )
    )
    return _share(sum(1 for t in tasks if t.id in reported), len(tasks))


def alerts_count(session: Session, since: datetime, until: datetime, agency: str | None) -> float | None:
    stmt = (
        select(func.count()).select_from(Alert).where(Alert.occurred_at >= since, Alert.occurred_at < until)
    )
    if agency:
        commune = session.scalar(select(Agency.commune_code).where(Agency.code == agency))
        stmt = stmt.where(
            or_(Alert.agency_code == agency, Alert.commune_code == commune)
            if commune
            else Alert.agency_code == agency
        )
    return float(session.scalar(stmt) or 0)


MEASURES: dict[str, Measure] = {
    "identity.agencies": agencies_active,
    "identity.systems": platform_systems,
    "identity.active_credentials": active_credentials,
    "identity.agencies_connected_share": agencies_connected_share,
    "identity.failed_signin_share": failed_signin_share,
    "audit.chain_intact": audit_chain_intact,
    "kit.outbox_oldest_age_seconds": outbox_oldest_age,
    "governance.systems_registered": systems_registered,
    "governance.systems_compliant_share": systems_compliant_share,
    "governance.rule_pass_rate": rule_pass_rate,
    "governance.apis_documented_share": _declared_share(_apis_documented),
    "governance.hub_share": _declared_share(
        lambda s: s.integration in ("lgsp", "ndxp") if s.integration != "none" else None
    ),
    "governance.shared_signin_share": _declared_share(
        lambda s: s.sign_in in ("shared_sso", "vneid") if s.sign_in != "none" else None
    ),
    "governance.no_duplicate_share": _declared_share(_no_duplicate),
    "governance.security_approved_share": _declared_share(
        lambda s: s.security_level is not None and s.security_approved
    ),
    "governance.monitored_share": _declared_share(_monitored),
    "governance.backup_fresh_share": backup_fresh_share,
    "governance.reporting_share": _declared_share(lambda s: s.reports_operational_data),
    "governance.roadmap_on_track_share": roadmap_on_track_share,
    "governance.roadmap_done_share": roadmap_done_share,
    "governance.roadmap_overdue": roadmap_overdue,
    "governance.roadmap_reported_share": roadmap_reported_share,
    "governance.alerts": alerts_count,
}
