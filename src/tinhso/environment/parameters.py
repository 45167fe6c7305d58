"""The parameters stations measure, their canonical units, unit conversion and plausibility limits.

Every reading is stored in its parameter's canonical unit (µg/m³ for air, CO included, as the AQI tables use;
mg/L for water). `hard` limits reject a reading as impossible; `plausible` limits and `max_step` (largest
believable change per hour) only flag it as suspect, so a real pollution episode is never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinhso.kit.errors import Unprocessable

MOLAR_VOLUME_25C = 24.45  # L/mol at 25 °C and 1 atm, for ppb -> µg/m³


@dataclass(frozen=True)
class Parameter:
    code: str
    name_vi: str
    name_en: str
    unit: str
    kinds: tuple[str, ...]  # station types: air, water, weather
    hard: tuple[float, float]
    plausible: tuple[float, float]
    max_step: float | None = None
    molar_mass: float | None = None  # g/mol, for gas ppb/ppm conversion
    alert_above: float | None = None  # default alert threshold of one reading (station may override)


_AIR = ("air",)
_WATER = ("water",)
_WEATHER = ("weather", "air", "water")

PARAMETERS: dict[str, Parameter] = {
    p.code: p
    for p in [
        Parameter("PM2.5", "Bụi PM2.5", "PM2.5", "µg/m³", _AIR, (0, 5000), (0, 1000), 300, None, 250),
        Parameter("PM10", "Bụi PM10", "PM10", "µg/m³", _AIR, (0, 10000), (0, 2000), 500, None, 420),
        Parameter("TSP", "Bụi tổng", "Total suspended particles", "µg/m³", _AIR, (0, 20000), (0, 3000), 800),
        Parameter("O3", "Ozon", "Ozone", "µg/m³", _AIR, (0, 5000), (0, 1200), 400, 48.00, 400),
        Parameter(
            "NO2", "Nitơ điôxít", "Nitrogen dioxide", "µg/m³", _AIR, (0, 10000), (0, 3850), 800, 46.01, 1200
        ),
        Parameter(
            "SO2",
            "Lưu huỳnh điôxít",
            "Sulphur dioxide",
            "µg/m³",
            _AIR,
            (0, 10000),
            (0, 2630),
            800,
            64.07,
            800,
        ),
        Parameter(
            "CO",
            "Cacbon monoxit",
            "Carbon monoxide",
            "µg/m³",
            _AIR,
            (0, 500000),
            (0, 150000),
            40000,
            28.01,
            60000,
        ),
        Parameter(
            "temperature", "Nhiệt độ không khí", "Air temperature", "°C", _WEATHER, (-60, 70), (0, 45), 10
        ),
        Parameter("humidity", "Độ ẩm", "Relative humidity", "%", _WEATHER, (0, 100), (5, 100), 40),
        Parameter("pressure", "Áp suất", "Air pressure", "hPa", _WEATHER, (300, 1100), (950, 1050), 10),
        Parameter("wind_speed", "Tốc độ gió", "Wind speed", "m/s", _WEATHER, (0, 120), (0, 60), 30),
        Parameter("wind_direction", "Hướng gió", "Wind direction", "°", _WEATHER, (0, 360), (0, 360), None),
        Parameter("rainfall", "Lượng mưa", "Rainfall", "mm", _WEATHER, (0, 1000), (0, 300), None),
        Parameter(
            "water_temperature", "Nhiệt độ nước", "Water temperature", "°C", _WATER, (-5, 60), (5, 40), 5
        ),
        Parameter("pH", "pH", "pH", "pH", _WATER, (0, 14), (4, 10), 1.5, None, None),
        Parameter("DO", "Ôxy hòa tan", "Dissolved oxygen", "mg/L", _WATER, (0, 25), (0, 15), 5),
        Parameter("BOD5", "BOD5", "BOD5", "mg/L", _WATER, (0, 2000), (0, 200), 50),
        Parameter("COD", "COD", "COD", "mg/L", _WATER, (0, 5000), (0, 500), 100),
        Parameter("TOC", "TOC", "TOC", "mg/L", _WATER, (0, 2000), (0, 200), 50),
        Parameter("N-NH4", "Amoni (N-NH4)", "Ammonium (N-NH4)", "mg/L", _WATER, (0, 500), (0, 50), 5),
        Parameter("N-NO3", "Nitrat (N-NO3)", "Nitrate (N-NO3)", "mg/L", _WATER, (0, 500), (0, 100), 10),
        Parameter("N-NO2", "Nitrit (N-NO2)", "Nitrite (N-NO2)", "mg/L", _WATER, (0, 100), (0, 10), 2),
        Parameter("P-PO4", "Phốt phát (P-PO4)", "Phosphate (P-PO4)", "mg/L", _WATER, (0, 100), (0, 20), 2),
        Parameter("TSS", "Chất rắn lơ lửng", "Suspended solids", "mg/L", _WATER, (0, 50000), (0, 5000), 1000),
        Parameter("turbidity", "Độ đục", "Turbidity", "NTU", _WATER, (0, 10000), (0, 4000), 1000),
        Parameter(
            "conductivity", "Độ dẫn điện", "Conductivity", "µS/cm", _WATER, (0, 200000), (0, 60000), 5000
        ),
        Parameter("Coliform", "Coliform", "Coliform", "MPN/100mL", _WATER, (0, 1e9), (0, 1e7), None),
        Parameter("E.coli", "E.coli", "E. coli", "MPN/100mL", _WATER, (0, 1e9), (0, 1e6), None),
        Parameter("As", "Asen", "Arsenic", "mg/L", _WATER, (0, 100), (0, 5), None),
        Parameter("Cd", "Cadimi", "Cadmium", "mg/L", _WATER, (0, 100), (0, 5), None),
        Parameter("Pb", "Chì", "Lead", "mg/L", _WATER, (0, 100), (0, 5), None),
        Parameter("Cr6+", "Crom VI", "Chromium VI", "mg/L", _WATER, (0, 100), (0, 5), None),
        Parameter("Cu", "Đồng", "Copper", "mg/L", _WATER, (0, 100), (0, 20), None),
        Parameter("Zn", "Kẽm", "Zinc", "mg/L", _WATER, (0, 100), (0, 50), None),
        Parameter("Hg", "Thủy ngân", "Mercury", "mg/L", _WATER, (0, 10), (0, 1), None),
    ]
}

# Aliases devices and FIWARE data models use for the same parameter.
ALIASES = {
    "pm25": "PM2.5",
    "pm2_5": "PM2.5",
    "pm2.5": "PM2.5",
    "pm10": "PM10",
    "o3": "O3",
    "no2": "NO2",
    "so2": "SO2",
    "co": "CO",
    "tsp": "TSP",
    "relativehumidity": "humidity",
    "atmosphericpressure": "pressure",
    "windspeed": "wind_speed",
    "winddirection": "wind_direction",
    "precipitation": "rainfall",
    "ph": "pH",
    "do": "DO",
    "o2": "DO",
    "dissolvedoxygen": "DO",
    "bod": "BOD5",
    "bod5": "BOD5",
    "cod": "COD",
    "toc": "TOC",
    "nh4": "N-NH4",
    "n-nh4": "N-NH4",
    "no3": "N-NO3",
    "n-no3": "N-NO3",
    "no2_water": "N-NO2",
    "n-no2": "N-NO2",
    "po4": "P-PO4",
    "p-po4": "P-PO4",
    "tss": "TSS",
    "watertemperature": "water_temperature",
    "coliform": "Coliform",
    "ecoli": "E.coli",
    "e.coli": "E.coli",
}

# Unit spellings accepted for each canonical unit, with a function to the canonical unit.
_UNIT_SPELLINGS = {
    "µg/m³": {"µg/m³", "ug/m3", "µg/m3", "μg/m³", "μg/m3", "gq", "ugm3"},  # GQ: UN/CEFACT code for µg/m³
    "mg/m³": {"mg/m³", "mg/m3", "gp"},  # GP: mg/m³
    "ppb": {"ppb", "61"},  # 61: part per billion
    "ppm": {"ppm", "59"},  # 59: part per million
    "°C": {"°c", "c", "degc", "cel", "celsius"},
    "K": {"k", "kel", "kelvin"},
    "°F": {"°f", "f", "fah"},
    "%": {"%", "p1", "percent"},
    "hPa": {"hpa", "a97", "mbar"},
    "kPa": {"kpa"},
    "Pa": {"pa"},
    "m/s": {"m/s", "mts"},
    "km/h": {"km/h", "khm", "kmh"},
    "°": {"°", "deg", "dd"},
    "mm": {"mm", "mmt"},
    "pH": {"ph", "", "-", "c62"},
    "mg/L": {"mg/l", "m1", "mgl"},
    "µg/L": {"µg/l", "ug/l", "μg/l"},
    "NTU": {"ntu"},
    "µS/cm": {"µs/cm", "us/cm", "μs/cm"},
    "mS/cm": {"ms/cm"},
    "MPN/100mL": {"mpn/100ml", "cfu/100ml"},
}
_SPELLING_TO_UNIT = {s: unit for unit, spellings in _UNIT_SPELLINGS.items() for s in spellings}


def resolve(code: str) -> Parameter:
    """The parameter of a code or alias, or a typed error."""
    if code in PARAMETERS:
        return PARAMETERS[code]
    key = code.strip().lower().replace(" ", "")
    alias = ALIASES.get(key)
    if alias:
        return PARAMETERS[alias]
    for p in PARAMETERS.values():
        if p.code.lower() == key:
            return p
    raise Unprocessable("unknown_parameter", "Unknown parameter {parameter}", parameter=code)


def to_canonical(param: Parameter, value: float, unit: str | None) -> float:
    """Convert `value` in `unit` to the parameter's canonical unit; None means already canonical."""
    if unit is None:
        return value
    spelled = _SPELLING_TO_UNIT.get(unit.strip().lower().replace(" ", ""))
    if spelled is None and unit.strip() in _UNIT_SPELLINGS:
        spelled = unit.strip()
    target = param.unit
    if spelled == target:
        return value
    conversions = {
        ("mg/m³", "µg/m³"): lambda v: v * 1000,
        ("K", "°C"): lambda v: v - 273.15,
        ("°F", "°C"): lambda v: (v - 32) * 5 / 9,
        ("kPa", "hPa"): lambda v: v * 10,
        ("Pa", "hPa"): lambda v: v / 100,
        ("km/h", "m/s"): lambda v: v / 3.6,
        ("µg/L", "mg/L"): lambda v: v / 1000,
        ("mS/cm", "µS/cm"): lambda v: v * 1000,
    }
    if spelled in ("ppb", "ppm") and target == "µg/m³" and param.molar_mass:
        ppb = value * (1000 if spelled == "ppm" else 1)
        return ppb * param.molar_mass / MOLAR_VOLUME_25C
    fn = conversions.get((spelled or "", target))
    if fn is None:
        raise Unprocessable(
            "wrong_unit",
            "The unit {unit} cannot be used for {parameter} (expected {expected})",
            unit=unit,
            parameter=param.code,
            expected=target,
        )
    return fn(value)


def for_kind(kind: str) -> list[Parameter]:
    return [p for p in PARAMETERS.values() if kind in p.kinds]
