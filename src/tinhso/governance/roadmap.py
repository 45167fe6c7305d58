"""The framework's roadmap: importing the 142 tasks, normalising deadlines and agencies, progress and lateness.

The task list is section 2.1 of the appendix of Decision 4520/QĐ-UBND ("Danh sách các nhiệm vụ và lộ trình
triển khai"), shipped in `data/nghe_an_4520_tasks.csv`. Its cells are free text: the import turns the deadline
into a start, a due date and a recurrence, and the lead/coordinating cells into agency records.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from importlib import resources
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from tinhso.governance.models import RoadmapTask, TaskAgency
from tinhso.identity.models import Agency
from tinhso.kit.errors import Unprocessable
from tinhso.kit.text import fold, nfc

CSV_COLUMNS = (
    "section",
    "section_title",
    "group",
    "group_title",
    "number",
    "parent_number",
    "task",
    "lead",
    "coordinating",
    "deadline",
)
# How long a recurring task may go without a progress report before it counts as late.
STALE_AFTER = {"annual": timedelta(days=365), "continuous": timedelta(days=180)}


@dataclass(frozen=True)
class Deadline:
    start_on: date | None
    due_on: date | None
    recurrence: str  # once, annual, continuous, guided, unspecified


def parse_deadline(text: str) -> Deadline:
    """Normalise the decision's free-text deadline ("2026- 2030", "Hàng năm", "Trước tháng 12/2026", …)."""
    folded = fold(nfc(text or "")).strip().rstrip(".").strip()
    if not folded:
        return Deadline(None, None, "unspecified")
    if folded.startswith("hang nam"):
        return Deadline(None, None, "annual")
    if folded.startswith("thuong xuyen"):
        return Deadline(None, None, "continuous")
    if folded.startswith("theo huong dan"):
        return Deadline(None, None, "guided")
    before = re.search(r"truoc (?:thang )?(\d{1,2})/(20\d\d)", folded)
    if before:
        month, year = int(before.group(1)), int(before.group(2))
        if not 1 <= month <= 12:
            raise ValueError(f"month out of range in deadline {text!r}")
        return Deadline(None, date(year, month, 1) - timedelta(days=1), "once")
    years = [int(y) for y in re.findall(r"(20\d\d)", folded)]
    if not years:
        raise ValueError(f"unrecognised deadline {text!r}")
    return Deadline(date(min(years), 1, 1), date(max(years), 12, 31), "once")


# Agencies named in the task list under another form than their registered name (folded text → code).
ALIASES = {
    "cong an tinh": "000.00.15.H41",
    "cong tinh": "000.00.15.H41",  # typo in the decision ("Công tỉnh")
    "thue tinh": "000.00.17.H41",
    "thong ke tinh": "000.00.16.H41",
    "van phong tinh uy": "000.00.18.H41",
    "van phong ubnd tinh": "000.00.01.H41",
    "thanh tra tinh": "000.00.14.H41",
    "so khoa hoc va cong nghe": "000.00.02.H41",
}
# Collective phrases: every department/sector, or every commune's UBND.
COLLECTIVES = [
    (r"(?:cac )?so,? ?ban,? ?nganh(?: lien quan)?|cac so,? nganh|\bso,? nganh", "departments"),
    (r"ubnd (?:cac phuong,? xa,? dac khu|cap xa)(?: cap xa)?|ubnd cap\b|\bdia phuong\b", "communes"),
]
SEPARATORS = re.compile(r"[\s,;.\-–:]+")
EDGE_WORDS = re.compile(r"^(?:(?:cac|va)\s+)+|(?:\s+(?:cac|va))+$")


@dataclass
class AgencyMatch:
    codes: list[str] = field(default_factory=list)
    collectives: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)


class AgencyMatcher:
    """Finds the agencies named in a lead/coordinating cell (accent- and punctuation-insensitive)."""

    def __init__(self, agencies: list[tuple[str, str]]):
        names: dict[str, str] = {}
        for code, name in agencies:
            folded = fold(nfc(name))
            names[folded] = code
            for suffix in (" tinh nghe an", " nghe an"):
                if folded.endswith(suffix):
                    names[folded.removesuffix(suffix)] = code
        known = set(names.values())
        names.update({alias: code for alias, code in ALIASES.items() if code in known})
        self.names = sorted(names.items(), key=lambda kv: -len(kv[0]))

    @classmethod
    def from_db(cls, session: Session) -> AgencyMatcher:
        rows = session.execute(select(Agency.code, Agency.name).where(Agency.kind != "commune")).all()
        return cls([(r.code, r.name) for r in rows])

    def match(self, text: str) -> AgencyMatch:
        result = AgencyMatch()
        rest = " " + fold(nfc(text or "")) + " "
        for name, code in self.names:
            pattern = r"(?<![a-z])" + re.escape(name) + r"(?![a-z])"
            if re.search(pattern, rest):
                rest = re.sub(pattern, " ", rest)
                if code not in result.codes:
                    result.codes.append(code)
        for pattern, group in COLLECTIVES:
            if re.search(pattern, rest):
                rest = re.sub(pattern, " ", rest)
                if group not in result.collectives:
                    result.collectives.append(group)
        for piece in re.split(r"[;,]|\s-\s|^-|\.\s", rest):
            leftover = EDGE_WORDS.sub("", SEPARATORS.sub(" ", piece).strip()).strip()
            if len(leftover) >= 2:
                result.unmatched.append(leftover)
        return result


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)  # {"line", "reason"}
    unmatched: list[dict[str, Any]] = field(default_factory=list)  # {"task", "role", "text"}


def task_code(section: str, number: str, ordinal: int) -> str:
    return f"{section}.{number}" if number else f"{section}.#{ordinal}"


def read_rows(text: str) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise Unprocessable(
            "roadmap_csv_columns", "The CSV lacks the columns: {columns}", columns=", ".join(missing)
        )
    return [(i, row) for i, row in enumerate(reader, start=2)]


def import_tasks(session: Session, text: str) -> ImportReport:
    """Insert or update the tasks of a roadmap CSV; broken rows are rejected and reported, not half-loaded."""
    report = ImportReport()
    matcher = AgencyMatcher.from_db(session)
    existing = {
        t.code: t for t in session.scalars(select(RoadmapTask).options(selectinload(RoadmapTask.agencies)))
    }
    seen: set[str] = set()
    ordinal = 0
    for line, row in read_rows(text):
        if None in row or any(row.get(c) is None for c in CSV_COLUMNS):
            report.rejected.append({"line": line, "reason": "wrong number of cells"})
            continue
        section, title = nfc(row["section"].strip()), nfc(row["task"].strip())
        if not section or not re.fullmatch(r"[IVX]+(\.\d+)*", section):
            report.rejected.append({"line": line, "reason": f"bad section {section!r}"})
            continue
        if not title:
            report.rejected.append({"line": line, "reason": "empty task text"})
            continue
        try:
            deadline = parse_deadline(row["deadline"])
        except ValueError as exc:
            report.rejected.append({"line": line, "reason": str(exc)})
            continue
        ordinal += 1
        code = task_code(section, row["number"].strip(), ordinal)
        if code in seen:
            report.rejected.append({"line": line, "reason": f"duplicate task {code}"})
            continue
        seen.add(code)
        task = existing.get(code)
        if task is None:
            task = RoadmapTask(code=code, agencies=[])
            session.add(task)
            report.created += 1
        else:
            report.updated += 1
        task.ordinal = ordinal
        task.section, task.section_title = section, nfc(row["section_title"].strip())
        task.group, task.group_title = row["group"].strip(), nfc(row["group_title"].strip())
        task.number, task.parent_number = row["number"].strip(), row["parent_number"].strip()
        task.title = title
        task.lead_text, task.coordinating_text = nfc(row["lead"].strip()), nfc(row["coordinating"].strip())
        task.deadline_text = nfc(row["deadline"].strip())
        task.start_on, task.due_on, task.recurrence = deadline.start_on, deadline.due_on, deadline.recurrence
        links: list[TaskAgency] = []
        unmatched: list[dict[str, str]] = []
        collectives: list[dict[str, str]] = []
        for role, cell in (("lead", task.lead_text), ("coordinating", task.coordinating_text)):
            found = matcher.match(cell)
            for agency_code in found.codes:
                if not any(a.agency_code == agency_code and a.role == role for a in links):
                    links.append(TaskAgency(agency_code=agency_code, role=role))
            collectives += [{"role": role, "group": g} for g in found.collectives]
            unmatched += [{"role": role, "text": u} for u in found.unmatched]
        keep = {(a.agency_code, a.role) for a in links}
        task.agencies = [a for a in task.agencies if (a.agency_code, a.role) in keep] + [
            a
            for a in links
            if (a.agency_code, a.role) not in {(b.agency_code, b.role) for b in task.agencies}
        ]
        task.collectives, task.unmatched = collectives, unmatched
        report.unmatched += [{"task": code, **u} for u in unmatched]
        task.search_text = fold(" ".join([code, title, task.lead_text, task.coordinating_text]))
    session.flush()
    return report


def load_bundled(session: Session) -> ImportReport:
    text = resources.files("tinhso.governance").joinpath("data", "nghe_an_4520_tasks.csv").read_text("utf-8")
    return import_tasks(session, text)


def agency_roles(task: RoadmapTask, agency: Agency | None) -> set[str]:
    """The roles ('lead', 'coordinating') an agency holds on a task, directly or as part of a collective."""
    if agency is None:
        return set()
    roles = {a.role for a in task.agencies if a.agency_code == agency.code}
    group = "communes" if agency.kind == "commune" else "departments"
    roles |= {c["role"] for c in task.collectives if c["group"] == group}
    return roles


def is_late(task: RoadmapTask, today: date) -> bool:
    """Late: a one-off task past its due date and not done; a recurring task with no recent report."""
    if task.status == "done" and task.recurrence == "once":
        return False
    if task.recurrence == "once":
        return task.due_on is not None and task.due_on < today
    stale = STALE_AFTER.get(task.recurrence)
    if stale is None:
        return False
    if task.last_reported_at is None:
        # A recurring task becomes due a full period after the decision took effect (31/12/2025).
        return today - date(2025, 12, 31) > stale
    return today - task.last_reported_at.date() > stale


def is_started(task: RoadmapTask, today: date) -> bool:
    return task.start_on is None or task.start_on <= today


def due_in_year(task: RoadmapTask, year: int) -> bool:
    """Whether the task belongs to a year's report: recurring, or its window overlaps the year."""
    if task.recurrence in ("annual", "continuous"):
        return True
    if task.start_on is None and task.due_on is None:
        return False
    start = task.start_on or date(year, 1, 1)
    due = task.due_on or date(year, 12, 31)
    return start <= date(year, 12, 31) and due >= date(year, 1, 1)


def local_today(now: datetime) -> date:
    from zoneinfo import ZoneInfo

    return now.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date()
