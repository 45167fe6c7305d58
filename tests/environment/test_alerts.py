"""Alerts: threshold, QCVN exceedance, anomaly, silence; deduplication, escalation, acknowledgement,
resolution; events and the notifications to the people on duty."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tinhso.environment import alerts, ingest, notify
from tinhso.environment.models import Alert, DutyContact, Notification, Station
from tinhso.kit.db import utcnow
from tinhso.kit.events import OutboxEvent, wait_until_dispatched

URL = "/api/v1/environment/ingest"


def send(client, token, parameter, value, t):  # noqa: ANN001, ANN201
    body = {"readings": [{"parameter": parameter, "value": value, "time": t.isoformat()}]}
    r = client.post(URL, json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()


def topics(db) -> list[str]:  # noqa: ANN001
    with db.transaction() as s:
        return [e.topic for e in s.scalars(select(OutboxEvent).order_by(OutboxEvent.seq))]


def test_threshold_alert_is_deduplicated_published_and_notified(client, db, air) -> None:  # noqa: ANN001
    with db.transaction() as s:
        s.add(
            DutyContact(
                agency_code="000.00.06.H41", name="Trực ban 1", phone="0912345678", email="a@snnmt.vn"
            )
        )
        s.add(DutyContact(agency_code="000.00.06.H41", name="Lãnh đạo", phone="0987654321", level=2))
    double = notify.SmsEmailGatewayTestDouble()
    notify.set_notifier(double)
    try:
        now = datetime.now(UTC)
        first = send(client, air.token, "PM2.5", 300, now - timedelta(minutes=10))
        assert len(first["alerts"]) == 1
        again = send(client, air.token, "PM2.5", 320, now - timedelta(minutes=5))
        assert again["alerts"] == []  # the open alert only counts a new occurrence
        r = client.get("/api/v1/environment/alerts?status=open", headers=air.official.headers).json()
        assert r["total"] == 1
        alert = r["items"][0]
        assert alert["rule"] == "threshold" and alert["parameter"] == "PM2.5"
        assert alert["occurrences"] == 2 and alert["value"] == 320 and alert["limit"] == 250
        assert topics(db).count("environment.alert.raised") == 1
        wait_until_dispatched(db)
        assert sorted(c for c, _, _ in double.sent) == ["email", "sms"]  # level 1 only
        assert "Trạm không khí Vinh" in double.sent[0][2]
        wait_until_dispatched(db)  # a second delivery pass sends nothing twice
        with db.transaction() as s:
            assert len(list(s.scalars(select(Notification)))) == 2
    finally:
        notify.set_notifier(notify.SmsEmailGatewayTestDouble())


def test_escalation_acknowledge_and_resolve(client, db, air, factory) -> None:  # noqa: ANN001
    with db.transaction() as s:
        s.add(DutyContact(agency_code="000.00.06.H41", name="Lãnh đạo", phone="0987654321", level=2))
    double = notify.SmsEmailGatewayTestDouble()
    notify.set_notifier(double)
    try:
        client.patch(
            f"/api/v1/environment/stations/{air.station['id']}",
            json={"thresholds": {"PM10": 100}},
            headers=air.official.headers,
        )
        send(client, air.token, "PM10", 150, datetime.now(UTC) - timedelta(minutes=1))
        with db.transaction() as s:
            assert alerts.escalate_due(s) == []  # not yet due
            later = utcnow() + timedelta(minutes=31)
            escalated = alerts.escalate_due(s, later)
            assert len(escalated) == 1
            assert alerts.escalate_due(s, later) == []  # not twice in one period
        alert_id = escalated[0]
        wait_until_dispatched(db)
        assert [a for c, a, _ in double.sent] == ["0987654321"]  # the level-2 person hears of it
        other = factory.person(("official",), agency="000.00.05.H41")
        url = f"/api/v1/environment/alerts/{alert_id}"
        assert client.post(url + "/acknowledge", headers=other.headers).status_code == 404
        r = client.post(
            url + "/acknowledge", json={"note": "Đã cử người kiểm tra"}, headers=air.official.headers
        )
        assert r.status_code == 200 and r.json()["status"] == "acknowledged" and r.json()["level"] == 2
        assert client.post(url + "/acknowledge", headers=air.official.headers).status_code == 200  # retry
        with db.transaction() as s:
            assert alerts.escalate_due(s, utcnow() + timedelta(hours=5)) == []  # acknowledged: no escalation
        r = client.post(url + "/resolve", headers=air.official.headers)
        assert r.json()["status"] == "resolved"
        assert (
            client.post(url + "/acknowledge", headers=air.official.headers).json()["code"] == "alert_resolved"
        )
        detail = client.get(url, headers=air.official.headers).json()
        assert [h["action"] for h in detail["history"]] == ["raised", "escalated", "acknowledged", "resolved"]
        assert client.get("/api/v1/environment/alerts/nope", headers=air.official.headers).status_code == 404
        # A new exceedance after resolution opens a new alert.
        assert len(send(client, air.token, "PM10", 140, datetime.now(UTC))["alerts"]) == 1
        assert topics(db).count("environment.alert.raised") == 2
        assert "environment.alert.resolved" in topics(db) and "environment.alert.escalated" in topics(db)
    finally:
        notify.set_notifier(notify.SmsEmailGatewayTestDouble())


def test_qcvn_exceedance_alert(client, db, air) -> None:  # noqa: ANN001
    t = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    send(client, air.token, "SO2", 400, t)  # QCVN 05:2023 1-h limit 350, below the threshold rule's 800
    with db.transaction() as s:
        rows = list(s.scalars(select(Alert)))
    assert [(a.rule, a.parameter, a.limit) for a in rows] == [("qcvn", "SO2/1h", 350.0)]


def test_anomaly_against_the_station_history(client, db, air) -> None:  # noqa: ANN001
    rng = random.Random(7)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=4)
    with db.transaction() as s:
        ctx = ingest.authenticate(s, air.token)
        rows = ingest.prepare(
            ctx,
            [
                {
                    "parameter": "temperature",
                    "value": 27 + rng.uniform(-1, 1),
                    "time": start + timedelta(hours=i),
                }
                for i in range(90)
            ],
            "http",
        )
        result = ingest.store(s, rows)
    assert result.alerts == []  # ordinary weather is not an anomaly
    now = datetime.now(UTC)
    out = send(client, air.token, "temperature", 44, now - timedelta(minutes=1))
    with db.transaction() as s:
        alert = s.scalar(select(Alert).where(Alert.rule == "anomaly"))
    assert alert is not None and alert.id in out["alerts"] and alert.detail["z"] > 6


def test_silence_alert_and_recovery(client, db, air) -> None:  # noqa: ANN001
    send(client, air.token, "PM10", 30, datetime.now(UTC) - timedelta(hours=3))
    with db.transaction() as s:
        assert len(alerts.check_silence(s)) == 1
        assert alerts.check_silence(s) == []  # deduplicated
        station = s.scalar(select(Station))
        assert station is not None
    send(client, air.token, "PM10", 30, datetime.now(UTC))
    with db.transaction() as s:
        alert = s.scalar(select(Alert).where(Alert.rule == "silence"))
        assert alert is not None and alert.status == "resolved" and alert.resolved_by == "system"


def test_duty_roster_api(client, factory) -> None:  # noqa: ANN001
    admin = factory.person(("agency_admin",), agency="000.00.06.H41")
    official = factory.person(("official",), agency="000.00.06.H41")
    r = client.post(
        "/api/v1/environment/duty", json={"name": "Trực ban", "phone": "0912345678"}, headers=admin.headers
    )
    assert r.status_code == 201
    assert (
        client.post("/api/v1/environment/duty", json={"name": "X"}, headers=admin.headers).status_code == 422
    )
    r2 = client.post("/api/v1/environment/duty", json={"name": "Không liên lạc"}, headers=admin.headers)
    assert r2.json()["code"] == "duty_contact_needed"
    assert client.get("/api/v1/environment/duty", headers=official.headers).status_code == 403
    assert len(client.get("/api/v1/environment/duty", headers=admin.headers).json()) == 1
    assert (
        client.delete(f"/api/v1/environment/duty/{r.json()['id']}", headers=admin.headers).status_code == 204
    )
    assert client.delete("/api/v1/environment/duty/nope", headers=admin.headers).status_code == 404
