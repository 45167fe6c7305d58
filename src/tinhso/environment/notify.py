"""Telling the people on duty: an event subscriber sends each raised or escalated alert to the duty roster
through a `Notifier`.

The province's SMS and e-mail gateways are systems outside the platform; until one is connected, the
notifier is `SmsEmailGatewayTestDouble`, a named test double that records what it would send (and the
platform logs every message in `environment_notification` either way).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.environment.models import DutyContact, Notification
from tinhso.kit.db import utcnow
from tinhso.kit.events import Bus, Event
from tinhso.kit.i18n import gettext

log = logging.getLogger("tinhso.environment.notify")


class Notifier(Protocol):
    name: str

    def send(self, channel: str, address: str, body: str) -> None: ...


RECENT = 1000  # messages the test double keeps to show


@dataclass
class SmsEmailGatewayTestDouble:
    """TEST DOUBLE for the province's SMS and e-mail gateways (outside the platform): records, sends nothing.

    It keeps only the most recent messages: a long-running worker would otherwise hold every alert it sent."""

    name: str = "sms-email-test-double"
    sent: deque[tuple[str, str, str]] = field(default_factory=lambda: deque(maxlen=RECENT))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, channel: str, address: str, body: str) -> None:
        with self._lock:
            self.sent.append((channel, address, body))
        log.info("notification (test double)", extra={"channel": channel, "address": address})


notifier: Notifier = SmsEmailGatewayTestDouble()


def set_notifier(n: Notifier) -> None:
    global notifier
    notifier = n


def message(event: Event) -> str:
    p = event.payload
    what = p.get("parameter") or ""
    head = gettext("Environmental alert", "vi")
    if event.topic.endswith("escalated"):
        head = gettext("Escalated environmental alert (level {level})", "vi", level=p.get("level"))
    return f"[{head}] {p.get('station_name')} ({p.get('station_code')}): {p.get('rule')} {what} = {p.get('value')}"


def on_alert(session: Session, event: Event) -> None:
    p = event.payload
    level = int(p.get("level") or 1)
    query = select(DutyContact).where(
        DutyContact.agency_code == p.get("agency_code"), DutyContact.active.is_(True)
    )
    if event.topic.endswith("escalated"):
        query = query.where(DutyContact.level <= level)
    else:
        query = query.where(DutyContact.level == 1)
    body = message(event)
    for contact in session.scalars(query.order_by(DutyContact.level, DutyContact.name)):
        for channel, address in (("sms", contact.phone), ("email", contact.email)):
            if not address:
                continue
            exists = session.scalar(
                select(Notification.id).where(
                    Notification.event_id == event.event_id,
                    Notification.contact_id == contact.id,
                    Notification.channel == channel,
                )
            )
            if exists:
                continue
            notifier.send(channel, address, body)
            session.add(
                Notification(
                    event_id=event.event_id,
                    alert_id=str(p.get("alert_id")),
                    contact_id=contact.id,
                    channel=channel,
                    address=address,
                    body=body,
                    sent_at=utcnow(),
                    provider=notifier.name,
                )
            )
    session.flush()


def subscribe(bus: Bus) -> None:
    bus.subscribe("environment.alert.raised", "environment.notify.raised", on_alert)
    bus.subscribe("environment.alert.escalated", "environment.notify.escalated", on_alert)
