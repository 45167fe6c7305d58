"""Demo data: published services of DANCU, TTHC and DATDAI with real local upstreams, grants and traffic."""

from __future__ import annotations

import random
import time

from sqlalchemy import func, select

from tinhso.exchange import demo, msglog
from tinhso.exchange.models import Grant, MessageLog, Service
from tinhso.identity.demo import seed_demo as identity_demo


def test_demo_services_upstreams_and_traffic(client, db, monkeypatch):
    monkeypatch.setenv("TINHSO_EXCHANGE_DEMO_PORT_BASE", str(random.randint(21000, 29000)))
    with db.transaction() as s:
        identity_demo(s)
        demo.seed_demo(s)
    with db.transaction() as s:
        demo.seed_demo(s)  # running it again changes nothing
    with db.transaction(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Service).where(Service.state == "published")) == 3
        assert s.scalar(select(func.count()).select_from(Grant)) == 3
    r = client.get("/api/v1/exchange/services", params={"q": "dat dai"})
    assert r.json()["total"] == 1
    demo.start_upstreams(client.app)
    try:
        deadline = time.monotonic() + 30
        count = 0
        while time.monotonic() < deadline:
            with db.transaction(write=False) as s:
                count = s.scalar(select(func.count()).select_from(MessageLog)) or 0
            if count >= 18:
                break
            time.sleep(0.2)
        assert count == 18
        with db.transaction(write=False) as s:
            statuses = sorted(s.scalars(select(MessageLog.status)))
            # Three rounds: 4 answers, an unknown citizen (404), households not granted to TTHC (403).
            assert (statuses.count(200), statuses.count(404), statuses.count(403)) == (12, 3, 3)
            assert msglog.verify(s).ok
    finally:
        demo.stop_upstreams(client.app)
