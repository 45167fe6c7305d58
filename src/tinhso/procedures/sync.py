"""National public-service portal (DVCQG) sync: dossier events become sync records, sent with retries.

The national portal is outside the province; `NationalPortalTestDouble` stands in for it in tests and the
demo. Records are created by an event subscriber (exactly once per event) and sent by the worker.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tinhso.kit.db import new_id, utcnow
from tinhso.kit.events import Event
from tinhso.procedures.models import Dossier, SyncRecord

MAX_ATTEMPTS = 8
RECENT = 1000  # records the test double keeps to show (it stands in for DVCQG in the demo and on the worker)


class NationalPortal(Protocol):
    def send(self, record: dict[str, Any]) -> str: ...


@dataclass
class NationalPortalTestDouble:
    """TEST DOUBLE of the DVCQG dossier-sync API: accepts records, can be told to fail the next calls.

    It keeps only the most recent records: a long-running worker sends it every dossier event."""

    received: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT))
    fail_next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, record: dict[str, Any]) -> str:
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                raise ConnectionError("DVCQG test double: simulated outage")
            self.received.append(record)
            return f"DVCQG-{new_id()[:12]}"


_portal: NationalPortal = NationalPortalTestDouble()


def portal() -> NationalPortal:
    return _portal


def set_portal(p: NationalPortal) -> None:
    global _portal
    _portal = p


def record_of(d: Dossier) -> dict[str, Any]:
    """A DVCQG sync record with the national field names."""

    def fmt(v: datetime | None) -> str | None:
        return v.strftime("%Y%m%d%H%M%S") if v else None

    return {
        "MaHoSo": d.code,
        "MaTTHC": d.procedure_code,
        "MaDonViXuLy": d.agency_code,
        "MaDonViTiepNhan": d.receiving_agency_code,
        "TrangThaiHoSo": d.status,
        "KenhThucHien": d.channel,
        "NgayTiepNhan": fmt(d.received_at),
        "NgayHenTra": fmt(d.due_at),
        "NgayKetThucXuLy": fmt(d.finished_at),
        "NgayTra": fmt(d.returned_at),
        "DuocThanhToanTrucTuyen": d.paid_online,
        "HoSoCoThanhPhanSoHoa": int(d.digitised),
        "DuocLayTuKhoDMQG": int(d.from_data_store),
        "TaiKhoanDuocXacThucVoiVNeID": int(d.vneid_verified),
        "MaKetQua": d.result_code,
        "DuongDanTepTinKetQua": f"/api/v1/procedures/results/{d.result_document_id}"
        if d.result_document_id
        else None,
    }


def on_dossier_event(session: Session, event: Event) -> None:
    code = event.payload.get("code")
    d = session.scalar(select(Dossier).where(Dossier.code == code))
    if d is None:
        return
    try:
        with session.begin_nested():
            session.add(
                SyncRecord(
                    event_id=event.event_id,
                    dossier_code=d.code,
                    payload=record_of(d),
                    next_attempt_at=utcnow(),
                )
            )
    except IntegrityError:
        pass  # already recorded


def send_pending(session: Session, now: datetime | None = None, batch: int = 200) -> dict[str, int]:
    now = now or utcnow()
    report = {"sent": 0, "retry": 0, "failed": 0}
    rows = session.scalars(
        select(SyncRecord)
        .where(SyncRecord.status == "pending", SyncRecord.next_attempt_at <= now)
        .order_by(SyncRecord.created_at)
        .limit(batch)
    )
    for rec in rows:
        rec.attempts += 1
        try:
            rec.remote_ref = portal().send(rec.payload)
        except Exception as exc:  # noqa: BLE001 - any failure of the remote side is retried
            rec.last_error = str(exc)[:500]
            if rec.attempts >= MAX_ATTEMPTS:
                rec.status = "failed"
                report["failed"] += 1
            else:
                rec.next_attempt_at = now + timedelta(seconds=min(3600, 2**rec.attempts * 15))
                report["retry"] += 1
            continue
        rec.status, rec.sent_at, rec.last_error = "sent", now, None
        session.execute(
            update(Dossier)
            .where(Dossier.code == rec.dossier_code, Dossier.synced_at.is_(None))
            .values(synced_at=now)
        )
        report["sent"] += 1
    session.flush()
    return report


def reconciliation(
    session: Session, since: datetime, until: datetime, agency_code: str | None = None
) -> dict[str, Any]:
    """Dossiers received in the period against what reached the national portal (one agency's, if named)."""
    mine = Dossier.agency_code == agency_code if agency_code else true()
    received = (
        session.scalar(
            select(func.count())
            .select_from(Dossier)
            .where(Dossier.received_at >= since, Dossier.received_at < until, mine)
        )
        or 0
    )
    synced = (
        session.scalar(
            select(func.count())
            .select_from(Dossier)
            .where(
                Dossier.received_at >= since,
                Dossier.received_at < until,
                Dossier.synced_at.is_not(None),
                mine,
            )
        )
        or 0
    )
    records = select(SyncRecord.status, func.count()).group_by(SyncRecord.status)
    if agency_code:
        records = records.where(SyncRecord.dossier_code.in_(select(Dossier.code).where(mine)))
    by_status = dict(session.execute(records).tuples().all())
    missing = list(
        session.scalars(
            select(Dossier.code)
            .where(
                Dossier.received_at >= since, Dossier.received_at < until, Dossier.synced_at.is_(None), mine
            )
            .order_by(Dossier.code)
            .limit(100)
        )
    )
    return {"received": received, "synced": synced, "records": by_status, "not_synced_sample": missing}
