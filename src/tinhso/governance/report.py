"""The data of the reports: the roadmap's annual report (and its XLSX) and the monthly KPI report."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from tinhso.governance import kpi
from tinhso.governance.models import KpiDefinition, KpiValue, RoadmapTask, TaskProgress
from tinhso.governance.roadmap import due_in_year, is_late
from tinhso.identity.models import Agency
from tinhso.kit.i18n import gettext

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass
class ReportRow:
    task: RoadmapTask
    lead: list[str]
    late: bool
    reports: list[TaskProgress]


@dataclass
class AnnualReport:
    year: int
    as_of: date
    rows: list[ReportRow] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        counts = {
            "tasks": len(self.rows),
            "done": 0,
            "in_progress": 0,
            "not_started": 0,
            "blocked": 0,
            "late": 0,
        }
        for r in self.rows:
            counts[r.task.status] = counts.get(r.task.status, 0) + 1
            counts["late"] += int(r.late)
        return counts


def annual_report(session: Session, year: int, as_of: date) -> AnnualReport:
    """Every task belonging to `year` with its lead agencies, status, lateness and the year's reports."""
    names = dict(session.execute(select(Agency.code, Agency.short_name)).tuples().all())
    tasks = list(
        session.scalars(
            select(RoadmapTask).options(selectinload(RoadmapTask.agencies)).order_by(RoadmapTask.ordinal)
        )
    )
    progress: dict[str, list[TaskProgress]] = {}
    start, end = datetime(year, 1, 1, tzinfo=TZ), datetime(year + 1, 1, 1, tzinfo=TZ)
    for p in session.scalars(
        select(TaskProgress)
        .where(TaskProgress.created_at >= start, TaskProgress.created_at < end)
        .order_by(TaskProgress.created_at)
    ):
        progress.setdefault(p.task_id, []).append(p)
    report = AnnualReport(year, as_of)
    for t in tasks:
        if not due_in_year(t, year):
            continue
        lead = [names.get(a.agency_code) or a.agency_code for a in t.agencies if a.role == "lead"]
        lead += [u["text"] for u in t.unmatched if u["role"] == "lead"]
        report.rows.append(ReportRow(t, lead or [t.lead_text], is_late(t, as_of), progress.get(t.id, [])))
    return report


def annual_xlsx(report: AnnualReport, lang: str = "vi") -> bytes:
    def _(msg: str, **params: Any) -> str:
        return gettext(msg, lang, **params)

    wb = Workbook()
    ws = wb.active
    ws.title = _("Roadmap {year}", year=report.year)[:31]
    ws.append(
        [
            _(
                "Implementation of the digital architecture framework (Decision 4520/QĐ-UBND) — year {year}",
                year=report.year,
            )
        ]
    )
    ws["A1"].font = Font(bold=True, size=13)
    ws.append([_("As of {date}", date=report.as_of.strftime("%d/%m/%Y"))])
    ws.append([])
    headers = [
        _("Task"),
        _("Section"),
        _("Content"),
        _("Lead agency"),
        _("Coordinating"),
        _("Deadline"),
        _("Due"),
        _("Status"),
        _("Progress (%)"),
        _("Late"),
        _("Reports this year"),
        _("Latest comment"),
        _("Evidence"),
    ]
    ws.append(headers)
    for cell in ws[4]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="0B5CAD")
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for r in report.rows:
        t = r.task
        last = r.reports[-1] if r.reports else None
        evidence = "; ".join(
            e.get("title", "") + (f" ({e['url']})" if e.get("url") else "")
            for p in r.reports
            for e in p.evidence
        )
        ws.append(
            [
                t.code,
                t.section,
                t.title,
                ", ".join(r.lead),
                t.coordinating_text,
                t.deadline_text,
                t.due_on,
                _("task." + t.status),
                t.percent,
                _("yes") if r.late else _("no"),
                len(r.reports),
                last.comment if last else "",
                evidence,
            ]
        )
        if r.late:
            ws.cell(ws.max_row, 10).font = Font(bold=True, color="B00020")
    for i, width in enumerate([9, 8, 70, 28, 30, 16, 12, 14, 10, 8, 10, 40, 40], start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    for row in ws.iter_rows(min_row=5):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        row[6].number_format = "DD/MM/YYYY"
    ws.freeze_panes = "A5"
    summary = wb.create_sheet(_("Summary"))
    for key, value in report.totals.items():
        summary.append([_("total." + key), value])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


@dataclass
class MonthItem:
    definition: KpiDefinition
    name: str
    last: KpiValue | None  # the month's last computed value
    status: str  # of the month's last run: computed, not_measured, failed (not_computed: never run)
    target_status: str
    series: list[tuple[datetime, float]]


@dataclass
class MonthGroup:
    code: str
    name: str
    items: list[MonthItem]


@dataclass
class MonthlyReport:
    year: int
    month: int
    lang: str
    groups: list[MonthGroup]

    @property
    def label(self) -> str:
        return f"{self.month:02d}/{self.year}"

    @property
    def counts(self) -> dict[str, int]:
        """How many KPIs met their target, are to watch, in alert, or have no value this month."""
        out = {"met": 0, "watch": 0, "alert": 0, "unknown": 0}
        for g in self.groups:
            for i in g.items:
                out[i.target_status] = out.get(i.target_status, 0) + 1
        return out


def monthly_report(session: Session, year: int, month: int, lang: str = "vi") -> MonthlyReport:
    """Every KPI of the month by group: last computed value, target status and the month's series."""
    start = datetime(year, month, 1, tzinfo=kpi.TZ)
    end = (start + timedelta(days=32)).replace(day=1)
    by_code: dict[str, list[KpiValue]] = {}
    for v in session.scalars(
        select(KpiValue)
        .where(KpiValue.period_end > start, KpiValue.period_end <= end)
        .order_by(KpiValue.kpi_code, KpiValue.period_end)
    ):
        by_code.setdefault(v.kpi_code, []).append(v)
    definitions = list(session.scalars(select(KpiDefinition).order_by(KpiDefinition.ordinal)))
    groups = []
    for code, (vi, en) in kpi.GROUPS.items():
        items = []
        for d in definitions:
            if d.group != code:
                continue
            values = by_code.get(d.code, [])
            last = next((v for v in reversed(values) if v.status == "computed"), None)
            items.append(
                MonthItem(
                    definition=d,
                    name=d.name_vi if lang == "vi" else d.name_en,
                    last=last,
                    status=values[-1].status if values else "not_computed",
                    target_status=kpi.target_status(d, last.value if last else None),
                    series=[(v.period_end, v.value) for v in values if v.value is not None],
                )
            )
        groups.append(MonthGroup(code, vi if lang == "vi" else en, items))
    return MonthlyReport(year, month, lang, groups)


def month_of(month: str | None, now: datetime | None = None) -> tuple[int, int]:
    """(year, month) of a 'YYYY-MM' string, or of the current local month."""
    from tinhso.kit.db import utcnow

    text = month or (now or utcnow()).astimezone(kpi.TZ).strftime("%Y-%m")
    year, mon = text.split("-")
    return int(year), int(mon)
