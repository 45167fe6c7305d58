"""Fees: a payment-provider interface, the national payment platform's test double, and reconciliation.

The national payment platform (Nền tảng thanh toán trực tuyến trên Cổng DVCQG) is outside the province;
`NationalPaymentPlatformTestDouble` stands in for it in tests and the demo. Reconciliation is real: it asks the
provider about every payment not yet final and brings payments and dossiers in line, idempotently.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.kit import audit, events
from tinhso.kit.db import new_id, utcnow
from tinhso.kit.errors import Conflict, NotFound
from tinhso.procedures.models import Dossier, Payment

FINAL = ("paid", "failed", "refunded")


class PaymentProvider(Protocol):
    name: str

    def create(self, reference: str, amount_vnd: int, description: str) -> str: ...
    def status(self, provider_ref: str) -> str: ...
    def refund(self, provider_ref: str) -> str: ...


@dataclass
class NationalPaymentPlatformTestDouble:
    """TEST DOUBLE of the national payment platform: it keeps its own ledger in memory.

    `settle(ref, "paid" | "failed")` plays the payer completing or abandoning the payment on the platform.
    """

    name: str = "dvcqg-payment-test-double"
    ledger: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def create(self, reference: str, amount_vnd: int, description: str) -> str:
        ref = f"PAY{new_id()[:16].upper()}"
        with self._lock:
            self.ledger[ref] = {"reference": reference, "amount": amount_vnd, "status": "pending"}
        return ref

    def settle(self, provider_ref: str, status: str) -> None:
        with self._lock:
            if provider_ref not in self.ledger:
                raise NotFound("payment_not_found", "Payment {ref} not found", ref=provider_ref)
            self.ledger[provider_ref]["status"] = status

    def status(self, provider_ref: str) -> str:
        with self._lock:
            return str(self.ledger.get(provider_ref, {}).get("status", "unknown"))

    def refund(self, provider_ref: str) -> str:
        with self._lock:
            entry = self.ledger.get(provider_ref)
            if entry is None or entry["status"] != "paid":
                return "refund_refused"
            entry["status"] = "refunded"
            return "refunded"


_provider: PaymentProvider = NationalPaymentPlatformTestDouble()


def provider() -> PaymentProvider:
    return _provider


def set_provider(p: PaymentProvider) -> None:
    global _provider
    _provider = p


def start(session: Session, d: Dossier) -> Payment:
    """Open a payment for the dossier's fees (a second call returns the open one: a retry pays once)."""
    if d.fee_total <= 0:
        raise Conflict("no_fee", "This dossier has no fee to pay")
    if d.payment_status == "paid":
        raise Conflict("already_paid", "The fee of this dossier is already paid")
    existing = session.scalar(select(Payment).where(Payment.dossier_id == d.id, Payment.status == "pending"))
    if existing is not None:
        return existing
    p = provider()
    ref = p.create(d.code, d.fee_total, f"Phí, lệ phí hồ sơ {d.code}")
    pay = Payment(
        dossier_id=d.id, provider=p.name, provider_ref=ref, amount_vnd=d.fee_total, status="pending"
    )
    session.add(pay)
    session.flush()
    audit.record(
        session,
        "procedures.payment.start",
        object_type="dossier",
        object_id=d.code,
        detail={"provider_ref": ref, "amount": d.fee_total},
    )
    return pay


def _apply(session: Session, pay: Payment, status: str) -> bool:
    if status == pay.status or status not in FINAL:
        return False
    pay.status = status
    pay.reconciled_at = utcnow()
    d = session.get(Dossier, pay.dossier_id)
    assert d is not None
    from sqlalchemy import update

    values: dict[str, Any] = {"payment_status": status}
    if status == "paid":
        values["paid_online"] = 1 if d.channel == 2 else 0
    if status == "refunded":
        values["paid_online"] = 0
    session.execute(update(Dossier).where(Dossier.id == d.id).values(**values))
    audit.record(
        session,
        f"procedures.payment.{status}",
        object_type="dossier",
        object_id=d.code,
        detail={"provider_ref": pay.provider_ref},
    )
    events.publish(
        session,
        f"procedures.payment.{status}",
        {"code": d.code, "amount_vnd": pay.amount_vnd, "provider_ref": pay.provider_ref},
        key=d.code,
    )
    return True


def reconcile(session: Session, dossier_id: str | None = None) -> dict[str, int]:
    """Ask the provider about pending and paid payments; record paid, failed and refunded outcomes."""
    p = provider()
    stmt = select(Payment).where(Payment.provider == p.name, Payment.status.in_(("pending", "paid")))
    if dossier_id:
        stmt = stmt.where(Payment.dossier_id == dossier_id)
    report = {"checked": 0, "paid": 0, "failed": 0, "refunded": 0, "unchanged": 0, "unknown": 0}
    for pay in session.scalars(stmt):
        report["checked"] += 1
        status = p.status(pay.provider_ref)
        if status == "unknown":
            report["unknown"] += 1
        elif _apply(session, pay, status):
            report[status] += 1
        else:
            report["unchanged"] += 1
    return report


def refund(session: Session, d: Dossier) -> Payment:
    pay = session.scalar(select(Payment).where(Payment.dossier_id == d.id, Payment.status == "paid"))
    if pay is None:
        raise Conflict("nothing_to_refund", "This dossier has no paid fee")
    provider().refund(pay.provider_ref)
    reconcile(session, d.id)
    return pay
