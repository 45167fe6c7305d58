"""Working-day calendar: Vietnam's holidays (the `holidays` package) plus the province's announced exceptions.

Deadlines of administrative procedures count working days (Mon-Fri, minus public holidays and announced days
off, plus make-up working Saturdays). A deadline of N working days ends at the close of office hours of the
N-th working day after the day of receipt; N working hours run through office hours (08:00-12:00, 13:00-17:00,
Asia/Ho_Chi_Minh).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.procedures.config import get_procedures_settings
from tinhso.procedures.models import CalendarDay

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
OFFICE = ((time(8, 0), time(12, 0)), (time(13, 0), time(17, 0)))
CLOSE = time(17, 0)


@lru_cache(maxsize=32)
def _national(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("VN", years=year, language="vi")


@dataclass
class WorkCalendar:
    """The national calendar with the province's exceptions ({day: "off" | "work"})."""

    overrides: dict[date, str] = field(default_factory=dict)
    # Receipts at or after this local time, or on a day off, count from the next working day (None: off).
    cutoff: time | None = None

    @classmethod
    def load(cls, session: Session) -> WorkCalendar:
        rows = session.execute(select(CalendarDay.day, CalendarDay.kind)).all()
        return cls({r.day: r.kind for r in rows}, get_procedures_settings().receipt_cutoff)

    def is_working_day(self, day: date) -> bool:
        kind = self.overrides.get(day)
        if kind is not None:
            return kind == "work"
        return bool(_national(day.year).is_working_day(day))

    def holiday_name(self, day: date) -> str | None:
        return _national(day.year).get(day)

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after `start` (start itself not counted); n=0 gives `start`."""
        day = start
        while n > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                n -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]."""
        if end <= start:
            return 0
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count

    def due_after(self, received_at: datetime, value: int, unit: str) -> datetime:
        """The appointment date (NgayHenTra) of a dossier received at `received_at`."""
        local = received_at.astimezone(TZ)
        if self.cutoff is not None and (local.time() >= self.cutoff or not self.is_working_day(local.date())):
            # The province's rule: received on the next working day, at the opening of the office.
            local = datetime.combine(self.add_working_days(local.date(), 1), OFFICE[0][0], TZ)
        if unit == "working_hours":
            return self.add_working_hours(local, value).astimezone(UTC)
        day = self.add_working_days(local.date(), value)
        return datetime.combine(day, CLOSE, TZ).astimezone(UTC)

    def add_working_hours(self, start: datetime, hours: int) -> datetime:
        remaining = timedelta(hours=hours)
        cursor = start.astimezone(TZ)
        while True:
            day = cursor.date()
            if self.is_working_day(day):
                for begin, end in OFFICE:
                    b = datetime.combine(day, begin, TZ)
                    e = datetime.combine(day, end, TZ)
                    if cursor >= e:
                        continue
                    cursor = max(cursor, b)
                    if cursor + remaining <= e:
                        return cursor + remaining
                    remaining -= e - cursor
                    cursor = e
            cursor = datetime.combine(day + timedelta(days=1), time(0, 0), TZ)

    def shift_for_pause(self, due_at: datetime, paused_at: datetime, resumed_at: datetime) -> datetime:
        """Move the appointment date by the working days the clock was paused (waiting for the citizen)."""
        days = self.working_days_between(paused_at.astimezone(TZ).date(), resumed_at.astimezone(TZ).date())
        if days == 0:
            return due_at
        local = due_at.astimezone(TZ)
        return datetime.combine(self.add_working_days(local.date(), days), local.timetz()).astimezone(UTC)
