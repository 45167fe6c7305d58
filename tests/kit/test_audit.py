"""The audit chain: every change leaves an entry; altering, deleting or reordering any entry is detected."""

import os
import subprocess
import sys

from sqlalchemy import delete, select, text, update

from tinhso.kit import audit
from tinhso.kit.audit import AuditEntry


def _write_entries(db, n=5):
    for i in range(n):
        with db.transaction() as s:
            audit.record(
                s, "test.action", object_type="thing", object_id=str(i), detail={"i": i, "tên": "Nghệ An"}
            )


def test_an_intact_chain_verifies(db):
    _write_entries(db)
    with db.transaction() as s:
        result = audit.verify(s)
    assert result.ok and result.checked == 5


def test_an_altered_entry_is_named(db):
    _write_entries(db)
    with db.transaction() as s:
        s.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(outcome="failure"))
    with db.transaction() as s:
        result = audit.verify(s)
    assert not result.ok and result.broken_seq == 3 and "hash" in result.reason


def test_an_altered_detail_is_named(db):
    _write_entries(db)
    with db.transaction() as s:
        s.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(detail={"i": 99}))
    with db.transaction() as s:
        assert audit.verify(s).broken_seq == 2


def test_a_deleted_entry_is_named(db):
    _write_entries(db)
    with db.transaction() as s:
        s.execute(delete(AuditEntry).where(AuditEntry.seq == 2))
    with db.transaction() as s:
        result = audit.verify(s)
    assert not result.ok and result.broken_seq == 2


def test_a_deleted_tail_is_detected(db):
    _write_entries(db)
    with db.transaction() as s:
        s.execute(delete(AuditEntry).where(AuditEntry.seq == 5))
    with db.transaction() as s:
        result = audit.verify(s)
    assert not result.ok and result.broken_seq == 5


def test_reordered_entries_are_detected(db):
    _write_entries(db)
    with db.transaction() as s:
        s.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(seq=100))
        s.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(seq=2))
        s.execute(update(AuditEntry).where(AuditEntry.seq == 100).values(seq=3))
    with db.transaction() as s:
        result = audit.verify(s)
    assert not result.ok and result.broken_seq == 2


def test_a_rolled_back_transaction_leaves_no_entry_and_no_gap(db):
    try:
        with db.transaction() as s:
            audit.record(s, "test.rolled_back")
            raise RuntimeError("crash mid-way")
    except RuntimeError:
        pass
    _write_entries(db, 2)
    with db.transaction() as s:
        assert audit.verify(s).ok
        assert [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))] == [
            "test.action"
        ] * 2


def test_concurrent_appenders_keep_one_chain(db):
    import threading

    errors = []

    def work():
        try:
            _write_entries(db, 10)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with db.transaction() as s:
        result = audit.verify(s)
    assert result.ok and result.checked == 40


def test_cli_audit_verify_exits_non_zero_naming_the_entry(db):
    _write_entries(db, 3)
    url = db.engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "TINHSO_DATABASE_URL": url}
    cmd = [sys.executable, "-m", "tinhso.cli", "audit", "verify"]
    ok = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "3 entries" in ok.stderr + ok.stdout
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE kit_audit_entry SET action = 'forged' WHERE seq = 2"))
    broken = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert broken.returncode == 1
    assert "entry 2" in broken.stderr + broken.stdout


def test_audit_api_is_scoped_and_verifiable(client, factory, platform_admin):
    from tests.factories import CONGAN, TUPHAP

    a = factory.person(("agency_admin",), agency=TUPHAP)
    b = factory.person(("agency_admin",), agency=CONGAN)
    client.post("/api/v1/systems", headers=a.headers, json={"code": "S1", "name": "Hệ thống một"})
    client.post("/api/v1/systems", headers=b.headers, json={"code": "S2", "name": "Hệ thống hai"})
    mine = client.get("/api/v1/audit", headers=a.headers, params={"action": "identity.system.create"}).json()
    assert mine["total"] == 1 and mine["items"][0]["agency_code"] == TUPHAP
    everything = client.get(
        "/api/v1/audit", headers=platform_admin.headers, params={"action": "identity."}
    ).json()
    assert everything["total"] == 2
    assert client.get("/api/v1/audit/verify", headers=platform_admin.headers).json()["ok"] is True
    assert client.get("/api/v1/audit/verify", headers=a.headers).status_code == 403
    official = factory.person(("official",))
    assert client.get("/api/v1/audit", headers=official.headers).status_code == 403


def test_citizen_sees_who_read_their_personal_data(client, factory, db):
    citizen = factory.citizen()
    official = factory.person(("official",))
    with db.transaction() as s:
        audit.record(
            s,
            "data.registry.read",
            object_type="citizen",
            subject_id=citizen.id,
            purpose="Giải quyết hồ sơ 000.00.05.H41-261127-0001",
            actor=official.principal,
        )
        audit.record(s, "identity.me", subject_id=citizen.id, actor=citizen.principal)
    usage = client.get("/api/v1/me/data-usage", headers=citizen.headers).json()
    assert usage["total"] == 1
    assert usage["items"][0]["purpose"].startswith("Giải quyết hồ sơ")
    assert usage["items"][0]["agency_code"] == official.principal.agency_code
