"""Dates as people and spreadsheets write them: dd/mm/yyyy (also with - or .), yyyy-mm-dd, Excel serial numbers
(1900 date system), and partial dates (mm/yyyy, yyyy, 00/00/yyyy) which are accepted but flagged."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from tinhso.kit.vn.result import Check

EXCEL_EPOCH = date(1899, 12, 30)  # serial 1 = 1900-01-01, counting Excel's phantom 29/02/1900
_DMY = re.compile(r"^(\d{1,2})[/\-.](\d{1,2})[/\-.](\d{4})$")
_YMD = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ][\d:.]+(?:Z|[+\-]\d{2}:?\d{2})?)?$")
_MY = re.compile(r"^(\d{1,2})[/\-.](\d{4})$")
_Y = re.compile(r"^(\d{4})$")
_SERIAL = re.compile(r"^\d{1,5}(?:\.\d+)?$")


@dataclass
class DateResult(Check):
    precision: str = "day"  # day, month, year

    @property
    def partial(self) -> bool:
        return self.precision != "day"


def _fail(rule: str, message: str, **params: object) -> DateResult:
    return DateResult(False, None, False, rule, message, dict(params))


def parse_date(value: object, min_year: int = 1880, max_date: date | None = None) -> DateResult:
    """Parse one date; a partial date's value is the first day of its month or year, with `precision` set."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return _checked(value, "day", False, min_year, max_date)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _serial(float(value), min_year, max_date)
    raw = "" if value is None else str(value).strip()
    if not raw:
        return _fail("date_empty", "The date is empty")
    try:
        if m := _DMY.match(raw):
            d, mo, y = (int(g) for g in m.groups())
            if d == 0 and mo == 0:
                return _checked(date(y, 1, 1), "year", True, min_year, max_date, warn=True)
            if d == 0:
                return _checked(date(y, mo, 1), "month", True, min_year, max_date, warn=True)
            value_ = date(y, mo, d)
            return _checked(value_, "day", raw != value_.strftime("%d/%m/%Y"), min_year, max_date)
        if m := _YMD.match(raw):
            y, mo, d = (int(g) for g in m.groups())
            value_ = date(y, mo, d)
            return _checked(value_, "day", raw != value_.isoformat(), min_year, max_date)
        if m := _MY.match(raw):
            mo, y = int(m.group(1)), int(m.group(2))
            return _checked(date(y, mo, 1), "month", True, min_year, max_date, warn=True)
        if m := _Y.match(raw):
            return _checked(date(int(raw), 1, 1), "year", True, min_year, max_date, warn=True)
    except ValueError:
        return _fail("date_invalid", "No such date: {value}", value=raw)
    if _SERIAL.match(raw):
        return _serial(float(raw), min_year, max_date)
    return _fail("date_format", "Unrecognised date format: {value}", value=raw)


def _serial(serial: float, min_year: int, max_date: date | None) -> DateResult:
    if not 1 <= serial < 2958466:
        return _fail("date_format", "Unrecognised date format: {value}", value=serial)
    return _checked(EXCEL_EPOCH + timedelta(days=int(serial)), "day", True, min_year, max_date)


def _checked(
    value: date, precision: str, fixed: bool, min_year: int, max_date: date | None, warn: bool = False
) -> DateResult:
    if value.year < min_year:
        return _fail("date_too_old", "The date {value} is implausibly old", value=value.isoformat())
    if max_date is not None and value > max_date:
        return _fail("date_in_future", "The date {value} is in the future", value=value.isoformat())
    result = DateResult(True, value, fixed, precision=precision)
    if warn:
        result.rule, result.warning, result.message = (
            "date_partial",
            True,
            "Partial date (day or month unknown)",
        )
    return result
