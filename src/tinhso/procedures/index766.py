"""Decision 766/QĐ-TTg service-quality index computed from the dossiers, with the documented scoring.

Each dossier-level indicator is a pair of predicates (in the denominator, in the numerator) over one dossier,
so every figure can be traced back to the dossiers that make it (`trace`). Procedure-level indicators count
procedures of the scope. Scoring: `points = max × min(1, rate / threshold)` where the reference gives a
threshold, else `points = max × rate`. The feedback indicators 5.1-5.3 come from the PAKN records
(`feedback.py`). Indicators without data in the platform (electronic certified copies) are reported as not
available and left out of the attainable maximum; the score out of 100 is the points over the attainable maximum.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, literal, not_, or_, select, true
from sqlalchemy.orm import Session

from tinhso.identity.models import Agency
from tinhso.kit.db import UTCDateTime
from tinhso.kit.errors import Unprocessable
from tinhso.procedures import feedback
from tinhso.procedures.calendar import TZ, WorkCalendar
from tinhso.procedures.models import Dossier, Procedure

OPEN = ("received", "assigned", "in_review", "for_signature", "supplement_requested")
WITH_RESULT = ("result_ready", "returned")


@dataclass(frozen=True)
class Indicator:
    id: str
    group: str
    name_vi: str
    name_en: str
    max_points: float
    threshold: float | None = None
    level: str = "dossier"  # dossier | procedure | feedback | none


INDICATORS = [
    Indicator("1.1", "Công khai, minh bạch", "TTHC được công bố đúng hạn", "Procedures published on time", 6),
    Indicator(
        "1.2",
        "Công khai, minh bạch",
        "TTHC được công khai đúng hạn trên CSDL QG",
        "Procedures disclosed on time",
        4,
        level="procedure",
    ),
    Indicator(
        "1.3",
        "Công khai, minh bạch",
        "TTHC công bố đầy đủ bộ phận",
        "Procedures published with all components",
        2,
        level="procedure",
    ),
    Indicator(
        "1.4",
        "Công khai, minh bạch",
        "Hồ sơ đồng bộ lên Cổng DVCQG",
        "Dossiers synced to the national portal",
        6,
    ),
    Indicator(
        "2.1",
        "Tiến độ giải quyết",
        "Hồ sơ giải quyết trước và đúng hạn",
        "Dossiers settled early or on time",
        20,
    ),
    Indicator(
        "2.2",
        "Tiến độ giải quyết",
        "Thời gian giải quyết trung bình (ngày)",
        "Average processing time (days)",
        0,
    ),
    Indicator(
        "3.1",
        "Dịch vụ công trực tuyến",
        "TTHC cung cấp DVC trực tuyến",
        "Procedures offered online",
        0,
        0.8,
        level="procedure",
    ),
    Indicator(
        "3.2",
        "Dịch vụ công trực tuyến",
        "DVC trực tuyến có phát sinh hồ sơ",
        "Online services that received dossiers",
        0,
        level="procedure",
    ),
    Indicator("3.3", "Dịch vụ công trực tuyến", "Hồ sơ nộp trực tuyến", "Dossiers submitted online", 12, 0.5),
    Indicator(
        "3.5",
        "Thanh toán trực tuyến",
        "TTHC tích hợp thanh toán trực tuyến",
        "Procedures with online fee payment",
        0,
        0.8,
        level="procedure",
    ),
    Indicator("3.6", "Thanh toán trực tuyến", "Hồ sơ thanh toán trực tuyến", "Dossiers paid online", 10),
    Indicator("4.1", "Số hóa hồ sơ", "Hồ sơ có kết quả điện tử", "Dossiers with an electronic result", 6),
    Indicator("4.2", "Số hóa hồ sơ", "Hồ sơ được số hóa", "Dossiers digitised", 4, 0.8),
    Indicator(
        "4.3", "Số hóa hồ sơ", "Hồ sơ tái sử dụng dữ liệu số hóa", "Dossiers reusing digitised data", 2, 0.8
    ),
    Indicator("4.4", "Số hóa hồ sơ", "Hồ sơ lấy từ kho dữ liệu", "Dossiers using the data store", 2),
    Indicator(
        "4.5a",
        "Số hóa hồ sơ",
        "TTHC sử dụng dữ liệu dân cư",
        "Procedures using population data",
        4,
        level="procedure",
    ),
    Indicator("4.5b", "Số hóa hồ sơ", "Hồ sơ sử dụng dữ liệu dân cư", "Dossiers using population data", 2),
    Indicator(
        "4.6", "Số hóa hồ sơ", "Chứng thực bản sao điện tử", "Electronic certified copies", 2, level="none"
    ),
    Indicator(
        "5.1",
        "Mức độ hài lòng",
        "Phản ánh, kiến nghị (theo dõi)",
        "Feedback (monitoring)",
        0,
        level="feedback",
    ),
    Indicator(
        "5.2", "Mức độ hài lòng", "Xử lý PAKN đúng hạn", "Feedback handled on time", 6, level="feedback"
    ),
    Indicator(
        "5.3",
        "Mức độ hài lòng",
        "Hài lòng xử lý PAKN",
        "Satisfaction with feedback handling",
        6,
        level="feedback",
    ),
    Indicator(
        "5.4",
        "Mức độ hài lòng",
        "Hài lòng tiếp nhận, giải quyết TTHC",
        "Satisfaction with procedures",
        6,
        0.9,
    ),
]
BY_ID = {i.id: i for i in INDICATORS}


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """'2026-03' (month) or '2026-Q1' (quarter) as UTC bounds of the local (Asia/Ho_Chi_Minh) period."""
    m = re.fullmatch(r"(\d{4})-(\d{2})", period)
    q = re.fullmatch(r"(\d{4})-Q([1-4])", period)
    if m and 1 <= int(m.group(2)) <= 12:
        y, mo, months = int(m.group(1)), int(m.group(2)), 1
    elif q:
        y, mo, months = int(q.group(1)), (int(q.group(2)) - 1) * 3 + 1, 3
    else:
        raise Unprocessable("bad_period", "Period must look like 2026-03 or 2026-Q1")
    end_m = mo + months
    start = datetime(y, mo, 1, tzinfo=TZ)
    end = datetime(y + (end_m - 1) // 12, (end_m - 1) % 12 + 1, 1, tzinfo=TZ)
    return start, end


def _scope_filter(since: datetime, until: datetime, agency: str | None, commune: str | None) -> Any:
    """Dossiers received in the period, plus earlier ones still open or finished in it."""
    in_period = and_(Dossier.received_at >= since, Dossier.received_at < until)
    carried = and_(
        Dossier.received_at < since,
        or_(Dossier.status.in_(OPEN), and_(Dossier.finished_at >= since, Dossier.finished_at < until)),
    )
    cond = or_(in_period, carried)
    if agency:
        cond = and_(cond, Dossier.agency_code == agency)
    if commune:
        cond = and_(cond, Dossier.commune_code == commune)
    return cond


def dossier_conditions(since: datetime, until: datetime) -> dict[str, tuple[Any, Any]]:
    """Per dossier-level indicator: (in the denominator, in the numerator) as SQL conditions."""
    until_lit = literal(until, UTCDateTime)
    rec = and_(Dossier.received_at >= since, Dossier.received_at < until)
    end = case(
        (and_(Dossier.finished_at.is_not(None), Dossier.finished_at < until), Dossier.finished_at),
        else_=until_lit,
    )
    on_time = and_(
        Dossier.supplement_count <= 1,
        case(
            (
                and_(Dossier.status == "supplement_requested", Dossier.paused_at.is_not(None)),
                Dossier.paused_at <= Dossier.due_at,
            ),
            else_=end <= Dossier.due_at,
        ),
    )
    has_result = Dossier.result_document_id.is_not(None)
    population = or_(Dossier.population_data, Dossier.vneid_verified, Dossier.from_data_store)
    finished_with_result = and_(
        Dossier.status.in_(WITH_RESULT), Dossier.finished_at.is_not(None), Dossier.finished_at < until
    )
    return {
        "1.4": (rec, Dossier.synced_at.is_not(None)),
        "2.1": (true(), on_time),
        "3.3": (rec, and_(Dossier.channel == 2, or_(Dossier.status.not_in(WITH_RESULT), has_result))),
        "3.6": (and_(rec, Dossier.fee_total > 0), Dossier.paid_online.in_((1, 2))),
        "4.1": (finished_with_result, has_result),
        "4.2": (rec, and_(Dossier.digitised, has_result)),
        "4.3": (rec, Dossier.reused_data.is_(True)),
        "4.4": (rec, Dossier.from_data_store.is_(True)),
        "4.5b": (rec, population),
        "5.4c": (rec, Dossier.complaint.is_(True)),
    }


def _seconds(session: Session, later: Any, earlier: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _procedures_in_scope(
    procs: list[Procedure], agencies: dict[str, Agency], key: str, group_by: str
) -> list[Procedure]:
    if group_by == "province":
        return procs
    agency = (
        agencies.get(key)
        if group_by == "agency"
        else next((a for a in agencies.values() if a.kind == "commune" and a.commune_code == key), None)
    )
    if agency is None:
        return []
    if agency.kind == "commune":
        return [p for p in procs if p.level == "xa"]
    return [p for p in procs if p.agency_code == agency.code]


def _complete(p: Procedure) -> bool:
    return bool(
        p.name
        and p.steps_text
        and p.method_text
        and p.components
        and p.subjects
        and p.time_limit_unit
        and (p.agency_code or p.level == "xa")
    )


def _rate(num: float, den: float) -> float | None:
    return None if den == 0 else num / den


def _points(ind: Indicator, rate: float | None) -> float | None:
    if rate is None or ind.max_points == 0:
        return None
    if ind.threshold:
        return ind.max_points * min(1.0, rate / ind.threshold)
    return ind.max_points * rate


def compute(
    session: Session,
    period: str,
    group_by: str = "province",
    agency: str | None = None,
    commune: str | None = None,
) -> list[dict[str, Any]]:
    """The index for every scope of `group_by` (province | agency | commune) in `period`."""
    return compute_many(session, period, (group_by,), agency, commune)[group_by]


def compute_many(
    session: Session,
    period: str,
    groups: tuple[str, ...] = ("province", "agency", "commune"),
    agency: str | None = None,
    commune: str | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The index for several groupings; each is one aggregate query over the dossiers (plus two small ones)."""
    if not groups or any(g not in ("province", "agency", "commune") for g in groups):
        raise Unprocessable("bad_group", "Group by province, agency or commune")
    since, until = period_bounds(period)
    scope = _scope_filter(since, until, agency, commune)
    conds = dossier_conditions(since, until)
    ids = list(conds)
    rec = and_(Dossier.received_at >= since, Dossier.received_at < until)
    done = and_(rec, Dossier.finished_at.is_not(None), Dossier.finished_at < until)
    elapsed = _seconds(session, Dossier.finished_at, Dossier.received_at) - Dossier.paused_seconds
    counts: dict[tuple[str, str], list[list[int]]] = {}
    durations: dict[tuple[str, str], tuple[float, int]] = {}
    ratings: dict[tuple[str, str], tuple[float, int]] = {}
    online_procs: dict[tuple[str, str], set[str]] = defaultdict(set)
    pop_procs: dict[tuple[str, str], set[str]] = defaultdict(set)
    population = or_(Dossier.population_data, Dossier.vneid_verified, Dossier.from_data_store)
    for g in groups:
        key = {
            "province": literal("province"),
            "agency": Dossier.agency_code,
            "commune": Dossier.commune_code,
        }[g]
        cols: list[Any] = [key.label("k")]
        for ind_id in ids:
            den, num = conds[ind_id]
            cols.append(func.sum(case((den, 1), else_=0)))
            cols.append(func.sum(case((and_(den, num), 1), else_=0)))
        cols += [
            func.sum(case((done, elapsed), else_=0)),
            func.sum(case((done, 1), else_=0)),
            func.sum(case((and_(rec, Dossier.rating.is_not(None)), Dossier.rating), else_=0)),
            func.sum(case((and_(rec, Dossier.rating.is_not(None)), 1), else_=0)),
        ]
        for row in session.execute(select(*cols).where(scope).group_by(key)):
            if row[0] is None:
                continue
            values = [int(v or 0) for v in row[1 : 1 + 2 * len(ids)]]
            counts[(g, row[0])] = [[values[2 * i + 1], values[2 * i]] for i in range(len(ids))]
            tail = row[1 + 2 * len(ids) :]
            durations[(g, row[0])] = (float(tail[0] or 0) / 86400, int(tail[1] or 0))
            ratings[(g, row[0])] = (float(tail[2] or 0), int(tail[3] or 0))
        for target, cond in ((online_procs, Dossier.channel == 2), (pop_procs, population)):
            pairs: Any = select(key.label("k"), Dossier.procedure_code).where(scope, rec, cond).distinct()
            for k, code in session.execute(pairs):
                if k is not None:
                    target[(g, k)].add(code)
    agencies = {a.code: a for a in session.scalars(select(Agency))}
    all_procs = list(session.scalars(select(Procedure).where(Procedure.status == "published")))
    cal = WorkCalendar.load(session)
    pakn = {g: feedback.figures(session, since, until, g, agency, commune) for g in groups}
    return {
        g: _results(
            g,
            pakn[g],
            counts,
            durations,
            ratings,
            online_procs,
            pop_procs,
            ids,
            agencies,
            all_procs,
            cal,
            since,
            until,
            period,
            agency,
        )
        for g in groups
    }


def _results(
    group_by: str,
    pakn: dict[str, dict[str, Any]],
    all_counts: Any,
    all_durations: Any,
    all_ratings: Any,
    all_online: Any,
    all_pop: Any,
    ids: list[str],
    agencies: dict[str, Agency],
    all_procs: list[Procedure],
    calendar: WorkCalendar,
    since: datetime,
    until: datetime,
    period: str,
    agency: str | None,
) -> list[dict[str, Any]]:
    empty = [[0, 0] for _ in ids]
    counts = {k: dict(zip(ids, v, strict=True)) for (g, k), v in all_counts.items() if g == group_by}
    counts = defaultdict(lambda: dict(zip(ids, empty, strict=True)), counts)
    durations = defaultdict(lambda: (0.0, 0), {k: v for (g, k), v in all_durations.items() if g == group_by})
    ratings = defaultdict(lambda: (0.0, 0), {k: v for (g, k), v in all_ratings.items() if g == group_by})
    online_procs = defaultdict(set, {k: v for (g, k), v in all_online.items() if g == group_by})
    pop_procs = defaultdict(set, {k: v for (g, k), v in all_pop.items() if g == group_by})
    preds = ids
    keys = sorted(set(counts) | set(pakn)) if group_by != "province" else ["province"]
    if agency and group_by == "agency" and agency not in keys:
        keys = [agency]
    out = []
    for key in keys:
        c = counts[key]
        procs = _procedures_in_scope(all_procs, agencies, key, group_by)
        online = [p for p in procs if p.online in ("full", "partial")]
        with_fees = [p for p in procs if any(int(f.get("amount_vnd", 0)) > 0 for f in p.fees or [])]
        individual = [p for p in procs if "individual" in (p.subjects or [])]
        decided = [p for p in procs if p.decision_date and since.date() <= p.decision_date < until.date()]
        cal = calendar if decided else None
        raw: dict[str, tuple[float, float]] = {
            ind_id: (float(c[ind_id][0]), float(c[ind_id][1])) for ind_id in preds
        }
        if cal is not None:
            raw["1.1"] = (
                float(
                    sum(
                        1
                        for p in decided
                        if p.effective_date
                        and p.decision_date
                        and p.decision_date <= _minus_wd(cal, p.effective_date, 5)
                    )
                ),
                float(len(decided)),
            )
            raw["1.2"] = (
                float(
                    sum(
                        1
                        for p in decided
                        if p.disclosed_date
                        and p.decision_date
                        and p.disclosed_date <= cal.add_working_days(p.decision_date, 5)
                    )
                ),
                float(len(decided)),
            )
        else:
            raw["1.1"] = raw["1.2"] = (0.0, 0.0)
        # 3.3 counts online dossiers "multiplied by the sync rate" (1.4) of the same dossiers.
        sync_num, sync_den = raw["1.4"]
        if sync_den:
            raw["3.3"] = (raw["3.3"][0] * sync_num / sync_den, raw["3.3"][1])
        raw["1.3"] = (float(sum(1 for p in procs if _complete(p))), float(len(procs)))
        raw["3.1"] = (float(len(online)), float(len(procs)))
        raw["3.2"] = (float(len({p.code for p in online} & online_procs[key])), float(len(online)))
        raw["3.5"] = (float(sum(1 for p in with_fees if p.fee_online_synced)), float(len(with_fees)))
        raw["4.5a"] = (float(len({p.code for p in individual} & pop_procs[key])), float(len(individual)))
        figures: dict[str, dict[str, Any]] = {}
        for ind in INDICATORS:
            if ind.level == "none":
                figures[ind.id] = {
                    "numerator": None,
                    "denominator": None,
                    "rate": None,
                    "points": None,
                    "max_points": ind.max_points,
                    "available": False,
                }
                continue
            if ind.id == "2.2":
                total_days, n_done = durations[key]
                figures[ind.id] = {
                    "numerator": round(total_days, 2),
                    "denominator": n_done,
                    "rate": round(total_days / n_done, 2) if n_done else None,
                    "points": None,
                    "max_points": 0,
                    "available": bool(n_done),
                    "unit": "days",
                }
                continue
            if ind.id == "5.1":
                fb = pakn.get(key, {})
                figures[ind.id] = {
                    "numerator": fb.get("total", 0),
                    "denominator": None,
                    "rate": fb.get("total", 0),
                    "points": None,
                    "max_points": 0,
                    "available": True,
                    "unit": "feedback received",
                    "by_category": fb.get("by_category", {}),
                }
                continue
            if ind.id == "5.4":
                late_n, all_n = raw["2.1"][1] - raw["2.1"][0], raw["2.1"][1]
                comp_n, rec_n = raw["5.4c"]
                rate = None if all_n == 0 or rec_n == 0 else max(0.0, 1 - (late_n / all_n + comp_n / rec_n))
                num, den = (rate or 0.0) * rec_n, rec_n
            elif ind.level == "feedback":
                fb = pakn.get(key, {})
                den = float(fb.get("total", 0))
                num = float(fb.get("on_time", 0) if ind.id == "5.2" else den - fb.get("unsatisfied", 0))
                rate = _rate(num, den)
            else:
                num, den = raw[ind.id]
                rate = _rate(num, den)
            pts = _points(ind, rate)
            figures[ind.id] = {
                "numerator": num,
                "denominator": den,
                "rate": None if rate is None else round(rate * 100, 2),
                "points": None if pts is None else round(pts, 2),
                "max_points": ind.max_points,
                "available": rate is not None,
            }
        earned = sum(f["points"] or 0 for f in figures.values())
        attainable = sum(f["max_points"] for f in figures.values() if f["available"])
        name = (
            "UBND tỉnh Nghệ An"
            if group_by == "province"
            else (
                agencies[key].name
                if group_by == "agency" and key in agencies
                else next((a.name for a in agencies.values() if a.commune_code == key), key)
            )
        )
        total_rating, n_rated = ratings[key]
        out.append(
            {
                "average_rating": round(total_rating / n_rated, 2) if n_rated else None,
                "scope": group_by,
                "key": key,
                "name": name,
                "period": period,
                "dossiers": raw["2.1"][1],
                "indicators": figures,
                "points": round(earned, 2),
                "attainable": attainable,
                "score": round(earned / attainable * 100, 2) if attainable else None,
            }
        )
    return out


def _minus_wd(cal: WorkCalendar, day: date, n: int) -> date:
    from datetime import timedelta

    while n > 0:
        day -= timedelta(days=1)
        if cal.is_working_day(day):
            n -= 1
    return day


def trace(
    session: Session,
    period: str,
    indicator: str,
    agency: str | None = None,
    commune: str | None = None,
    limit: int = 500,
) -> dict[str, Any]:
    """The dossiers in the denominator and in the numerator (for 2.1: the late ones) of an indicator;
    for the feedback indicators 5.1-5.3, the feedback records and those late or disliked."""
    since, until = period_bounds(period)
    if indicator in ("5.1", "5.2", "5.3"):
        return {"indicator": indicator, "period": period} | feedback.trace(
            session, since, until, agency, commune, limit
        )
    conds = dossier_conditions(since, until)
    key = {"5.4": "5.4c"}.get(indicator, indicator)
    if key not in conds:
        raise Unprocessable(
            "indicator_not_traceable", "Indicator {id} is not computed from dossiers", id=indicator
        )
    den, num = conds[key]
    scope = and_(_scope_filter(since, until, agency, commune), den)

    def codes(cond: Any) -> list[str]:
        return list(session.scalars(select(Dossier.code).where(cond).order_by(Dossier.code).limit(limit)))

    def count(cond: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(Dossier).where(cond)) or 0)

    out: dict[str, Any] = {
        "indicator": indicator,
        "period": period,
        "denominator": count(scope),
        "numerator": count(and_(scope, num)),
        "denominator_codes": codes(scope),
    }
    if indicator == "2.1":
        out["late"] = codes(and_(scope, not_(num)))
    elif indicator == "5.4":
        out["with_complaint"] = codes(and_(scope, num))
    else:
        out["numerator_codes"] = codes(and_(scope, num))
    return out


def to_xlsx(results: list[dict[str, Any]]) -> bytes:
    import io

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Chi so 766"
    ids = [i.id for i in INDICATORS]
    ws.append(
        ["Phạm vi", "Mã", "Tên", "Kỳ", "Số hồ sơ", "Điểm", "Điểm tối đa khả dụng", "Điểm /100"]
        + [f"{i} (%)" for i in ids]
    )
    for r in results:
        ws.append(
            [
                r["scope"],
                r["key"],
                r["name"],
                r["period"],
                r["dossiers"],
                r["points"],
                r["attainable"],
                r["score"],
            ]
            + [r["indicators"][i]["rate"] for i in ids]
        )
    ws2 = wb.create_sheet("Chi tieu")
    ws2.append(["Mã", "Nhóm", "Chỉ tiêu", "Indicator", "Điểm tối đa", "Ngưỡng"])
    for i in INDICATORS:
        ws2.append([i.id, i.group, i.name_vi, i.name_en, i.max_points, i.threshold])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
