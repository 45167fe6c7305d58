"""The KPI framework of section IV.1 of the decision: definitions in five groups and the engine that computes them.

A KPI's formula is a registered Python function over measures (`m("exchange.calls")`); a measure no module
provides yet makes the KPI "not measured" (never an invented figure), a formula that raises makes it "failed"
with the reason, and the other KPIs still compute.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, union_all
from sqlalchemy.orm import Session

from tinhso.governance.measures import Measure, registry
from tinhso.governance.models import KpiDefinition, KpiRun, KpiValue
from tinhso.kit.db import utcnow
from tinhso.kit.events import publish

log = logging.getLogger("tinhso.governance.kpi")
TZ = ZoneInfo("Asia/Ho_Chi_Minh")

GROUPS = {
    "architecture": ("Tuân thủ kiến trúc", "Architecture compliance"),
    "integration": ("Liên thông và tích hợp", "Interoperability and integration"),
    "operations": ("Quản trị và vận hành", "Governance and operations"),
    "security": ("Kỹ thuật và an toàn", "Technology and security"),
    "results": ("Kết quả triển khai", "Delivery results"),
}


class NotMeasured(Exception):
    """A measure the formula needs is not provided by any module (yet), or has no value for the scope."""

    def __init__(self, measure_id: str, missing: bool):
        self.measure_id, self.missing = measure_id, missing
        super().__init__(measure_id)


Formula = Callable[[Callable[[str], float]], float]


@dataclass(frozen=True)
class KpiSpec:
    code: str
    group: str
    name_vi: str
    name_en: str
    unit: str  # %, count, ms, s
    direction: str  # up: higher is better; down: lower is better
    target: float | None
    alert: float | None
    frequency: str  # hourly, daily, monthly
    formula_text: str
    measures: tuple[str, ...]
    fn: Formula


def _pct(measure_id: str) -> Formula:
    return lambda m: m(measure_id) * 100


def _raw(measure_id: str) -> Formula:
    return lambda m: m(measure_id)


def _spec(
    code, group, vi, en, unit, direction, target, alert, freq, measure, fn=None, text=None, percent=False
) -> KpiSpec:  # noqa: ANN001, PLR0913
    """A KPI over one measure; shares (fractions 0-1) become %, unless the measure is already a percentage."""
    scale = unit == "%" and not percent
    fn = fn or (_pct(measure) if scale else _raw(measure))
    text = text or (f"{measure} × 100" if scale else measure)
    return KpiSpec(code, group, vi, en, unit, direction, target, alert, freq, text, (measure,), fn)


# One row per KPI: code | group | name (vi) | name (en) | unit | direction | target | alert threshold |
# frequency | measure | "percent" when the measure is already a percentage (else shares are fractions 0-1).
_TABLE = """
arch.systems_compliant|architecture|Tỷ lệ HTTT đang vận hành tuân thủ Khung kiến trúc|Live systems compliant with the framework|%|up|90|60|hourly|governance.systems_compliant_share|
arch.rule_pass_rate|architecture|Tỷ lệ quy tắc tuân thủ đạt|Compliance rules passed|%|up|95|70|hourly|governance.rule_pass_rate|
arch.apis_documented|architecture|Tỷ lệ API công bố có tài liệu OpenAPI|Exposed APIs with an OpenAPI document|%|up|100|80|daily|governance.apis_documented_share|
arch.shared_signin|architecture|Tỷ lệ HTTT xác thực qua nền tảng định danh dùng chung|Systems signing in through the shared identity platform|%|up|100|80|daily|governance.shared_signin_share|
arch.no_duplicate|architecture|Tỷ lệ HTTT không trùng lặp nền tảng dùng chung|Systems not duplicating a shared platform|%|up|100|90|daily|governance.no_duplicate_share|
arch.data_quality|architecture|Điểm chất lượng dữ liệu (đúng, đủ, sạch, sống, thống nhất)|Data quality score of loaded batches|%|up|90|70|daily|data.quality.overall|percent
int.hub_share|integration|Tỷ lệ HTTT kết nối qua LGSP|Systems connected through the LGSP|%|up|100|80|daily|governance.hub_share|
int.exchange_calls|integration|Số lượt trao đổi dữ liệu qua LGSP|Data exchange calls through the LGSP|count|up|||hourly|exchange.calls|
int.exchange_error_rate|integration|Tỷ lệ lỗi trao đổi dữ liệu|Exchange error rate|%|down|1|5|hourly|exchange.error_rate|
int.exchange_p95|integration|Thời gian phản hồi p95 qua LGSP|Exchange p95 latency|ms|down|1000|3000|hourly|exchange.latency_p95|
int.provider_availability|integration|Mức sẵn sàng của các hệ thống cung cấp dịch vụ|Provider availability|%|up|99.5|97|hourly|exchange.availability|
int.services|integration|Số dịch vụ chia sẻ dữ liệu đã công bố|Published data-sharing services|count|up|||daily|exchange.published_services|
int.data_registries|integration|Số CSDL, danh mục dùng chung trong kho dữ liệu|Shared registries in the data warehouse|count|up|||daily|data.registries|
int.data_reuse|integration|Mức tái sử dụng dữ liệu|Data reuse (shared registries, warehouse tables, saved queries)|count|up|||daily|data.reuse|
int.open_datasets|integration|Số bộ dữ liệu mở đã công bố|Open datasets published|count|up|||daily|opendata.datasets|
int.open_downloads|integration|Lượt tải dữ liệu mở|Open-data downloads|count|up|||daily|opendata.downloads|
int.open_data_quality|integration|Điểm chất lượng siêu dữ liệu dữ liệu mở|Open-data metadata quality|%|up|80|50|daily|opendata.quality|percent
int.agencies_connected|integration|Tỷ lệ sở, ngành có HTTT kết nối nền tảng|Departments with a system connected to the platform|%|up|100|70|daily|identity.agencies_connected_share|
ops.roadmap_on_track|operations|Tỷ lệ nhiệm vụ lộ trình đúng tiến độ|Roadmap tasks on track|%|up|90|70|daily|governance.roadmap_on_track_share|
ops.roadmap_done|operations|Tỷ lệ nhiệm vụ lộ trình đã hoàn thành|Roadmap tasks completed|%|up|||daily|governance.roadmap_done_share|
ops.roadmap_overdue|operations|Số nhiệm vụ lộ trình chậm tiến độ|Roadmap tasks late|count|down|0|10|daily|governance.roadmap_overdue|
ops.roadmap_reported|operations|Tỷ lệ nhiệm vụ có báo cáo tiến độ trong kỳ|Roadmap tasks with a progress report in the period|%|up|50|10|monthly|governance.roadmap_reported_share|
ops.systems_registered|operations|Số HTTT đã đăng ký|Information systems registered|count|up|||daily|governance.systems_registered|
ops.operational_reporting|operations|Tỷ lệ HTTT cung cấp dữ liệu vận hành|Systems reporting operational data|%|up|100|70|daily|governance.reporting_share|
ops.event_backlog_age|operations|Độ trễ sự kiện chờ phân phối|Age of the oldest undelivered event|s|down|60|600|hourly|kit.outbox_oldest_age_seconds|
ops.ioc_alerts|operations|Số cảnh báo IOC nhận trong ngày|Alerts received by the IOC today|count|down|||daily|governance.alerts|
sec.level_approved|security|Tỷ lệ HTTT được phê duyệt cấp độ an toàn|Systems with an approved security level|%|up|100|80|daily|governance.security_approved_share|
sec.monitored|security|Tỷ lệ HTTT cấp độ 3+ được giám sát 4 lớp|Level 3+ systems monitored at all four layers|%|up|100|80|daily|governance.monitored_share|
sec.backup_fresh|security|Tỷ lệ HTTT có dữ liệu quan trọng được sao lưu đúng hạn|Systems with important data backed up on time|%|up|100|80|daily|governance.backup_fresh_share|
sec.failed_signins|security|Tỷ lệ đăng nhập thất bại|Failed sign-ins|%|down|5|20|hourly|identity.failed_signin_share|
sec.audit_chain|security|Tính toàn vẹn chuỗi nhật ký|Audit chain intact|%|up|100|100|hourly|audit.chain_intact|
sec.active_credentials|security|Số thông tin xác thực hệ thống đang hiệu lực|Active system credentials|count|up|||daily|identity.active_credentials|
res.dossiers_on_time|results|Tỷ lệ hồ sơ TTHC giải quyết đúng hạn|Dossiers resolved on time|%|up|95|85|daily|procedures.on_time_rate|percent
res.dossiers_online|results|Tỷ lệ hồ sơ TTHC nộp trực tuyến|Dossiers submitted online|%|up|80|50|daily|procedures.online_rate|percent
res.satisfaction|results|Mức độ hài lòng của người dân, doanh nghiệp|Citizen and business satisfaction|%|up|90|70|monthly|procedures.satisfaction|percent
res.stations_online|results|Tỷ lệ trạm quan trắc gửi số liệu|Monitoring stations reporting|%|up|95|80|hourly|environment.stations_online_rate|percent
res.aqi_good|results|Tỷ lệ ngày chất lượng không khí Tốt|Days with good air quality (VN_AQI 0-50)|%|up|80|50|daily|environment.aqi_good_share|percent
res.env_open_alerts|results|Số cảnh báo môi trường chưa xử lý|Open environmental alerts|count|down|0|10|hourly|environment.open_alerts|
res.assistant_answered|results|Tỷ lệ câu hỏi trợ lý ảo trả lời được|Questions the virtual assistant answered|%|up|80|50|daily|assistant.answered_rate|
res.assistant_questions|results|Số câu hỏi gửi trợ lý ảo|Questions asked to the virtual assistant|count|up|||daily|assistant.questions|
"""


def _parse(table: str) -> list[KpiSpec]:
    specs = []
    for line in table.strip().splitlines():
        code, group, vi, en, unit, direction, target, alert, freq, measure, percent = line.split("|")
        specs.append(
            _spec(
                code,
                group,
                vi,
                en,
                unit,
                direction,
                float(target) if target else None,
                float(alert) if alert else None,
                freq,
                measure,
                percent=percent == "percent",
            )
        )
    return specs


SPECS: list[KpiSpec] = _parse(_TABLE)
SPECS_BY_CODE = {s.code: s for s in SPECS}


def sync_definitions(session: Session) -> int:
    """Insert or update the KPI definitions table from the specs (reference data); drop retired KPIs."""
    known = {spec.code for spec in SPECS}
    for row in session.scalars(select(KpiDefinition)):
        if row.code not in known:
            session.delete(row)
    for i, spec in enumerate(SPECS):
        row = session.get(KpiDefinition, spec.code) or KpiDefinition(code=spec.code)
        row.group, row.name_vi, row.name_en = spec.group, spec.name_vi, spec.name_en
        row.unit, row.direction, row.target, row.alert_threshold = (
            spec.unit,
            spec.direction,
            spec.target,
            spec.alert,
        )
        row.frequency, row.formula, row.measures, row.ordinal = (
            spec.frequency,
            spec.formula_text,
            list(spec.measures),
            i,
        )
        session.add(row)
    session.flush()
    return len(SPECS)


def period_of(frequency: str, at: datetime) -> tuple[datetime, datetime]:
    """The period a value computed at `at` belongs to: the local hour, day or month containing it."""
    local = at.astimezone(TZ)
    if frequency == "hourly":
        start = local.replace(minute=0, second=0, microsecond=0)
        end = start + timedelta(hours=1)
    elif frequency == "monthly":
        start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (start + timedelta(days=32)).replace(day=1)
    else:
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + timedelta(days=1)
    return start, end


@dataclass
class Outcome:
    code: str
    value: float | None
    status: str  # computed, not_measured, failed
    reason: str | None
    provenance: dict[str, Any] = field(default_factory=dict)
    period: tuple[datetime, datetime] | None = None


def evaluate(
    session: Session,
    spec: KpiSpec,
    since: datetime,
    until: datetime,
    agency: str | None = None,
    measures: dict[str, Measure] | None = None,
) -> Outcome:
    """Compute one KPI for a window (and optionally one agency) without storing it."""
    measures = measures if measures is not None else registry()
    used: dict[str, Any] = {}

    def m(measure_id: str) -> float:
        fn = measures.get(measure_id)
        if fn is None:
            raise NotMeasured(measure_id, True)
        value = fn(session, since, until, agency)
        used[measure_id] = value
        if value is None:
            raise NotMeasured(measure_id, False)
        return float(value)

    provenance: dict[str, Any] = {"measures": used, "formula": spec.formula_text, "agency": agency}
    try:
        with session.begin_nested():  # a failing query must not poison the other KPIs' transaction
            value = spec.fn(m)
    except NotMeasured as exc:
        reason = (
            f"measure {exc.measure_id} is not provided by any module yet"
            if exc.missing
            else f"measure {exc.measure_id} has no value for this scope"
        )
        return Outcome(spec.code, None, "not_measured", reason, provenance)
    except Exception as exc:  # noqa: BLE001 - the KPI shows "failed" with the reason; the others still compute
        log.warning("KPI %s failed: %s", spec.code, exc)
        return Outcome(spec.code, None, "failed", f"{type(exc).__name__}: {exc}"[:500], provenance)
    return Outcome(spec.code, round(float(value), 4), "computed", None, provenance)


def run(
    session: Session,
    trigger: str = "schedule",
    at: datetime | None = None,
    codes: list[str] | None = None,
    specs: dict[str, KpiSpec] | None = None,
) -> KpiRun:
    """Compute every KPI for the period containing `at` and store the values (a re-run replaces them)."""
    at = at or utcnow()
    specs = specs or SPECS_BY_CODE
    measures = registry()
    definitions = list(session.scalars(select(KpiDefinition).order_by(KpiDefinition.ordinal)))
    if codes:
        definitions = [d for d in definitions if d.code in codes]
    run_row = KpiRun(trigger=trigger, computed_for=at, started_at=utcnow(), period_start=at, period_end=at)
    session.add(run_row)
    session.flush()
    for definition in definitions:
        start, end = period_of(definition.frequency, at)
        spec = specs.get(definition.code)
        if spec is None:
            outcome = Outcome(definition.code, None, "failed", "no formula is registered for this KPI")
        else:
            outcome = evaluate(session, spec, start, min(end, max(at, start)), None, measures)
        value = session.scalar(
            select(KpiValue).where(
                KpiValue.kpi_code == definition.code,
                KpiValue.period_start == start,
                KpiValue.period_end == end,
            )
        ) or KpiValue(kpi_code=definition.code, period_start=start, period_end=end)
        previous = session.scalar(
            select(KpiValue.value)
            .where(KpiValue.kpi_code == definition.code, KpiValue.period_end <= start)
            .order_by(KpiValue.period_end.desc())
            .limit(1)
        )
        already = target_status(definition, value.value) == "alert"  # this period's earlier run raised it
        if target_status(definition, outcome.value) == "alert" and "alert" not in (
            target_status(definition, previous),
            "alert" if already else "",
        ):
            publish(
                session,
                "governance.kpi.alert",
                {
                    "kpi": definition.code,
                    "title": f"{definition.name_vi}: {outcome.value:g} {definition.unit}",
                    "value": outcome.value,
                    "target": definition.target,
                    "alert_threshold": definition.alert_threshold,
                    "severity": "warning",
                },
                key=f"kpi:{definition.code}",
            )
        value.run_id = run_row.id
        value.value, value.status, value.reason = outcome.value, outcome.status, outcome.reason
        value.provenance = outcome.provenance | {"run": run_row.id, "computed_for": at.isoformat()}
        value.computed_at = utcnow()
        session.add(value)
        if outcome.status == "computed":
            run_row.computed += 1
        elif outcome.status == "not_measured":
            run_row.not_measured += 1
        else:
            run_row.failed += 1
    run_row.period_start = min((period_of(d.frequency, at)[0] for d in definitions), default=at)
    run_row.period_end = max((period_of(d.frequency, at)[1] for d in definitions), default=at)
    run_row.finished_at = utcnow()
    session.flush()
    return run_row


def target_status(definition: KpiDefinition, value: float | None) -> str:
    """met, watch (between target and alert threshold), alert, or unknown."""
    if value is None or definition.target is None:
        return "unknown"
    up = definition.direction == "up"
    if (value >= definition.target) if up else (value <= definition.target):
        return "met"
    if definition.alert_threshold is not None and (
        (value < definition.alert_threshold) if up else (value > definition.alert_threshold)
    ):
        return "alert"
    return "watch"


def recent_values(
    session: Session, per_kpi: int, codes: list[str] | None = None
) -> dict[str, list[KpiValue]]:
    """The `per_kpi` most recent values of each KPI, oldest first.

    One statement, a UNION ALL of one short read per KPI on the (kpi_code, period_end) index: its cost does not
    grow with the stored history, unlike a window over the whole table.
    """
    if codes is None:
        codes = list(session.scalars(select(KpiDefinition.code)))
    if not codes:
        return {}
    parts = [
        select(KpiValue.id)
        .where(KpiValue.kpi_code == code)
        .order_by(KpiValue.period_end.desc())
        .limit(per_kpi)
        .subquery()
        .select()
        for code in codes
    ]
    ids = union_all(*parts).subquery()
    rows = session.scalars(
        select(KpiValue)
        .where(KpiValue.id.in_(select(ids.c.id)))
        .order_by(KpiValue.kpi_code, KpiValue.period_end)
    )
    found: dict[str, list[KpiValue]] = {}
    for row in rows:
        found.setdefault(row.kpi_code, []).append(row)
    return found


def latest_values(session: Session, codes: list[str] | None = None) -> dict[str, KpiValue]:
    """The most recent stored value of each KPI."""
    return {code: values[-1] for code, values in recent_values(session, 1, codes).items()}


def series(session: Session, code: str, limit: int = 90) -> list[KpiValue]:
    rows = session.scalars(
        select(KpiValue).where(KpiValue.kpi_code == code).order_by(KpiValue.period_end.desc()).limit(limit)
    )
    return list(reversed(list(rows)))


def due(session: Session, now: datetime) -> bool:
    """Whether the scheduled run is due: no run yet in the current hour."""
    last = session.scalar(select(KpiRun.computed_for).order_by(KpiRun.computed_for.desc()).limit(1))
    return last is None or period_of("hourly", last)[0] != period_of("hourly", now)[0]
