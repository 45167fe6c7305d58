"""Public pages and APIs (no sign-in), the open-data export, the duty page, demo data and KPI measures."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tinhso.environment import demo, measures
from tinhso.environment.aggregates import VN_TZ
from tinhso.environment.indices import aqi_category
from tinhso.environment.models import Alert, IndexValue, Station
from tinhso.identity.auth import SESSION_COOKIE, start_web_session

SOME = ("KK-VINH-TV", "KK-HOANGMAI-XM", "NM-LAM-NAMDAN", "KT-CONCUONG")


@pytest.fixture
def seeded(db, request):  # noqa: ANN001, ANN201
    hours = getattr(request, "param", 26)
    with db.transaction() as s:
        devices = demo.seed_demo(s, hours=hours, only=SOME)
    return devices


def test_demo_seed_builds_history_and_indices(db, seeded) -> None:  # noqa: ANN001
    assert {d.station_code for d in seeded} >= {"KK-VINH-TV", "NM-LAM-NAMDAN", "KT-CONCUONG"}
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Station)) == len(SOME)
        kinds = dict(
            s.execute(
                select(IndexValue.kind, func.count())
                .where(IndexValue.value.is_not(None))
                .group_by(IndexValue.kind)
            ).all()
        )
        owner = s.scalar(select(Station).where(Station.code == "KK-HOANGMAI-XM"))
    assert kinds["aqi_hour"] > 20 * 2 and kinds["wqi_hour"] > 20 and kinds["wqi_day"] >= 1
    assert owner.owner_kind == "business" and owner.owner_tax_code == "2900329351"
    with db.transaction() as s:  # seeding twice adds nothing
        assert demo.seed_demo(s, hours=26, only=SOME) == []


def test_public_page_shows_current_aqi_in_official_colours(client, seeded) -> None:  # noqa: ANN001
    stations = client.get("/api/v1/environment/public/stations?kind=air").json()["items"]
    tv = next(s for s in stations if s["code"] == "KK-VINH-TV")
    assert tv["value"] is not None and tv["colour"] == aqi_category(tv["value"]).hex
    page = client.get("/environment")
    assert page.status_code == 200 and "Chất lượng không khí và nước" in page.text
    assert aqi_category(tv["value"]).css in page.text and "Trạm không khí tự động Thành Vinh" in page.text
    en = client.get("/environment?lang=en")
    assert "Air and water quality" in en.text and aqi_category(tv["value"]).name_en in en.text
    station = client.get("/environment/stations/KK-VINH-TV")
    assert (
        station.status_code == 200
        and 'id="chart-data"' in station.text
        and "/static/vendor/echarts.min.js" in station.text
    )
    assert client.get("/environment/stations/NOPE").status_code == 404
    series = client.get("/api/v1/environment/public/stations/KK-VINH-TV/series?range=24h").json()
    assert 20 <= len(series["items"]) <= 25 and series["items"][-1]["colour"].startswith("#")
    month = client.get("/api/v1/environment/public/stations/NM-LAM-NAMDAN/series?range=30d").json()
    assert month["kind"] == "wqi_day" and month["items"]
    assert client.get("/api/v1/environment/public/stations/KK-VINH-TV/series?range=2y").status_code == 422
    cats = client.get("/api/v1/environment/public/categories").json()
    assert cats["vn_aqi"][0]["colour"] == "#00e400" and len(cats["vn_wqi"]) == 6


@pytest.mark.parametrize("seeded", [50], indirect=True)
def test_open_data_daily_export(client, seeded) -> None:  # noqa: ANN001
    yesterday = (datetime.now(UTC).astimezone(VN_TZ) - timedelta(days=1)).date()
    r = client.get(f"/api/v1/environment/open-data/daily?date={yesterday}&format=csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    pm = next(x for x in rows if x["station_code"] == "KK-VINH-TV" and x["parameter"] == "PM2.5")
    assert pm["hours"] == "24" and pm["index_kind"] == "VN_AQI" and pm["daily_index"]
    js = client.get(f"/api/v1/environment/open-data/daily?date={yesterday}&format=json").json()
    assert js["licence"] == "CC-BY-4.0" and len(js["rows"]) == len(rows)
    assert (
        client.get("/api/v1/environment/open-data/daily?date=2999-01-01").json()["code"] == "date_in_future"
    )
    assert client.get("/api/v1/environment/open-data/daily?date=yesterday").status_code == 422
    empty = client.get("/api/v1/environment/open-data/daily?date=2020-01-01")
    assert empty.text.strip() == ",".join(
        __import__("tinhso.environment.public", fromlist=["x"]).EXPORT_FIELDS
    )


def test_duty_page_and_actions(client, db, seeded, factory, official) -> None:  # noqa: ANN001
    assert client.get("/environment/duty", follow_redirects=False).status_code == 303
    with db.transaction() as s:
        station = s.scalar(select(Station).where(Station.code == "KK-VINH-TV"))
        from tinhso.environment.alerts import raise_alert

        alert, _ = raise_alert(s, station, "threshold", "PM2.5", value=300, limit=250)
        alert_id = alert.id
        web = start_web_session(s, official.id)
        sid, csrf = web.id, web.csrf_token
    client.cookies.set(SESSION_COOKIE, sid)
    page = client.get("/environment/duty")
    assert page.status_code == 200 and alert_id in page.text
    r = client.post(f"/environment/duty/alerts/{alert_id}/acknowledge", data={}, follow_redirects=False)
    assert r.status_code == 403  # no CSRF token
    r = client.post(
        f"/environment/duty/alerts/{alert_id}/acknowledge", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    with db.transaction() as s:
        assert s.get(Alert, alert_id).status == "acknowledged"
    client.cookies.clear()


@pytest.mark.parametrize("seeded", [50], indirect=True)
def test_measures(db, seeded) -> None:  # noqa: ANN001
    with db.transaction() as s:
        now = s.scalar(select(func.max(Station.last_reading_at))) + timedelta(minutes=10)
        rate = measures.stations_online_rate(s, now - timedelta(days=1), now, None)
        good = measures.aqi_good_share(s, now - timedelta(days=3), now, "000.00.06.H41")
        open_count = measures.open_alerts(s, now - timedelta(days=1), now, None)
        assert measures.stations_online_rate(s, now, now, "000.00.05.H41") is None
    assert rate == 100.0
    assert good is not None and 0 <= good <= 100
    assert open_count >= 0
