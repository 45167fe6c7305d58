"""Monitoring: stats per service and client, probes, /metrics, measures for the KPI engine."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.exchange.conftest import make_hub
from tests.factories import CONGAN
from tinhso.exchange import monitor
from tinhso.exchange.models import MessageLog
from tinhso.exchange.plugin import measures
from tinhso.kit.db import utcnow


def test_stats_metrics_and_measures(client, factory, upstream, db):
    hub = make_hub(client, factory, upstream)
    for i in range(5):
        assert client.get(f"/r1/{hub.service_id}/citizens/{i}", headers=hub.headers()).status_code == 200
    client.get(
        f"/r1/{hub.service_id}/echo", headers=hub.headers()
    )  # the provider answers 405: not a hub error
    client.patch(
        f"/api/v1/exchange/services/{hub.service['id']}",
        json={"upstream_url": "http://127.0.0.1:9"},
        headers=hub.provider_admin.headers,
    )
    assert client.get(f"/r1/{hub.service_id}/citizens/1", headers=hub.headers()).status_code == 502
    r = client.get("/api/v1/exchange/stats", headers=hub.provider_admin.headers)
    assert r.status_code == 200
    body = r.json()
    [item] = [i for i in body["items"] if i["client"] == hub.client_id]
    assert item["calls"] == 7 and item["errors"] == 1
    assert item["latency_ms"]["p50"] is not None and item["latency_ms"]["p99"] >= item["latency_ms"]["p50"]
    assert item["bytes_out"] > 0
    # Another agency sees none of this provider's traffic; a bad window is refused.
    other = factory.person(("agency_admin", "official"), agency="000.00.02.H41")
    assert client.get("/api/v1/exchange/stats", headers=other.headers).json()["calls"] == 0
    assert (
        client.get(
            "/api/v1/exchange/stats?since=2030-01-01T00:00:00Z&until=2029-01-01T00:00:00Z",
            headers=other.headers,
        ).status_code
        == 400
    )
    assert client.get("/api/v1/exchange/stats").status_code == 401
    metrics = TestClient(client.app, client=("127.0.0.1", 40000)).get("/metrics").text  # the monitoring host
    assert "tinhso_exchange_calls_total" in metrics and hub.service_id in metrics
    now = utcnow()
    with db.transaction(write=False) as s:
        assert (
            measures["exchange.calls"](s, now - timedelta(hours=1), now + timedelta(seconds=1), CONGAN) == 7
        )
        rate = measures["exchange.error_rate"](
            s, now - timedelta(hours=1), now + timedelta(seconds=1), CONGAN
        )
        assert abs(rate - 1 / 7) < 1e-9
        assert measures["exchange.calls"](s, now - timedelta(hours=1), now, "000.00.02.H41") == 0
        assert measures["exchange.availability"](s, now - timedelta(hours=1), now, CONGAN) is None
        # p95 (nearest rank) of the six calls that reached the provider: the slowest of them, in ms.
        reached = sorted(
            s.scalars(select(MessageLog.duration_ms).where(MessageLog.upstream_ms.is_not(None))).all()
        )
        assert len(reached) == 6
        window = (now - timedelta(hours=1), now + timedelta(seconds=1))
        assert measures["exchange.latency_p95"](s, *window, CONGAN) == round(reached[-1], 2)
        assert measures["exchange.latency_p95"](s, *window, None) == round(reached[-1], 2)
        assert measures["exchange.latency_p95"](s, *window, "000.00.02.H41") is None


def test_probes_availability_and_operator_page(client, factory, upstream, db):
    hub = make_hub(client, factory, upstream)
    with httpx.Client() as http:
        assert monitor.probe_all(db, http) == 1
        client.patch(
            f"/api/v1/exchange/services/{hub.service['id']}",
            json={"upstream_url": "http://127.0.0.1:9"},
            headers=hub.provider_admin.headers,
        )
        assert monitor.probe_all(db, http) == 0
    now = utcnow()
    with db.transaction(write=False) as s:
        assert (
            measures["exchange.availability"](s, now - timedelta(hours=1), now + timedelta(seconds=1), CONGAN)
            == 0.5
        )
    body = client.get("/api/v1/exchange/stats", headers=hub.provider_admin.headers).json()
    [p] = body["providers"]
    assert p["available"] is False and p["last_success_at"] is not None and p["availability"] == 0.5
    page = client.get("/exchange/operations", headers=hub.provider_admin.headers)
    assert page.status_code == 200 and "50,0%" in page.text
    official = factory.person(("official",), agency=CONGAN)
    assert client.get("/exchange/operations", headers=official.headers).status_code == 403
