"""The IOC: alerts from other modules' events, the commune map's data, the pages and drill-downs."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.factories import SKHCN, TUPHAP
from tinhso.governance.models import Alert
from tinhso.identity.auth import SESSION_COOKIE, start_web_session
from tinhso.kit.events import publish, wait_until_dispatched

COMMUNE_AGENCY = "001.00.00.H41"


def _alert(db, topic="environment.alert.raised", **payload):  # noqa: ANN001
    with db.transaction() as s:
        publish(s, topic, {"title": "AQI 180 tại trạm Vinh", "severity": "high", **payload}, key="st-1")
    wait_until_dispatched(db)


def test_alerts_arrive_from_events_once(client, factory, db):
    with db.transaction() as s:
        from tinhso.identity.models import Agency

        commune = s.get(Agency, COMMUNE_AGENCY).commune_code
    _alert(db, commune_code=commune)
    _alert(
        db,
        topic="procedures.dossier.overdue",
        title="Hồ sơ 000.00.05.H41-260101-0001 quá hạn",
        agency_code=TUPHAP,
    )
    _alert(db, topic="procedures.dossier.submitted", title="not an alert")
    leader = factory.person(("leader",), agency="000.00.00.H41")
    alerts = client.get("/api/v1/ioc/alerts", headers=leader.headers).json()
    assert [a["topic"] for a in alerts] == ["procedures.dossier.overdue", "environment.alert.raised"]
    assert alerts[1]["severity"] == "high" and alerts[1]["commune_code"] == commune
    assert (
        client.get("/api/v1/ioc/alerts", params={"commune_code": commune}, headers=leader.headers)
        .json()[0]["title"]
        .startswith("AQI")
    )
    fragment = client.get("/ioc/alerts", headers=leader.headers)
    assert fragment.status_code == 200 and "AQI 180" in fragment.text
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Alert)) == 2
    m = client.get(
        "/api/v1/ioc/communes", params={"measure": "governance.alerts"}, headers=leader.headers
    ).json()
    assert len(m["items"]) == 130 and m["layout"] == "coordinates"
    # Every commune at its centre point, inside Nghệ An (about 18.5-20.0 N, 103.8-106.0 E), no two at one spot.
    assert all(18.4 < c["latitude"] < 20.1 and 103.8 < c["longitude"] < 106.0 for c in m["items"])
    assert len({(c["latitude"], c["longitude"]) for c in m["items"]}) == 130
    hit = next(c for c in m["items"] if c["code"] == commune)
    assert hit["value"] == 1 and sum(c["value"] or 0 for c in m["items"]) == 1
    assert {(c["row"], c["col"]) for c in m["items"]}.__len__() == 130
    assert (
        client.get("/api/v1/ioc/communes", params={"measure": "nope"}, headers=leader.headers).status_code
        == 404
    )
    assert client.get("/api/v1/ioc/communes", headers=factory.citizen().headers).status_code == 403
    assert "governance.alerts" in client.get("/api/v1/ioc/measures", headers=leader.headers).json()


def test_ioc_pages_and_drill_down(client, factory, db, tasks):
    leader = factory.person(("leader",), agency="000.00.00.H41")
    admin = factory.person(("platform_admin",), agency=SKHCN)
    client.post("/api/v1/kpis/run", headers=admin.headers)
    page = client.get("/ioc", headers=leader.headers)
    assert page.status_code == 200
    assert "Tuân thủ kiến trúc" in page.text and "Kết quả triển khai" in page.text
    assert "Chưa đo được" in page.text  # KPIs whose measures no module provides yet
    assert "/static/vendor/echarts.min.js" in page.text and 'data-stream="/ioc/alerts/stream"' in page.text
    en = client.get("/ioc?lang=en", headers=leader.headers)
    assert "Architecture compliance" in en.text
    assert client.get(f"/ioc/agency/{SKHCN}", headers=leader.headers).status_code == 200
    commune = client.get("/ioc/commune/17329", headers=leader.headers)
    assert commune.status_code == 200 and "Anh Sơn" in commune.text
    assert client.get("/ioc/commune/99999", headers=leader.headers).status_code == 404
    assert client.get("/ioc/agency/nope", headers=leader.headers).status_code == 404
    assert client.get("/ioc").status_code == 401
    assert client.get("/ioc", headers=factory.citizen().headers).status_code == 403
    assert client.get("/ioc/alerts/stream").status_code == 401  # the stream needs a signed-in browser


def test_registry_and_roadmap_pages(client, factory, db, tasks):
    admin = factory.person(("agency_admin", "official"), agency=TUPHAP)
    r = client.post(
        "/api/v1/governance/systems",
        json={"code": "HT", "name": "Hệ thống thử", "layer": "data", "sign_in": "own_accounts"},
        headers=admin.headers,
    )
    sid = r.json()["system"]["id"]
    listing = client.get("/governance/systems", headers=admin.headers)
    assert listing.status_code == 200 and "Hệ thống thử" in listing.text
    detail = client.get(f"/governance/systems/{sid}", headers=admin.headers)
    assert detail.status_code == 200 and "KT-03" in detail.text and "Quyết định 4520/QĐ-UBND" in detail.text
    assert client.get(f"/governance/agencies/{TUPHAP}", headers=admin.headers).status_code == 200
    other = factory.person(("agency_admin",), agency=SKHCN)
    assert client.get(f"/governance/systems/{sid}", headers=other.headers).status_code == 404
    roadmap = client.get("/governance/roadmap", params={"q": "kpi"}, headers=admin.headers)
    assert roadmap.status_code == 200 and "V.2.8" in roadmap.text
    assert client.get("/governance/roadmap/IV.2.24", headers=admin.headers).status_code == 200


def test_progress_form_with_session_and_csrf(client, factory, db, tasks):
    admin = factory.person(("agency_admin", "official"), agency=SKHCN)
    with db.transaction() as s:
        web = start_web_session(s, admin.id)
        sid, csrf = web.id, web.csrf_token
    client.cookies.set(SESSION_COOKIE, sid)
    page = client.get("/governance/roadmap/IV.2.24")
    assert page.status_code == 200 and 'name="csrf_token"' in page.text
    form = {
        "status": "in_progress",
        "percent": "55",
        "comment": "Qua biểu mẫu",
        "evidence_title": "KH 1",
        "form_id": "f1",
    }
    assert client.post("/governance/roadmap/IV.2.24/progress", data=form).status_code == 403  # no CSRF token
    r = client.post(
        "/governance/roadmap/IV.2.24/progress", data=form | {"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"].endswith("saved=1")
    again = client.post(
        "/governance/roadmap/IV.2.24/progress", data=form | {"csrf_token": csrf}, follow_redirects=False
    )
    assert again.status_code == 303
    history = client.get("/api/v1/governance/tasks/IV.2.24/progress").json()
    assert len(history) == 1 and history[0]["percent"] == 55
    client.cookies.clear()


def test_register_and_edit_a_system_through_the_pages(client, factory, db):
    admin = factory.person(("agency_admin", "official"), agency=TUPHAP)
    with db.transaction() as s:
        web = start_web_session(s, admin.id)
        sid, csrf = web.id, web.csrf_token
    client.cookies.set(SESSION_COOKIE, sid)
    assert client.get("/governance/systems/new").status_code == 200
    form = {
        "csrf_token": csrf,
        "code": "CTS",
        "name": "Cổng thông tin Sở Tư pháp",
        "layer": "channel",
        "status": "live",
        "security_level": "2",
        "security_approved": "on",
        "security_approval_ref": "9/QĐ-STP",
        "hosting": "provincial_dc",
        "integration": "lgsp",
        "sign_in": "shared_sso",
        "backup_frequency": "none",
        "services_exposed": "tin-tuc https://stp.nghean.gov.vn/openapi.json\n",
        "national_platforms": ["vneid"],
        "reports_operational_data": "on",
    }
    r = client.post("/governance/systems/new", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    system_id = r.headers["location"].rsplit("/", 1)[1]
    system = client.get(f"/api/v1/governance/systems/{system_id}").json()
    assert system["services_exposed"] == [
        {"code": "tin-tuc", "openapi_url": "https://stp.nghean.gov.vn/openapi.json"}
    ]
    assert system["national_platforms"] == ["vneid"] and system["security_approved"] is True
    bad = client.post("/governance/systems/new", data=form | {"code": "x y"})
    assert bad.status_code == 422 and 'role="alert"' in bad.text
    dup = client.post("/governance/systems/new", data=form)
    assert dup.status_code == 409 and "CTS" in dup.text
    edit = client.get(f"/governance/systems/{system_id}/edit")
    assert edit.status_code == 200 and "tin-tuc https://stp.nghean.gov.vn/openapi.json" in edit.text
    changed = form | {"version": "1", "sign_in": "own_accounts"}
    r = client.post(f"/governance/systems/{system_id}/edit", data=changed, follow_redirects=False)
    assert r.status_code == 303
    stale = client.post(f"/governance/systems/{system_id}/edit", data=changed)
    assert stale.status_code == 409
    assert client.get(f"/api/v1/governance/systems/{system_id}").json()["sign_in"] == "own_accounts"
    client.cookies.clear()
    other = factory.person(("agency_admin",), agency=SKHCN)
    assert client.get(f"/governance/systems/{system_id}/edit", headers=other.headers).status_code == 404
    official = factory.person(("official",), agency=TUPHAP)
    assert client.get("/governance/systems/new", headers=official.headers).status_code == 403
