"""What the API and the pages show: compliance reports, tasks, KPI cards, the commune map."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.governance import kpi
from tinhso.governance.compliance import RULES, RULES_BY_CODE
from tinhso.governance.measures import registry
from tinhso.governance.models import ComplianceResult, KpiDefinition, RegisteredSystem, RoadmapTask
from tinhso.governance.roadmap import is_late, local_today
from tinhso.governance.schemas import (
    AgencyReport,
    CommuneMap,
    CommuneValue,
    ComplianceRead,
    KpiRead,
    RuleRead,
    SystemRead,
    SystemReport,
    TaskAgencyRead,
    TaskRead,
)
from tinhso.identity.models import Agency
from tinhso.kit.db import utcnow
from tinhso.kit.errors import NotFound
from tinhso.kit.i18n import both
from tinhso.kit.text import fold
from tinhso.reference.models import Commune

VERDICTS = ("pass", "fail", "warn", "not_applicable")


def rule_reads() -> list[RuleRead]:
    return [
        RuleRead(code=r.code, section=r.section, quote=r.quote, title=both(r.title), remedy=both(r.remedy))
        for r in RULES
    ]


def compliance_read(result: ComplianceResult) -> ComplianceRead:
    rule = RULES_BY_CODE.get(result.rule_code)
    evidence = result.evidence or {}
    return ComplianceRead(
        rule_code=result.rule_code,
        section=rule.section if rule else "",
        quote=rule.quote if rule else "",
        title=both(rule.title) if rule else {"vi": result.rule_code, "en": result.rule_code},
        verdict=result.verdict,
        source=result.source,
        evidence=both(evidence.get("message", ""), **(evidence.get("params") or {})),
        evidence_data=evidence.get("data") or {},
        remedy=both(rule.remedy) if rule and result.verdict in ("fail", "warn") else None,
        evaluated_at=result.evaluated_at,
    )


def system_report(system: RegisteredSystem, results: list[ComplianceResult]) -> SystemReport:
    counts = Counter(r.verdict for r in results)
    return SystemReport(
        system=SystemRead.model_validate(system),
        results=[compliance_read(r) for r in sorted(results, key=lambda r: r.rule_code)],
        summary={v: counts.get(v, 0) for v in VERDICTS},
    )


def agency_report(agency_code: str, reports: list[SystemReport]) -> AgencyReport:
    verdicts: Counter[str] = Counter()
    by_rule: dict[str, Counter[str]] = {r.code: Counter() for r in RULES}
    for rep in reports:
        for res in rep.results:
            verdicts[res.verdict] += 1
            by_rule.setdefault(res.rule_code, Counter())[res.verdict] += 1
    return AgencyReport(
        agency_code=agency_code,
        systems=len(reports),
        compliant=sum(1 for r in reports if r.system.status != "retired" and r.summary["fail"] == 0),
        verdicts={v: verdicts.get(v, 0) for v in VERDICTS},
        by_rule={code: {v: c.get(v, 0) for v in VERDICTS} for code, c in by_rule.items()},
        items=reports,
    )


def task_read(task: RoadmapTask, now: datetime | None = None) -> TaskRead:
    return TaskRead(
        id=task.id,
        code=task.code,
        section=task.section,
        section_title=task.section_title,
        group=task.group,
        number=task.number,
        parent_number=task.parent_number,
        title=task.title,
        lead_text=task.lead_text,
        coordinating_text=task.coordinating_text,
        deadline_text=task.deadline_text,
        start_on=task.start_on,
        due_on=task.due_on,
        recurrence=task.recurrence,
        agencies=[TaskAgencyRead(agency_code=a.agency_code, role=a.role) for a in task.agencies],
        collectives=task.collectives or [],
        unmatched=task.unmatched or [],
        status=task.status,
        percent=task.percent,
        late=is_late(task, local_today(now or utcnow())),
        last_reported_at=task.last_reported_at,
    )


def _kpi_read(  # noqa: PLR0913
    d: KpiDefinition,
    lang: str,
    value: float | None,
    status: str,
    reason: str | None,
    period: tuple[datetime | None, datetime | None],
    computed_at: datetime | None,
) -> KpiRead:
    vi, en = kpi.GROUPS.get(d.group, (d.group, d.group))
    return KpiRead(
        code=d.code,
        group=d.group,
        group_name=vi if lang == "vi" else en,
        name=d.name_vi if lang == "vi" else d.name_en,
        unit=d.unit,
        direction=d.direction,
        target=d.target,
        alert_threshold=d.alert_threshold,
        frequency=d.frequency,
        formula=d.formula,
        measures=list(d.measures or []),
        value=value,
        status=status,
        reason=reason,
        target_status=kpi.target_status(d, value),
        period_start=period[0],
        period_end=period[1],
        computed_at=computed_at,
    )


def kpi_reads(session: Session, lang: str = "vi", group: str | None = None) -> list[KpiRead]:
    """Every KPI with its latest stored value (nothing is computed here)."""
    definitions = list(session.scalars(select(KpiDefinition).order_by(KpiDefinition.ordinal)))
    latest = kpi.latest_values(session, [d.code for d in definitions])
    out = []
    for d in definitions:
        if group and d.group != group:
            continue
        v = latest.get(d.code)
        if v is None:
            out.append(_kpi_read(d, lang, None, "not_computed", None, (None, None), None))
        else:
            period = (v.period_start, v.period_end)
            out.append(_kpi_read(d, lang, v.value, v.status, v.reason, period, v.computed_at))
    return out


def kpi_reads_for_agency(
    session: Session, agency_code: str, lang: str = "vi", now: datetime | None = None
) -> list[KpiRead]:
    """KPIs computed on demand for one agency (not stored): the drill-down of the IOC."""
    now = now or utcnow()
    measures = registry()
    out = []
    for d in session.scalars(select(KpiDefinition).order_by(KpiDefinition.ordinal)):
        spec = kpi.SPECS_BY_CODE.get(d.code)
        if spec is None:
            continue
        start, _end = kpi.period_of(d.frequency, now)
        o = kpi.evaluate(session, spec, start, now, agency_code, measures)
        out.append(_kpi_read(d, lang, o.value, o.status, o.reason, (start, now), now))
    return out


GRID_COLUMNS = 13


@lru_cache(maxsize=1)
def commune_centres() -> dict[str, tuple[float, float]]:
    """Centre points (latitude, longitude) of the 2025 communes, keyed by code and by folded name.

    From the dataset of the `vietnamadminunits` package (MIT), a dependency of the platform's address parser;
    it has centre points and areas but no boundaries.
    """
    from vietnamadminunits.database.main import query

    rows = query(
        "SELECT ward, wardCode, wardLat, wardLon, provinceCode FROM admin_units WHERE wardLat IS NOT NULL"
    )
    found: dict[str, tuple[float, float]] = {}
    for r in rows:
        point = (float(r["wardLat"]), float(r["wardLon"]))
        found[f"{r['wardCode']}|{fold(r['ward'])}"] = point
        found[f"{r['provinceCode']}|{fold(r['ward'])}"] = point
    return found


def _centre(c: Commune) -> tuple[float | None, float | None]:
    """The commune's coordinates: its own, else the package's centre point (same code and name, else same name)."""
    if c.latitude is not None and c.longitude is not None:
        return c.latitude, c.longitude
    centres = commune_centres()
    name = fold(c.name)
    point = centres.get(f"{c.code}|{name}") or centres.get(f"{c.province_code}|{name}")
    return point if point else (None, None)


def commune_map(session: Session, measure_id: str, days: int = 30, now: datetime | None = None) -> CommuneMap:
    """A measure for each of the 130 communes (through each commune's UBND agency).

    Communes are drawn at their centre points when every one has them; otherwise on a tile grid in GSO code
    order (codes were assigned district by district, so neighbouring tiles are mostly neighbours on the ground).
    """
    fn = registry().get(measure_id)
    if fn is None:
        raise NotFound("measure_not_found", "No module provides the measure {measure}", measure=measure_id)
    now = now or utcnow()
    since = now - timedelta(days=days)
    communes = list(
        session.scalars(select(Commune).where(Commune.province_code == "40").order_by(Commune.code))
    )
    agencies = dict(
        session.execute(select(Agency.commune_code, Agency.code).where(Agency.kind == "commune"))
        .tuples()
        .all()
    )
    points = [_centre(c) for c in communes]
    layout = "coordinates" if communes and all(p[0] is not None for p in points) else "grid"

    def values(guard_each: bool) -> list[float | None]:
        out: list[float | None] = []
        for c in communes:
            agency = agencies.get(c.code)
            if agency is None:
                out.append(None)
            elif guard_each:
                try:
                    with session.begin_nested():
                        out.append(fn(session, since, now, agency))
                except Exception:  # noqa: BLE001 - a measure failing for one commune leaves it blank
                    out.append(None)
            else:
                out.append(fn(session, since, now, agency))
        return out

    try:
        with session.begin_nested():  # one savepoint for the 130 calls; per commune only if one fails
            found = values(False)
    except Exception:  # noqa: BLE001
        found = values(True)
    items = [
        CommuneValue(
            code=c.code,
            name=c.name,
            agency_code=agencies.get(c.code),
            value=v,
            row=i // GRID_COLUMNS,
            col=i % GRID_COLUMNS,
            latitude=p[0],
            longitude=p[1],
        )
        for i, (c, v, p) in enumerate(zip(communes, found, points, strict=True))
    ]
    return CommuneMap(measure=measure_id, layout=layout, since=since, until=now, items=items)


def measure_ids() -> list[str]:
    return sorted(registry())


def as_dict(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json")
