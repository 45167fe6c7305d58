"""VN_AQI (Decision 1459/QĐ-TCMT), VN_WQI (Decision 1460/QĐ-TCMT) and QCVN 05:2023/BTNMT exceedances.

Pure functions over concentrations; the tables are read from `data/` (see data/PROVENANCE.md). Concentrations
are in the platform's canonical units: µg/m³ for air (CO too), mg/L for water (MPN/100 mL for micro-organisms,
µg/L for pesticides), °C for temperature.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"

# Parameter codes of the platform -> column of Table 2 of Decision 1459.
AQI_POLLUTANTS = ("PM2.5", "PM10", "O3", "NO2", "SO2", "CO")
_AQI_COLUMNS = {
    "O3_1h": "O3_1h_ugm3",
    "O3_8h": "O3_8h_ugm3",
    "CO": "CO_ugm3",
    "SO2": "SO2_ugm3",
    "NO2": "NO2_ugm3",
    "PM10": "PM10_ugm3",
    "PM2.5": "PM25_ugm3",
}
AQI_MAX = 500  # Above level 8 the decision is silent; we cap at 500 (an implementation choice).


def round_half_up(x: float) -> int:
    """The decisions' rounding to an integer: 109.5 -> 110 (Python's round() would give 110 too, 0.5 -> 0)."""
    return int(math.floor(x + 0.5))


@lru_cache
def aqi_breakpoints() -> dict[str, list[tuple[float, float]]]:
    """{table key: [(BP_i, I_i), ...]} from Table 2 of Decision 1459, ascending."""
    table: dict[str, list[tuple[float, float]]] = {k: [] for k in _AQI_COLUMNS}
    with (DATA / "vn_aqi_breakpoints_qd1459.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            for key, column in _AQI_COLUMNS.items():
                if row[column].strip():
                    table[key].append((float(row[column]), float(row["I_i"])))
    return table


@dataclass(frozen=True)
class Category:
    low: int
    high: int
    name_vi: str
    name_en: str
    colour_vi: str
    rgb: tuple[int, int, int]

    @property
    def hex(self) -> str:
        return "#{:02x}{:02x}{:02x}".format(*self.rgb)

    @property
    def css(self) -> str:
        return "rgb({}, {}, {})".format(*self.rgb)

    @property
    def text_colour(self) -> str:
        r, g, b = self.rgb
        return "#000000" if (0.299 * r + 0.587 * g + 0.114 * b) > 140 else "#ffffff"


def _categories(name: str, low_col: str, high_col: str) -> list[Category]:
    out = []
    with (DATA / name).open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            rgb = tuple(int(x) for x in row["rgb"].split(","))
            out.append(
                Category(
                    int(row[low_col]),
                    int(row[high_col]),
                    row["category_vi"],
                    row["category_en"],
                    row["color_vi"],
                    (rgb[0], rgb[1], rgb[2]),
                )
            )
    return out


@lru_cache
def aqi_categories() -> list[Category]:
    return _categories("vn_aqi_categories_qd1459.csv", "aqi_min", "aqi_max")


@lru_cache
def wqi_categories() -> list[Category]:
    return _categories("vn_wqi_categories_qd1460.csv", "wqi_min", "wqi_max")


def aqi_category(aqi: int | None) -> Category | None:
    if aqi is None:
        return None
    for cat in aqi_categories():
        if cat.low <= aqi <= cat.high:
            return cat
    return aqi_categories()[-1] if aqi > 0 else aqi_categories()[0]


def wqi_category(wqi: int | None) -> Category | None:
    if wqi is None:
        return None
    for cat in wqi_categories():
        if cat.low <= wqi <= cat.high:
            return cat
    return wqi_categories()[0] if wqi > 100 else wqi_categories()[-1]


# --------------------------------------------------------------------------------------------- VN_AQI


def aqi_sub_index(key: str, concentration: float | None) -> float | None:
    """Formula 1/2 of Decision 1459: linear interpolation in Table 2 (unrounded). `key` is a Table 2 column
    (PM2.5, PM10, O3_1h, O3_8h, NO2, SO2, CO). None when there is no concentration."""
    if concentration is None or concentration < 0 or math.isnan(concentration):
        return None
    points = aqi_breakpoints()[key]
    if key == "O3_8h" and concentration > points[-1][0]:
        return None  # above 400 µg/m³ the 8-h sub-index is not computed; the 1-h one is used
    for (bp_lo, i_lo), (bp_hi, i_hi) in zip(points, points[1:], strict=False):
        if bp_lo <= concentration <= bp_hi:
            return (i_hi - i_lo) / (bp_hi - bp_lo) * (concentration - bp_lo) + i_lo
    return float(AQI_MAX)


def nowcast(hourly: Sequence[float | None]) -> float | None:
    """NowCast of Decision 1459 (formula for PM2.5 and PM10) from the last 12 hourly means, newest first.

    A missing hour contributes weight 0; at least 2 of the 3 most recent hours are needed.
    """
    values = list(hourly[:12]) + [None] * max(0, 12 - len(hourly))
    if sum(1 for c in values[:3] if c is not None) < 2:
        return None
    present = [c for c in values if c is not None]
    c_max, c_min = max(present), min(present)
    if c_max <= 0:
        return 0.0
    w = c_min / c_max
    if w <= 0.5:
        w = 0.5
    num = sum(w**i * c for i, c in enumerate(values) if c is not None)
    den = sum(w**i for i, c in enumerate(values) if c is not None)
    return num / den


@dataclass
class IndexResult:
    """An index value with its sub-indices and the pollutant (or reason) behind it."""

    value: int | None
    sub_indices: dict[str, float] = field(default_factory=dict)
    dominant: str | None = None
    reason: str | None = None  # why there is no value ("no_pm", "insufficient_groups", ...)
    inputs: dict[str, float] = field(default_factory=dict)


def _final(sub: dict[str, float], inputs: dict[str, float]) -> IndexResult:
    if not any(k in sub for k in ("PM2.5", "PM10")):
        return IndexResult(None, sub, None, "no_pm", inputs)
    dominant = max(sub, key=lambda k: sub[k])
    return IndexResult(round_half_up(sub[dominant]), sub, dominant, None, inputs)


def hourly_aqi(
    hour_means: Mapping[str, float | None], pm_history: Mapping[str, Sequence[float | None]]
) -> IndexResult:
    """AQIʰ: SO2, CO, NO2, O3 from this hour's means (O3 with the 1-h breakpoints); PM from the NowCast over
    `pm_history[p]` (12 hourly means, newest first). At least one of PM10/PM2.5 is required."""
    sub: dict[str, float] = {}
    inputs: dict[str, float] = {}
    for p in ("SO2", "CO", "NO2", "O3"):
        c = hour_means.get(p)
        value = aqi_sub_index("O3_1h" if p == "O3" else p, c)
        if value is not None and c is not None:
            sub[p] = value
            inputs[p] = c
    for p in ("PM2.5", "PM10"):
        nc = nowcast(pm_history.get(p, ()))
        value = aqi_sub_index(p, nc)
        if value is not None and nc is not None:
            sub[p] = value
            inputs[p] = nc
    return _final(sub, inputs)


MIN_HOURS_DAILY_MEAN = 18  # 75 % of the day's hours (an implementation choice; the decision is silent)
MIN_HOURS_8H_MEAN = 6


def rolling_8h_max(hours: Sequence[float | None]) -> float | None:
    """The largest of the rolling 8-hour means ending at each hour of the day.

    `hours` are the O3 hourly means in time order: the 7 hours before the day, then the day's 24 hours.
    """
    best: float | None = None
    for end in range(7, len(hours)):
        window = [c for c in hours[end - 7 : end + 1] if c is not None]
        if len(window) >= MIN_HOURS_8H_MEAN:
            mean = sum(window) / len(window)
            best = mean if best is None else max(best, mean)
    return best


def daily_aqi(
    day_hours: Mapping[str, Sequence[float | None]], o3_prev7: Sequence[float | None] = ()
) -> IndexResult:
    """AQIᵈ (formula 1 only): PM as the 24-h mean, SO2/NO2/CO as the max 1-h mean, O3 as the larger of the
    max-1h and max-8h sub-indices. `day_hours[p]` holds the day's 24 hourly means (01:00 ... 00:00)."""
    sub: dict[str, float] = {}
    inputs: dict[str, float] = {}
    for p in ("PM2.5", "PM10"):
        present = [c for c in day_hours.get(p, ()) if c is not None]
        if len(present) >= MIN_HOURS_DAILY_MEAN:
            mean = sum(present) / len(present)
            value = aqi_sub_index(p, mean)
            if value is not None:
                sub[p], inputs[p] = value, mean
    for p in ("SO2", "NO2", "CO"):
        present = [c for c in day_hours.get(p, ()) if c is not None]
        if present:
            value = aqi_sub_index(p, max(present))
            if value is not None:
                sub[p], inputs[p] = value, max(present)
    o3 = list(day_hours.get("O3", ()))
    present = [c for c in o3 if c is not None]
    if present:
        one = aqi_sub_index("O3_1h", max(present))
        prev = (list(o3_prev7) + [None] * 7)[:7]
        max8 = rolling_8h_max(prev + o3)
        eight = aqi_sub_index("O3_8h", max8)
        candidates = [v for v in (one, eight) if v is not None]
        if candidates:
            sub["O3"] = max(candidates)
            inputs["O3"] = max(present)
            if max8 is not None:
                inputs["O3_8h"] = max8
    return _final(sub, inputs)


# --------------------------------------------------------------------------------------------- VN_WQI

WQI_GROUPS = {
    "pH": "I",
    "Aldrin": "II",
    "BHC": "II",
    "Dieldrin": "II",
    "DDTs": "II",
    "Heptachlor": "II",
}
# Group II thresholds, µg/L (Decision 1460, section 1.2): 100 at or below, 10 above.
PESTICIDE_THRESHOLDS = {"Aldrin": 0.1, "BHC": 0.02, "Dieldrin": 0.1, "DDTs": 1.0, "Heptachlor": 0.2}
# Table 3 (DO % saturation) and Table 4 (pH) of Decision 1460.
DO_RISING = [(20.0, 25.0), (50.0, 50.0), (75.0, 75.0), (88.0, 100.0)]
DO_FALLING = [(112.0, 100.0), (125.0, 75.0), (150.0, 50.0), (200.0, 25.0)]
PH_RISING = [(5.5, 50.0), (6.0, 100.0)]
PH_FALLING = [(8.5, 100.0), (9.0, 50.0)]


@dataclass(frozen=True)
class _WqiRow:
    parameter: str
    group: str
    points: tuple[tuple[float, float], ...]  # (BP, q) ascending in BP: q = 100, 75, 50, 25 [, 10]
    strict_best: bool  # "<" rather than "<=" at q = 100
    worst_bp: float
    worst_strict: bool  # ">" rather than ">=" at q = 10
    binary: bool


def _bp(text: str) -> tuple[float | None, str]:
    text = text.strip()
    for op in ("<=", ">=", "<", ">"):
        if text.startswith(op):
            return float(text[len(op) :]), op
    return (float(text), "") if text else (None, "")


@lru_cache
def wqi_table() -> dict[str, _WqiRow]:
    rows: dict[str, _WqiRow] = {}
    with (DATA / "vn_wqi_breakpoints_qd1460.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            best, best_op = _bp(row["bp_q100"])
            worst, worst_op = _bp(row["bp_q10"])
            assert best is not None and worst is not None
            points = [(best, 100.0)]
            for q, col in ((75.0, "bp_q75"), (50.0, "bp_q50"), (25.0, "bp_q25")):
                bp, _ = _bp(row[col])
                if bp is not None:
                    points.append((bp, q))
            if worst_op == ">=":
                points.append((worst, 10.0))
            rows[row["parameter"]] = _WqiRow(
                row["parameter"],
                row["group"],
                tuple(points),
                best_op == "<",
                worst,
                worst_op == ">",
                "binary" in row["notes"],
            )
    return rows


def _falling(points: Sequence[tuple[float, float]], c: float) -> float:
    """Formula 1: q decreases as C grows. points ascending in BP."""
    for (bp_i, q_i), (bp_j, q_j) in zip(points, points[1:], strict=False):
        if c == bp_i:
            return q_i
        if bp_i < c < bp_j:
            return (q_i - q_j) / (bp_j - bp_i) * (bp_j - c) + q_j
    return points[-1][1]


def _rising(points: Sequence[tuple[float, float]], c: float) -> float:
    """Formula 2: q increases as C grows. points ascending in BP."""
    for (bp_i, q_i), (bp_j, q_j) in zip(points, points[1:], strict=False):
        if c == bp_i:
            return q_i
        if bp_i < c < bp_j:
            return (q_j - q_i) / (bp_j - bp_i) * (c - bp_i) + q_i
    return points[-1][1]


def do_saturation(temperature_c: float) -> float:
    t = temperature_c
    return 14.652 - 0.41022 * t + 0.0079910 * t**2 - 0.000077774 * t**3


def wqi_do(do_mg_l: float, temperature_c: float) -> float:
    """WQI_SI of dissolved oxygen from DO (mg/L) and water temperature (°C), via DO % saturation."""
    return wqi_do_percent(do_mg_l / do_saturation(temperature_c) * 100)


def wqi_do_percent(pct: float) -> float:
    if pct < 20 or pct > 200:
        return 10.0
    if pct <= 88:
        return _rising(DO_RISING, pct)
    if pct <= 112:
        return 100.0
    return _falling(DO_FALLING, pct)


def wqi_ph(ph: float) -> float:
    if ph < 5.5 or ph > 9:
        return 10.0
    if ph < 6:
        return _rising(PH_RISING, ph)
    if ph <= 8.5:
        return 100.0
    return _falling(PH_FALLING, ph)


def wqi_sub_index(parameter: str, c: float) -> float:
    """WQI_SI of one parameter of groups II-V (not DO or pH: see wqi_do and wqi_ph)."""
    if parameter in PESTICIDE_THRESHOLDS:
        return 100.0 if c <= PESTICIDE_THRESHOLDS[parameter] else 10.0
    row = wqi_table()[parameter]
    best_bp = row.points[0][0]
    if row.binary:
        return 100.0 if c <= best_bp else 10.0
    if c < best_bp or (c == best_bp and not row.strict_best):
        return 100.0
    if (row.worst_strict and c > row.worst_bp) or (not row.worst_strict and c >= row.worst_bp):
        return 10.0
    points = row.points[1:] if row.strict_best else row.points
    if c < points[0][0]:  # strictly best side of a "<" row that ends where q = 75 starts
        return 100.0
    return _falling(points, c)


def wqi_group(parameter: str) -> str | None:
    if parameter == "DO":
        return "IV"
    if parameter in WQI_GROUPS:
        return WQI_GROUPS[parameter]
    row = wqi_table().get(parameter)
    return row.group if row else None


def _geomean(values: Sequence[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def wqi(
    concentrations: Mapping[str, float | None], formula: int = 3, temperature_c: float | None = None
) -> IndexResult:
    """VN_WQI of one monitoring point (Decision 1460): sub-indices, then formula 3 (4 if group V is absent)
    or formula 5 (organic pollution: group IV weighted twice). Requirements: group IV with at least 3
    parameters and at least 3 of the 5 groups. Absent groups I-III count as 1 (implementation practice)."""
    sub: dict[str, float] = {}
    inputs: dict[str, float] = {}
    for p, c in concentrations.items():
        if c is None or p in ("temperature", "water_temperature"):
            continue
        if p == "DO":
            t = temperature_c if temperature_c is not None else concentrations.get("water_temperature")
            if t is None:
                continue
            sub[p] = wqi_do(c, t)
        elif p == "pH":
            sub[p] = wqi_ph(c)
        elif wqi_group(p) is not None:
            sub[p] = wqi_sub_index(p, c)
        else:
            continue
        inputs[p] = c
    groups: dict[str, list[float]] = {}
    for p, v in sub.items():
        groups.setdefault(wqi_group(p) or "?", []).append(v)
    if len(groups.get("IV", [])) < 3:
        return IndexResult(None, sub, None, "group_iv_needs_3", inputs)
    if len(groups) < 3:
        return IndexResult(None, sub, None, "insufficient_groups", inputs)
    factor = 1.0
    if "I" in groups:
        factor *= groups["I"][0] / 100
    for g in ("II", "III"):
        if g in groups:
            factor *= _geomean(groups[g]) / 100
    mean_iv = sum(groups["IV"]) / len(groups["IV"])
    if "V" not in groups:
        core = mean_iv
    elif formula == 5:
        mean_v = sum(groups["V"]) / len(groups["V"])
        core = (mean_iv**2 * mean_v) ** (1 / 3)
    else:
        mean_v = sum(groups["V"]) / len(groups["V"])
        core = (mean_iv * mean_v) ** 0.5
    value = factor * core
    dominant = min(sub, key=lambda k: sub[k])
    return IndexResult(round_half_up(value), sub, dominant, None, inputs)


# -------------------------------------------------------------------------------------- QCVN 05:2023

# Table 1 of QCVN 05:2023/BTNMT, µg/Nm³: {parameter: {averaging period: limit}}.
QCVN05_LIMITS: dict[str, dict[str, float]] = {
    "SO2": {"1h": 350, "24h": 125, "year": 50},
    "CO": {"1h": 30000, "8h": 10000},
    "NO2": {"1h": 200, "24h": 100, "year": 40},
    "O3": {"1h": 200, "8h": 120},
    "TSP": {"1h": 300, "24h": 200, "year": 100},
    "PM10": {"24h": 100, "year": 50},
    "PM2.5": {"24h": 50, "year": 25},
}
PM25_24H_FROM_2026 = 45.0


def qcvn05_limit(parameter: str, period: str, on: date | None = None) -> float | None:
    if parameter == "PM2.5" and period == "24h" and on is not None and on >= date(2026, 1, 1):
        return PM25_24H_FROM_2026
    return QCVN05_LIMITS.get(parameter, {}).get(period)


def qcvn05_exceedances(means: Mapping[str, float | None], period: str, on: date | None = None) -> list[dict]:
    """Which of these averages exceed QCVN 05:2023 for `period` ("1h", "8h", "24h")."""
    out = []
    for p, c in means.items():
        limit = qcvn05_limit(p, period, on)
        if c is not None and limit is not None and c > limit:
            out.append({"parameter": p, "period": period, "value": round(c, 2), "limit": limit})
    return out
