"""What must hold when several processes ingest and run the jobs at once: incremental hourly means equal to
the raw readings' means, one device bucket shared by every process, one escalation per period."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from tinhso.environment import alerts, ingest, ratelimit
from tinhso.environment.config import env_settings
from tinhso.environment.models import Alert, AlertHistory, HourlyMean, Reading
from tinhso.kit.db import Database, make_engine, utcnow
from tinhso.kit.events import OutboxEvent


def send(client, token: str, parameter: str, value: float, t: datetime) -> None:  # noqa: ANN001
    body = {"readings": [{"parameter": parameter, "value": value, "time": t.isoformat()}]}
    r = client.post("/api/v1/environment/ingest", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text


def _other_process(db: Database) -> Database:
    """A second engine on the same database, as another API process or worker would have."""
    return Database(make_engine(url=db.engine.url.render_as_string(hide_password=False)))


def _wait_for_lock_waiter(db: Database) -> None:
    """Block until some other PostgreSQL backend waits on a row lock (the second worker is inside its UPDATE)."""
    deadline = time.monotonic() + 30
    with db.engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                )
            ).scalar()
            if waiting:
                return
            conn.rollback()
            time.sleep(0.02)
    raise AssertionError("the second session never waited for the row lock")


def test_incremental_hourly_means_equal_the_raw_readings(db, air) -> None:  # noqa: ANN001
    """Batches in several transactions, shuffled, with duplicates, late hours and suspect values: the stored
    hourly (mean, min, max, count, suspect) equal what the raw readings give."""
    rng = random.Random(11)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
    items = [
        {
            "parameter": p,
            "value": rng.choice([rng.uniform(5, 40), rng.uniform(5, 40), outlier]),  # some out of range
            "time": start + timedelta(minutes=rng.randrange(0, 5 * 60)),
        }
        for p, outlier in (("PM10", 2500.0), ("NO2", 5000.0), ("temperature", 55.0))
        for _ in range(60)
    ]
    rng.shuffle(items)
    batches = [items[i : i + 37] for i in range(0, len(items), 37)]
    batches.append(items[5:50])  # a retry of readings already stored
    for batch in batches:
        with db.transaction() as s:
            ctx = ingest.authenticate(s, air.token)
            # Readings of one batch share (parameter, time) at most once each.
            unique = list({(i["parameter"], i["time"]): i for i in batch}.values())
            ingest.store(s, ingest.prepare(ctx, unique, "http"))
    with db.transaction() as s:
        raw: dict[tuple[str, datetime], list[float]] = defaultdict(list)
        suspect: dict[tuple[str, datetime], int] = defaultdict(int)
        for r in s.scalars(select(Reading)):
            key = (r.parameter, r.observed_at.replace(minute=0, second=0))
            if r.quality == "ok":
                raw[key].append(r.value)
            else:
                suspect[key] += 1
        stored = {(m.parameter, m.hour): m for m in s.scalars(select(HourlyMean))}
    assert set(stored) == set(raw) and sum(suspect.values()) > 0
    for key, values in raw.items():
        m = stored[key]
        assert m.count == len(values) and m.suspect == suspect[key]
        assert m.minimum == min(values) and m.maximum == max(values)
        assert m.mean == pytest.approx(sum(values) / len(values), rel=1e-9)


def test_device_bucket_is_shared_by_every_process(db, air, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(env_settings(), "rate_burst", 10.0)
    monkeypatch.setattr(env_settings(), "rate_per_second", 0.001)
    other = _other_process(db)
    try:
        with db.transaction() as s:
            ctx = ingest.authenticate(s, air.token)
            assert ratelimit.take(s, ctx.device_id, 6) == 0
        with other.transaction() as s:  # the other process sees what the first one spent
            assert ratelimit.take(s, ctx.device_id, 6) > 0
            assert ratelimit.take(s, ctx.device_id, 4) == 0
            assert ratelimit.take(s, ctx.device_id, 1) > 0
        with pytest.raises(RuntimeError), other.transaction() as s:  # a rolled-back batch spends nothing
            assert ratelimit.take(s, "another-device", 10) == 0
            raise RuntimeError("the batch failed")
        with db.transaction() as s:
            assert ratelimit.take(s, "another-device", 10) == 0
            assert ratelimit.take(s, "another-device", 1) > 0
    finally:
        other.dispose()


def test_concurrent_takes_never_overspend_on_postgresql(db, air, monkeypatch) -> None:  # noqa: ANN001
    if db.dialect != "postgresql":
        pytest.skip("SQLite serialises writers; the race exists only on PostgreSQL")
    monkeypatch.setattr(env_settings(), "rate_burst", 10.0)
    monkeypatch.setattr(env_settings(), "rate_per_second", 0.001)
    with db.transaction() as s:
        device_id = ingest.authenticate(s, air.token).device_id
    other = _other_process(db)
    first = db.session()
    try:
        assert ratelimit.take(first, device_id, 7) == 0  # not committed yet: the row is locked
        result: list[float] = []
        worker = threading.Thread(
            target=lambda: result.append(_take_in(other, device_id, 7)), name="second-ingester"
        )
        worker.start()
        _wait_for_lock_waiter(db)
        first.commit()
        worker.join(30)
        assert result and result[0] > 0  # 7 + 7 > 10: the second waited and was refused
    finally:
        first.close()
        other.dispose()


def _take_in(db: Database, device_id: str, n: int) -> float:
    with db.transaction() as s:
        return ratelimit.take(s, device_id, n)


def _escalate_in(db: Database, now: datetime) -> list[str]:
    with db.transaction() as s:
        return alerts.escalate_due(s, now)


def test_two_workers_escalate_an_alert_once(client, db, air) -> None:  # noqa: ANN001
    send(client, air.token, "PM10", 600, datetime.now(UTC))
    with db.transaction() as s:
        alert = s.scalar(select(Alert))
        assert alert is not None
        alert.raised_at = utcnow() - timedelta(minutes=45)
        alert_id = alert.id
    now = utcnow()
    other = _other_process(db)
    first = db.session()
    try:
        assert alerts.escalate_due(first, now) == [alert_id]
        result: list[list[str]] = []
        worker = threading.Thread(
            target=lambda: result.append(_escalate_in(other, now)), name="second-worker"
        )
        if db.dialect == "postgresql":
            worker.start()
            _wait_for_lock_waiter(db)  # the second worker saw the alert as due and waits on its row
            first.commit()
        else:
            first.commit()  # SQLite: the second writer starts after the first commits
            worker.start()
        worker.join(30)
        assert result == [[]]
    finally:
        first.close()
        other.dispose()
    with db.transaction() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None and alert.level == 2 and alert.severity == "critical"
        actions = list(s.scalars(select(AlertHistory.action).where(AlertHistory.alert_id == alert_id)))
        escalated = s.scalars(select(OutboxEvent).where(OutboxEvent.topic == "environment.alert.escalated"))
        assert actions.count("escalated") == 1 and len(list(escalated)) == 1
    # The next period escalates again, once.
    later = now + timedelta(minutes=env_settings().escalate_minutes + 1)
    assert _escalate_in(db, later) == [alert_id] and _escalate_in(db, later) == []
