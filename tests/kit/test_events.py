"""The transactional outbox: events ride in the writer's transaction and reach subscribers exactly once in effect."""

from sqlalchemy import func, select

from tinhso.kit.events import Bus, EventDelivery, OutboxEvent, dispatch_once, outbox_lag, publish


def test_event_of_a_rolled_back_transaction_is_never_delivered(db):
    seen = []
    bus = Bus()
    bus.subscribe("test.*", "collector", lambda s, e: seen.append(e.payload))
    try:
        with db.transaction() as s:
            publish(s, "test.created", {"n": 1})
            raise RuntimeError("crash")
    except RuntimeError:
        pass
    assert dispatch_once(db, the_bus=bus) == 0
    assert seen == []


def test_events_are_delivered_in_order_and_marked(db):
    seen = []
    bus = Bus()
    bus.subscribe("test.*", "collector", lambda s, e: seen.append(e.payload["n"]))
    bus.subscribe("other.*", "other", lambda s, e: seen.append("wrong"))
    with db.transaction() as s:
        for n in range(5):
            publish(s, "test.created", {"n": n}, key="a")
    assert dispatch_once(db, the_bus=bus) == 5
    assert seen == [0, 1, 2, 3, 4]
    assert dispatch_once(db, the_bus=bus) == 0
    with db.transaction() as s:
        assert outbox_lag(s)["pending"] == 0
        assert s.scalar(select(func.count()).select_from(EventDelivery)) == 5


def test_failing_subscriber_is_retried_without_redelivering_to_others(db):
    calls = {"ok": 0, "flaky": 0}
    bus = Bus()

    def ok(s, e):
        calls["ok"] += 1

    def flaky(s, e):
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise RuntimeError("down")

    bus.subscribe("test.*", "ok", ok)
    bus.subscribe("test.*", "flaky", flaky)
    with db.transaction() as s:
        publish(s, "test.created", {"n": 1}, key="k")
        publish(s, "test.created", {"n": 2}, key="k")
    assert dispatch_once(db, the_bus=bus) == 0
    with db.transaction() as s:
        row = s.scalars(select(OutboxEvent).order_by(OutboxEvent.seq)).first()
        assert row.attempts == 1 and "down" in row.last_error
        # Make it due again now instead of waiting for the backoff.
        for r in s.scalars(select(OutboxEvent)):
            r.available_at = r.created_at
    assert dispatch_once(db, the_bus=bus) == 2
    # The healthy subscriber handled event 1 once and event 2 once; the flaky one retried event 1.
    assert calls == {"ok": 2, "flaky": 3}


def test_subscriber_effects_commit_with_its_delivery_mark(db):
    from tinhso.kit import audit

    bus = Bus()

    def handler(s, e):
        audit.record(s, "test.handled", object_id=e.event_id)
        if e.payload.get("boom"):
            raise RuntimeError("after writing")

    bus.subscribe("test.*", "writer", handler)
    with db.transaction() as s:
        publish(s, "test.created", {"boom": True})
    dispatch_once(db, the_bus=bus)
    with db.transaction() as s:
        from tinhso.kit.audit import AuditEntry

        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 0
        assert s.scalar(select(func.count()).select_from(EventDelivery)) == 0
