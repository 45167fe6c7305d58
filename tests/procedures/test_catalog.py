"""Procedure catalog: search, detail, import/export, the contract for other modules, the calendar."""

from __future__ import annotations

from datetime import date, datetime

from tinhso.procedures.calendar import TZ, WorkCalendar
from tinhso.procedures.catalog_api import published_procedures

from .conftest import KHAISINH, LLTP


def test_catalog_lists_at_least_40_and_searches_without_accents(client):
    r = client.get("/api/v1/procedures/catalog", params={"page_size": 200})
    assert r.status_code == 200
    assert r.json()["total"] >= 40
    found = client.get("/api/v1/procedures/catalog", params={"q": "dang ky khai sinh"}).json()["items"]
    assert [p["code"] for p in found] == [KHAISINH]
    detail = client.get(f"/api/v1/procedures/catalog/{LLTP}").json()
    assert detail["time_limit_text"] == "10 ngày làm việc"
    assert detail["form_schema"]["type"] == "object"
    assert abs(sum(s["share"] for s in detail["workflow"]) - 1) < 1e-9
    assert any(c["obtainable_from_data"] for c in detail["components"])


def test_unknown_procedure_is_404(client):
    r = client.get("/api/v1/procedures/catalog/9.999999")
    assert r.status_code == 404 and r.json()["code"] == "procedure_not_found"
    assert r.json()["message"]["vi"] != r.json()["message"]["en"]


def test_published_procedures_contract(db):
    with db.transaction() as s:
        docs = published_procedures(s)
    assert len(docs) >= 40
    lltp = next(d for d in docs if d.code == LLTP)
    assert lltp.agency_name == "Sở Tư pháp"
    assert lltp.time_limit_days == 10 and lltp.time_limit_text == "10 ngày làm việc"
    assert lltp.fees == [{"name": "Phí cung cấp thông tin lý lịch tư pháp", "amount_vnd": 200000}]
    assert lltp.url == f"/thu-tuc/{LLTP}"
    assert "200.000 đồng" in lltp.fees_text
    assert all({"name", "copies", "obtainable_from_data"} <= set(c) for c in lltp.components)


def test_export_import_roundtrip_and_bad_import_changes_nothing(client, platform_admin, factory):
    rows = client.get("/api/v1/procedures/catalog/export").json()
    target = next(r for r in rows if r["code"] == LLTP)
    target["name"] = "Cấp Phiếu lý lịch tư pháp (sửa đổi)"
    r = client.post("/api/v1/procedures/catalog/import", json=[target], headers=platform_admin.headers)
    assert r.status_code == 200 and r.json() == {"imported": 1}
    assert client.get(f"/api/v1/procedures/catalog/{LLTP}").json()["name"].endswith("(sửa đổi)")
    csv_text = client.get("/api/v1/procedures/catalog/export", params={"format": "csv"}).text
    r = client.post(
        "/api/v1/procedures/catalog/import",
        content=csv_text.encode(),
        headers=platform_admin.headers | {"content-type": "text/csv"},
    )
    assert r.status_code == 200 and r.json()["imported"] >= 40
    bad = [dict(target, name="Tên mới"), dict(target, code="not-a-code")]
    r = client.post("/api/v1/procedures/catalog/import", json=bad, headers=platform_admin.headers)
    assert r.status_code == 422 and r.json()["code"] == "catalog_import_invalid"
    assert client.get(f"/api/v1/procedures/catalog/{LLTP}").json()["name"].endswith("(sửa đổi)")
    citizen = factory.citizen()
    assert (
        client.post("/api/v1/procedures/catalog/import", json=[target], headers=citizen.headers).status_code
        == 403
    )


def test_calendar_uses_holidays_and_province_exceptions(client, platform_admin, factory):
    cal = WorkCalendar()
    assert cal.add_working_days(date(2025, 4, 25), 5) == date(2025, 5, 6)  # 30/4, 1/5, 2/5 off; 26/4 worked
    due = cal.due_after(datetime(2025, 4, 25, 9, 0, tzinfo=TZ), 5, "working_days")
    assert due.astimezone(TZ) == datetime(2025, 5, 6, 17, 0, tzinfo=TZ)
    assert cal.add_working_hours(datetime(2025, 4, 29, 16, 0, tzinfo=TZ), 2) == datetime(
        2025, 5, 5, 9, 0, tzinfo=TZ
    )
    params = {"received_at": "2026-03-02T09:00:00+07:00", "value": 3}
    assert (
        client.get("/api/v1/procedures/calendar/due", params=params).json()["due_at"].startswith("2026-03-05")
    )
    official = factory.person(("official",))
    r = client.put(
        "/api/v1/procedures/calendar", json={"day": "2026-03-03", "kind": "off"}, headers=official.headers
    )
    assert r.status_code == 403
    r = client.put(
        "/api/v1/procedures/calendar",
        json={"day": "2026-03-03", "kind": "off", "note": "Nghỉ bù"},
        headers=platform_admin.headers,
    )
    assert r.status_code == 200
    assert (
        client.get("/api/v1/procedures/calendar/due", params=params).json()["due_at"].startswith("2026-03-06")
    )
    assert (
        client.delete("/api/v1/procedures/calendar/2026-03-03", headers=platform_admin.headers).status_code
        == 204
    )
    assert (
        client.delete("/api/v1/procedures/calendar/2026-03-03", headers=platform_admin.headers).status_code
        == 404
    )
    r = client.put(
        "/api/v1/procedures/calendar",
        json={"day": "2026-03-03", "kind": "maybe"},
        headers=platform_admin.headers,
    )
    assert r.status_code == 422


def test_cli_exports_and_imports_the_catalog(db, tmp_path):
    from typer.testing import CliRunner

    from tinhso.procedures.cli import cli

    runner = CliRunner()
    out = tmp_path / "catalog.csv"
    r = runner.invoke(cli, ["export-catalog", str(out)])
    assert r.exit_code == 0, r.output
    assert "1.001193" in out.read_text(encoding="utf-8")
    r = runner.invoke(cli, ["import-catalog", str(out)])
    assert r.exit_code == 0 and "imported" in r.output
    r = runner.invoke(cli, ["index766", "2026-03"])
    assert r.exit_code == 0 and "province" in r.output


def test_receipt_cutoff_counts_late_and_day_off_receipts_from_the_next_working_day(client, monkeypatch):
    from datetime import time

    from tinhso.procedures.config import get_procedures_settings

    ruled = WorkCalendar(cutoff=time(15, 0))
    monday_morning = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)
    monday_late = datetime(2026, 3, 2, 15, 30, tzinfo=TZ)
    saturday = datetime(2026, 3, 7, 10, 0, tzinfo=TZ)
    assert ruled.due_after(monday_morning, 1, "working_days").astimezone(TZ).date() == date(2026, 3, 3)
    assert ruled.due_after(monday_late, 1, "working_days").astimezone(TZ).date() == date(2026, 3, 4)
    assert WorkCalendar().due_after(monday_late, 1, "working_days").astimezone(TZ).date() == date(2026, 3, 3)
    assert ruled.due_after(saturday, 1, "working_days").astimezone(TZ).date() == date(2026, 3, 10)
    assert ruled.due_after(monday_late, 4, "working_hours").astimezone(TZ) == datetime(
        2026, 3, 3, 12, 0, tzinfo=TZ
    )
    # The province turns the rule on by configuration; the API's due-date computation follows it.
    params = {"received_at": "2026-03-02T15:30:00+07:00", "value": 1}
    assert (
        client.get("/api/v1/procedures/calendar/due", params=params).json()["due_at"].startswith("2026-03-03")
    )
    monkeypatch.setenv("TINHSO_PROCEDURES_RECEIPT_CUTOFF", "15:00")
    get_procedures_settings.cache_clear()
    try:
        due = client.get("/api/v1/procedures/calendar/due", params=params).json()["due_at"]
        assert due.startswith("2026-03-04")
    finally:
        monkeypatch.delenv("TINHSO_PROCEDURES_RECEIPT_CUTOFF")
        get_procedures_settings.cache_clear()
