"""VN_AQI, VN_WQI and QCVN 05:2023 against the decisions' worked examples and hand computations."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinhso.environment import indices as ix

# ------------------------------------------------------------------------- VN_AQI, Decision 1459


def test_hourly_worked_example_sub_indices() -> None:
    assert ix.round_half_up(ix.aqi_sub_index("O3_1h", 136.1)) == 43
    # The decision prints 60 for NO2 = 118.7; the formula gives 59.35 (the reference notes the discrepancy).
    assert ix.aqi_sub_index("NO2", 118.7) == pytest.approx(59.35)
    assert ix.round_half_up(ix.aqi_sub_index("PM2.5", 20.3)) == 41


def test_nowcast_worked_example() -> None:
    hours = [26.9, 24.7, 20.5, 23.5, 19.5, 16.5, 19.0, 16.5, 20.3, 22.4, 19.6, 20.6]  # 09:00 ... 20:00
    newest_first = list(reversed(hours))
    # c1 is the current hour (20:00), so the list is read newest first.
    w = min(hours) / max(hours)
    assert round(w, 2) == 0.61
    assert ix.nowcast(newest_first) == pytest.approx(20.27, abs=0.01)
    assert ix.nowcast(hours) != pytest.approx(20.27, abs=0.01)  # the order matters


def test_hourly_aqi_is_the_max_and_needs_pm() -> None:
    pm = [20.27] * 12
    result = ix.hourly_aqi({"O3": 136.1, "NO2": 118.7}, {"PM2.5": pm})
    assert result.value == 59  # printed 60 in the decision; see test above
    assert result.dominant == "NO2"
    assert result.sub_indices["O3"] == pytest.approx(42.53, abs=0.01)
    assert ix.hourly_aqi({"O3": 136.1}, {}).value is None
    assert ix.hourly_aqi({"O3": 136.1}, {}).reason == "no_pm"


def test_nowcast_missing_hours() -> None:
    assert ix.nowcast([None, None, 10.0, 10.0]) is None  # needs 2 of the 3 latest hours
    assert ix.nowcast([10.0, None, 10.0]) == pytest.approx(10.0)
    # A missing hour has weight 0: w = 1/2 here (10/40 < 1/2); (40 + 0.25*10) / (1 + 0.25)
    assert ix.nowcast([40.0, None, 10.0]) == pytest.approx((40 + 0.25 * 10) / 1.25)
    assert ix.nowcast([0.0, 0.0, 0.0]) == 0.0


def test_daily_worked_example() -> None:
    assert ix.round_half_up(ix.aqi_sub_index("O3_8h", 89.3)) == 45
    assert ix.round_half_up(ix.aqi_sub_index("O3_1h", 114.6)) == 36
    assert ix.round_half_up(ix.aqi_sub_index("NO2", 130.8)) == 65
    assert ix.round_half_up(ix.aqi_sub_index("PM2.5", 55.7)) == 110
    day = {"PM2.5": [55.7] * 24, "NO2": [100.0] * 23 + [130.8]}
    result = ix.daily_aqi(day)
    assert result.value == 110 and result.dominant == "PM2.5"


def test_daily_o3_uses_8h_rolling_mean_and_skips_it_above_400() -> None:
    o3 = [50.0] * 16 + [89.3] * 8
    result = ix.daily_aqi({"PM10": [10.0] * 24, "O3": o3})
    assert result.inputs["O3_8h"] == pytest.approx(89.3)
    assert result.sub_indices["O3"] == pytest.approx(ix.aqi_sub_index("O3_8h", 89.3))
    high = ix.daily_aqi({"PM10": [10.0] * 24, "O3": [450.0] * 24})
    assert high.sub_indices["O3"] == pytest.approx(ix.aqi_sub_index("O3_1h", 450.0))


def test_daily_pm_needs_enough_hours() -> None:
    assert ix.daily_aqi({"PM2.5": [30.0] * 10}).value is None


def test_breakpoints_are_hit_exactly_and_capped() -> None:
    for bp, i in ix.aqi_breakpoints()["PM2.5"]:
        assert ix.aqi_sub_index("PM2.5", bp) == pytest.approx(i)
    assert ix.aqi_sub_index("PM2.5", 9999) == 500
    assert ix.aqi_sub_index("PM2.5", -1) is None


@given(st.floats(min_value=0, max_value=600), st.floats(min_value=0, max_value=600))
def test_aqi_is_monotonic(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert ix.aqi_sub_index("PM10", lo) <= ix.aqi_sub_index("PM10", hi)


@given(st.lists(st.floats(min_value=0, max_value=500), min_size=3, max_size=12))
def test_nowcast_is_within_the_range_of_its_hours(hours: list[float]) -> None:
    value = ix.nowcast(hours)
    assert min(hours) - 1e-9 <= value <= max(hours) + 1e-9


def test_categories_and_official_colours() -> None:
    assert ix.aqi_category(50).name_vi == "Tốt" and ix.aqi_category(50).rgb == (0, 228, 0)
    assert ix.aqi_category(51).name_vi == "Trung bình"
    assert ix.aqi_category(110).hex == "#ff7e00"
    assert ix.aqi_category(250).rgb == (143, 63, 151)
    assert ix.aqi_category(500).name_en == "Hazardous"
    assert ix.wqi_category(95).rgb == (51, 51, 255)
    assert ix.wqi_category(5).name_vi == "Ô nhiễm rất nặng"


# ------------------------------------------------------------------------- VN_WQI, Decision 1460


def test_wqi_worked_example_sub_indices() -> None:
    assert ix.wqi_do_percent(73.3) == pytest.approx(73.3)
    assert ix.wqi_sub_index("BOD5", 20) == pytest.approx(37.5)
    assert ix.wqi_sub_index("COD", 25) == pytest.approx(58.33, abs=0.01)
    assert ix.wqi_sub_index("As", 0.02) == pytest.approx(75)
    assert ix.wqi_sub_index("Coliform", 10000) == pytest.approx(25)


def test_wqi_edges() -> None:
    assert ix.wqi_sub_index("BOD5", 4) == 100
    assert ix.wqi_sub_index("BOD5", 60) == 10
    assert ix.wqi_sub_index("BOD5", 50) == 10
    assert ix.wqi_sub_index("N-NH4", 0.29) == 100
    assert ix.wqi_sub_index("N-NH4", 0.3) == 75  # "<0.3" is 100, 0.3 itself is the q = 75 breakpoint
    assert ix.wqi_sub_index("N-NO3", 15) == 25
    assert ix.wqi_sub_index("N-NO3", 15.01) == 10
    assert ix.wqi_sub_index("N-NO2", 0.05) == 100 and ix.wqi_sub_index("N-NO2", 0.06) == 10
    assert ix.wqi_sub_index("Aldrin", 0.1) == 100 and ix.wqi_sub_index("Aldrin", 0.11) == 10
    assert ix.wqi_ph(7) == 100 and ix.wqi_ph(5.75) == pytest.approx(75) and ix.wqi_ph(9.5) == 10
    assert ix.wqi_ph(8.75) == pytest.approx(75)
    assert ix.wqi_do_percent(100) == 100 and ix.wqi_do_percent(137.5) == pytest.approx(62.5)
    assert ix.wqi_do_percent(10) == 10
    # 14.652 - 8.2044 + 3.1964 - 0.622192
    assert ix.do_saturation(20) == pytest.approx(9.021808)


def test_wqi_aggregation_hand_computed() -> None:
    # Hand computation, formula 3: pH 7 -> 100; As 0.02 -> 75; IV = (73.3, 37.5, 58.33); V = 25.
    # WQI = 1 * 0.75 * sqrt(mean(IV) * 25) = 0.75 * sqrt(56.378 * 25) = 28.16 -> 28
    conc = {"pH": 7.0, "As": 0.02, "BOD5": 20.0, "COD": 25.0, "Coliform": 10000.0}
    sat = ix.do_saturation(25)
    conc["DO"] = 0.733 * sat
    r3 = ix.wqi(conc, temperature_c=25)
    assert r3.sub_indices["DO"] == pytest.approx(73.3, abs=0.01)
    assert r3.value == 28
    # Formula 5: 0.75 * (56.378² * 25) ^ (1/3) = 0.75 * 43.00 = 32.25 -> 32
    assert ix.wqi(conc, formula=5, temperature_c=25).value == 32
    # Without group V: formula 4 = 0.75 * 56.378 = 42.28 -> 42
    no_v = {k: v for k, v in conc.items() if k != "Coliform"}
    assert ix.wqi(no_v, temperature_c=25).value == 42


def test_wqi_data_requirements() -> None:
    assert ix.wqi({"pH": 7, "BOD5": 3, "COD": 5}).reason == "group_iv_needs_3"
    assert ix.wqi({"BOD5": 3, "COD": 5, "N-NH4": 0.1}).reason == "insufficient_groups"
    assert ix.wqi({"pH": 7, "BOD5": 3, "COD": 5, "N-NH4": 0.1, "Coliform": 100}).value == 100


@given(st.floats(min_value=0, max_value=200), st.floats(min_value=0, max_value=200))
def test_wqi_sub_index_never_improves_with_more_pollution(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    for p in ("BOD5", "COD", "N-NH4", "P-PO4", "Zn"):
        assert ix.wqi_sub_index(p, lo) >= ix.wqi_sub_index(p, hi)
        assert 10 <= ix.wqi_sub_index(p, hi) <= 100


# ------------------------------------------------------------------------- QCVN 05:2023


def test_qcvn05_exceedances() -> None:
    flags = ix.qcvn05_exceedances({"NO2": 201, "SO2": 100, "O3": None}, "1h")
    assert [f["parameter"] for f in flags] == ["NO2"]
    assert ix.qcvn05_limit("PM2.5", "24h", date(2025, 12, 31)) == 50
    assert ix.qcvn05_limit("PM2.5", "24h", date(2026, 1, 1)) == 45
    assert ix.qcvn05_exceedances({"PM2.5": 47}, "24h", date(2026, 3, 1))[0]["limit"] == 45
    assert ix.qcvn05_exceedances({"PM2.5": 47}, "24h", date(2025, 3, 1)) == []
