"""Backup, wipe, restore: every row comes back and the audit chain is intact."""

from sqlalchemy import func, select, text

from tinhso.identity.models import ClientCredential, Person
from tinhso.kit import audit
from tinhso.kit.audit import AuditEntry
from tinhso.kit.backup import backup, restore
from tinhso.kit.events import OutboxEvent, publish


def _counts(db):
    with db.transaction() as s:
        return {
            "people": s.scalar(select(func.count()).select_from(Person)),
            "creds": s.scalar(select(func.count()).select_from(ClientCredential)),
            "audit": s.scalar(select(func.count()).select_from(AuditEntry)),
            "outbox": s.scalar(select(func.count()).select_from(OutboxEvent)),
        }


def test_backup_wipe_restore_round_trip(db, factory, tmp_path):
    factory.person(full_name="Nguyễn Thị Hồng Nhung")
    factory.system()
    with db.transaction() as s:
        for i in range(3):
            audit.record(s, "test.backup", object_id=str(i), detail={"ghi chú": "Nghệ An"})
        publish(s, "test.topic", {"n": 1}, key="k")
    before = _counts(db)
    file = tmp_path / "tinhso-backup.zip"
    written = backup(db, file)
    assert file.exists() and written["identity_person"] == before["people"]
    with db.engine.begin() as conn:
        for table in (
            "kit_audit_entry",
            "identity_client_credential",
            "identity_role_assignment",
            "identity_person",
            "identity_system",
            "kit_outbox",
        ):
            conn.execute(text(f"DELETE FROM {table}"))
    assert _counts(db)["people"] == 0
    restore(db, file)
    assert _counts(db) == before
    with db.transaction() as s:
        names = set(s.scalars(select(Person.full_name)))
        assert "Nguyễn Thị Hồng Nhung" in names
        result = audit.verify(s)
        assert result.ok and result.checked == before["audit"]
        # The chain continues after a restore.
        audit.record(s, "test.after_restore")
    with db.transaction() as s:
        assert audit.verify(s).ok
        # New rows get fresh ids after the restore (sequences reset on PostgreSQL).
        publish(s, "test.topic", {"n": 2})


def test_restore_of_a_non_backup_file_changes_nothing(db, factory, tmp_path):
    import zipfile

    import pytest

    factory.person()
    before = _counts(db)
    bad = tmp_path / "not-a-backup.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("manifest.json", '{"format": "something-else"}')
    with pytest.raises(ValueError):
        restore(db, bad)
    assert _counts(db) == before
