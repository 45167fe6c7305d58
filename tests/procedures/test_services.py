"""Public status lookup, e-data store, fees, national portal sync, the 766 index and the KPI measures."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

from sqlalchemy import select

from tinhso.kit.db import utcnow
from tinhso.kit.events import wait_until_dispatched
from tinhso.procedures import index766, payments, sync
from tinhso.procedures.calendar import TZ
from tinhso.procedures.models import Dossier, SyncRecord
from tinhso.procedures.plugin import measures

from .conftest import LLTP, TUPHAP, lltp_form, within_one_window

API = "/api/v1/procedures"


def _apply(client, citizen, **extra):  # noqa: ANN001, ANN003
    body = {"procedure_code": LLTP, "form": lltp_form(citizen.principal.personal_id)} | extra
    r = client.post(f"{API}/dossiers", json=body, headers=citizen.headers)
    assert r.status_code == 201, r.text
    return r.json()


def test_status_lookup_shows_no_personal_data_and_is_rate_limited(client, factory):
    citizen = factory.citizen(full_name="Lê Thị Riêng Tư")
    code = _apply(client, citizen)["code"]
    r = client.get(f"{API}/status/{code}")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "received" and body["status_text"] == "Đã tiếp nhận"
    assert "Riêng Tư" not in r.text and citizen.principal.personal_id not in r.text
    assert client.get(f"{API}/status/{code}", params={"lang": "en"}).json()["status_text"] == "Received"
    within_one_window(600)
    statuses = [client.get(f"{API}/status/000.00.05.H41-260101-{i:04d}").status_code for i in range(12)]
    assert statuses[:10] == [404] * 10 and statuses[10:] == [429, 429]
    r = client.get(f"{API}/status/{code}")
    assert r.status_code == 429 and r.json()["code"] == "lookup_rate_limited"
    assert 1 <= int(r.headers["retry-after"]) <= 600


def test_edata_reuse_with_consent_and_the_owner_sees_who_read(client, factory):
    citizen = factory.citizen()
    official = factory.person(("official",), TUPHAP)
    other = factory.citizen()
    r = client.post(
        f"{API}/edata",
        data={"title": "Bản sao CCCD"},
        files={"file": ("cccd.pdf", b"%PDF-1.4 cccd", "application/pdf")},
        headers=citizen.headers,
    )
    assert r.status_code == 201
    doc_id = r.json()["id"]
    # Someone else cannot reuse my document.
    body = {
        "procedure_code": LLTP,
        "form": lltp_form(other.principal.personal_id),
        "edata_document_ids": [doc_id],
        "edata_components": ["CCCD"],
    }
    assert client.post(f"{API}/dossiers", json=body, headers=other.headers).status_code == 404
    d = _apply(client, citizen, edata_document_ids=[doc_id], edata_components=["Thẻ Căn cước"])
    att = d["attachments"][0]
    assert att["edata_document_id"] == doc_id
    r = client.get(f"{API}/dossiers/{d['code']}/attachments/{att['id']}", headers=official.headers)
    assert r.status_code == 200 and r.content == b"%PDF-1.4 cccd"
    log = client.get(f"{API}/edata/access-log", headers=citizen.headers).json()
    reads = [e for e in log if e["action"] == "procedures.edata.read"]
    assert reads and reads[0]["agency_code"] == TUPHAP and d["code"] in reads[0]["purpose"]
    assert client.get(f"{API}/edata/{doc_id}/content", headers=other.headers).status_code == 404
    assert client.delete(f"{API}/edata/{doc_id}", headers=citizen.headers).status_code == 204
    assert client.get(f"{API}/edata", headers=citizen.headers).json() == []


def test_prefill_from_identity_is_audited(client, factory):
    citizen = factory.citizen(full_name="Phan Văn Điền")
    r = client.get(f"{API}/prefill", params={"procedure_code": LLTP}, headers=citizen.headers)
    assert r.status_code == 200
    assert r.json()["values"]["applicant_name"] == "Phan Văn Điền"
    assert r.json()["values"]["personal_id"] == citizen.principal.personal_id
    log = client.get(f"{API}/edata/access-log", headers=citizen.headers).json()
    assert log == []  # reading one's own record is not someone else's access
    assert (
        client.get(
            f"{API}/prefill", params={"procedure_code": "9.999999"}, headers=citizen.headers
        ).status_code
        == 404
    )


def test_fee_payment_paid_failed_refunded_reconciled(client, factory, platform_admin):
    citizen = factory.citizen()
    code = _apply(client, citizen)["code"]
    r = client.post(f"{API}/dossiers/{code}/payments", headers=citizen.headers)
    assert r.status_code == 200 and r.json()["amount_vnd"] == 200000 and r.json()["status"] == "pending"
    ref = r.json()["provider_ref"]
    again = client.post(f"{API}/dossiers/{code}/payments", headers=citizen.headers).json()
    assert again["provider_ref"] == ref  # a retry does not open a second payment
    client.post(f"{API}/payment-test-double/{ref}/settle", params={"status": "paid"}, headers=citizen.headers)
    r = client.post(f"{API}/dossiers/{code}/payments/check", headers=citizen.headers)
    assert r.json()["payment_status"] == "paid"
    assert client.post(f"{API}/dossiers/{code}/payments", headers=citizen.headers).status_code == 409
    report = client.post(f"{API}/payments/reconcile", headers=platform_admin.headers).json()
    assert report["paid"] == 0 and report["unchanged"] == 1  # idempotent
    detail = client.get(f"{API}/dossiers/{code}", headers=citizen.headers).json()
    assert detail["paid_online"] == 1
    # A failed payment, then a refund of a paid one.
    code2 = _apply(client, citizen)["code"]
    ref2 = client.post(f"{API}/dossiers/{code2}/payments", headers=citizen.headers).json()["provider_ref"]
    payments.provider().settle(ref2, "failed")  # type: ignore[attr-defined]
    assert client.post(f"{API}/payments/reconcile", headers=platform_admin.headers).json()["failed"] == 1
    assert client.get(f"{API}/dossiers/{code2}", headers=citizen.headers).json()["payment_status"] == "failed"
    payments.provider().refund(ref)
    assert client.post(f"{API}/payments/reconcile", headers=platform_admin.headers).json()["refunded"] == 1
    assert client.post(f"{API}/payments/reconcile", headers=citizen.headers).status_code == 403


def test_national_portal_sync_with_retries_and_report(client, factory, db, platform_admin):
    double = sync.NationalPortalTestDouble(fail_next=1)
    sync.set_portal(double)
    try:
        citizen = factory.citizen()
        code = _apply(client, citizen)["code"]
        wait_until_dispatched(db)
        wait_until_dispatched(db)  # redelivery creates no second record
        with db.transaction() as s:
            assert sync.send_pending(s) == {"sent": 0, "retry": 1, "failed": 0}
            rec = s.scalar(select(SyncRecord))
            assert rec is not None and rec.payload["MaHoSo"] == code and rec.payload["KenhThucHien"] == 2
            rec.next_attempt_at = utcnow()
        with db.transaction() as s:
            assert sync.send_pending(s)["sent"] == 1
        assert len(double.received) == 1 and double.received[0]["NgayHenTra"]
        period = utcnow().astimezone(TZ).strftime("%Y-%m")
        leader = factory.person(("leader", "official"), "000.00.00.H41")
        report = client.get(f"{API}/sync/report", params={"period": period}, headers=leader.headers).json()
        assert report["received"] == 1 and report["synced"] == 1 and report["records"] == {"sent": 1}
        assert (
            client.get(f"{API}/sync/report", params={"period": period}, headers=citizen.headers).status_code
            == 403
        )
    finally:
        sync.set_portal(sync.NationalPortalTestDouble())


def _make(db, code, received, due, finished=None, status="received", **kw):  # noqa: ANN001, ANN003
    with db.transaction() as s:
        s.add(
            Dossier(
                code=code,
                procedure_code=LLTP,
                receiving_agency_code=TUPHAP,
                agency_code=TUPHAP,
                applicant_name="X",
                channel=kw.pop("channel", 1),
                status=status,
                received_at=received,
                due_at=due,
                finished_at=finished,
                synced_at=kw.pop("synced_at", received),
                **kw,
            )
        )


def test_index766_on_time_rule_scoring_and_trace(client, factory, db):
    base = datetime(2026, 3, 10, 9, 0, tzinfo=TZ)
    day = timedelta(days=1)
    _make(
        db,
        "A-1",
        base,
        base + 5 * day,
        base + 3 * day,
        "returned",
        channel=2,
        result_document_id="r1",
        digitised=True,
        rating=5,
    )
    _make(
        db, "A-2", base, base + 5 * day, base + 7 * day, "returned", result_document_id="r2", digitised=True
    )
    # Paused for the citizen: the appointment moved, so it is on time.
    _make(
        db,
        "A-3",
        base,
        base + 9 * day,
        base + 8 * day,
        "result_ready",
        supplement_count=1,
        result_document_id="r3",
    )
    _make(
        db, "A-4", base, base + 5 * day, base + 4 * day, "refused", supplement_count=2
    )  # two requests: late
    _make(db, "A-5", base, base + 40 * day)  # still open, not yet due at period end
    _make(db, "B-1", base - 60 * day, base - 50 * day)  # carried over, open and overdue
    _make(db, "C-1", base + 40 * day, base + 45 * day)  # next month: not counted
    _make(db, "A-6", base, base + 5 * day, base + 2 * day, "withdrawn", synced_at=None)
    with db.transaction() as s:
        res = index766.compute(s, "2026-03")[0]
    f = res["indicators"]["2.1"]
    assert (f["numerator"], f["denominator"], f["rate"]) == (4, 7, 57.14)
    assert f["points"] == 11.43
    assert res["indicators"]["1.4"]["rate"] == 83.33  # 5 of the 6 received in March were synced
    online = res["indicators"]["3.3"]
    # 1 online of 6 received, times the sync rate 5/6 = 13.89 %; 12 × min(1, 0.1389 / 0.5) points
    assert online["denominator"] == 6 and online["rate"] == 13.89 and online["points"] == 3.33
    assert res["indicators"]["4.1"]["rate"] == 100.0
    assert res["indicators"]["5.2"]["available"] is False
    assert res["score"] is not None and 0 <= res["score"] <= 100
    leader = factory.person(("leader", "official"), "000.00.00.H41")
    r = client.get(
        f"{API}/index766/trace", params={"period": "2026-03", "indicator": "2.1"}, headers=leader.headers
    )
    assert sorted(r.json()["late"]) == ["A-2", "A-4", "B-1"]
    r = client.get(
        f"{API}/index766", params={"period": "2026-Q1", "group_by": "agency"}, headers=leader.headers
    )
    assert r.status_code == 200 and r.json()["items"][0]["key"] == TUPHAP
    # An official of another agency sees only its own agency.
    other = factory.person(("official",), "000.00.08.H41")
    r = client.get(f"{API}/index766", params={"period": "2026-03", "agency": TUPHAP}, headers=other.headers)
    assert r.status_code == 403
    assert (
        client.get(f"{API}/index766", params={"period": "2026-13"}, headers=leader.headers).status_code == 422
    )
    citizen = factory.citizen()
    assert (
        client.get(f"{API}/index766", params={"period": "2026-03"}, headers=citizen.headers).status_code
        == 403
    )
    x = client.get(f"{API}/index766.xlsx", params={"period": "2026-03"}, headers=leader.headers)
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(x.content))
    assert wb["Chi so 766"].cell(2, 2).value == TUPHAP


def test_measures_for_the_kpi_engine(client, factory, db):
    citizen = factory.citizen()
    _apply(client, citizen)
    since, until = utcnow() - timedelta(days=1), utcnow() + timedelta(days=1)
    with db.transaction() as s:
        assert measures["procedures.online_rate"](s, since, until, None) == 100.0
        assert measures["procedures.online_rate"](s, since, until, "000.00.08.H41") is None
        assert measures["procedures.on_time_rate"](s, since, until, None) is None
        assert measures["procedures.satisfaction"](s, since, until, None) is None


def test_demo_data_is_meaningful_and_idempotent(db):
    from tinhso.identity.models import Person
    from tinhso.procedures.demo import seed_demo

    with db.transaction() as s:
        s.add(Person(username="congdan", full_name="Nguyễn Thị Hoa", personal_id="040190001234"))
        s.flush()
        seed_demo(s, count=400)
    with db.transaction() as s:
        seed_demo(s, count=400)  # a second run adds nothing
        rows = s.execute(select(Dossier.status, Dossier.channel, Dossier.overdue, Dossier.commune_code)).all()
        assert len(rows) == 401  # plus the demo citizen's own dossier
        online = sum(1 for r in rows if r.channel == 2) / len(rows)
        late = sum(1 for r in rows if r.overdue) / len(rows)
        assert 0.2 < online < 0.7 and 0.01 < late < 0.3
        assert len({r.commune_code for r in rows if r.commune_code}) > 50
        assert len({code for (code,) in s.execute(select(Dossier.code))}) == 401
        period = utcnow().astimezone(TZ).strftime("%Y-%m")
        res = index766.compute(s, period, "commune")
        assert res and all(r["score"] is None or 0 <= r["score"] <= 100 for r in res)
