"""Per-device flood control: a token bucket of readings per device, kept in the database so that every
process ingesting (API processes, `tinhso worker`, each MQTT subscriber of the shared subscription) draws from
the same bucket.

One statement takes tokens atomically (`INSERT … ON CONFLICT DO UPDATE … WHERE enough … RETURNING`, the same
on SQLite and PostgreSQL); on PostgreSQL the bucket's row stays locked until the ingesting transaction ends,
so two processes cannot both spend the last tokens, and a refused or rolled-back batch spends nothing.
Buckets are taken in device order, so concurrent batches cannot deadlock on them.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import case, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tinhso.environment.config import env_settings
from tinhso.environment.models import RateBucket
from tinhso.kit.errors import TooManyRequests

if TYPE_CHECKING:
    from tinhso.environment.ingest import DeviceContext


def take(
    session: Session,
    device_id: str,
    n: int,
    *,
    rate: float | None = None,
    burst: float | None = None,
    now: float | None = None,
) -> float:
    """Take n tokens from a device's bucket; returns 0 when allowed, else the seconds to wait."""
    settings = env_settings()
    rate = rate or settings.rate_per_second
    burst = burst or settings.rate_burst
    now = time.time() if now is None else now
    if n > burst:
        return (n - burst) / rate
    refill = RateBucket.tokens + (literal(now) - RateBucket.at) * literal(rate)
    available = case((refill > literal(burst), literal(burst)), else_=refill)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(RateBucket).values(device_id=device_id, tokens=burst - n, at=now)
    upsert = stmt.on_conflict_do_update(
        index_elements=["device_id"],
        set_={"tokens": available - literal(n), "at": literal(now)},
        where=available >= literal(n),
    ).returning(RateBucket.tokens)
    if session.execute(upsert).first() is not None:
        return 0.0
    row = session.execute(
        select(RateBucket.tokens, RateBucket.at).where(RateBucket.device_id == device_id)
    ).first()
    have = burst if row is None else min(burst, row.tokens + max(0.0, now - row.at) * rate)
    return max((n - have) / rate, 0.001)


def rate_limited(wait: float) -> TooManyRequests:
    err = TooManyRequests("device_rate_limited", "Too many readings from this device; slow down")
    err.headers = {"Retry-After": str(max(1, int(wait + 0.999)))}  # type: ignore[attr-defined]
    return err


def check(session: Session, ctx: DeviceContext, n: int) -> None:
    """Refuse (429 `device_rate_limited`, with Retry-After) when the device has spent its bucket."""
    wait = take(session, ctx.device_id, n)
    if wait > 0:
        raise rate_limited(wait)


def check_many(session: Session, requests: Sequence[tuple[DeviceContext, int]]) -> list[float]:
    """The waits (0 = allowed) of many messages: one statement per device when its whole share fits, else one
    per message in arrival order, so a flooding device loses its excess and no other device is touched."""
    waits = [0.0] * len(requests)
    by_device: dict[str, list[int]] = defaultdict(list)
    for i, (ctx, _) in enumerate(requests):
        by_device[ctx.device_id].append(i)
    for device_id in sorted(by_device):
        positions = by_device[device_id]
        if take(session, device_id, sum(requests[i][1] for i in positions)) == 0:
            continue
        for i in positions:
            waits[i] = take(session, device_id, requests[i][1])
    return waits
