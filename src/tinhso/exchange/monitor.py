"""Operational monitoring: traffic, errors, latency percentiles and bytes per service and client (from the
message log), periodic health probes of each provider's upstream, and the KPI engine's measures."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tinhso.exchange import metrics
from tinhso.exchange.models import MessageLog, Probe, Service
from tinhso.kit.db import Database, utcnow

MAX_ROWS = 200_000


def _pct(sorted_values: list[float], p: float) -> float | None:
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return round(sorted_values[k], 2)


def stats(
    session: Session,
    since: datetime,
    until: datetime,
    agency_code: str | None = None,
    service: str | None = None,
) -> dict[str, Any]:
    """Per (service, client): calls, errors, p50/p95/p99 latency (ms), bytes in/out; plus availability."""
    stmt = select(
        MessageLog.service,
        MessageLog.client,
        MessageLog.status,
        MessageLog.error_type,
        MessageLog.duration_ms,
        MessageLog.request_bytes,
        MessageLog.response_bytes,
        MessageLog.provider_agency_code,
    ).where(MessageLog.at >= since, MessageLog.at < until)
    if agency_code:
        stmt = stmt.where(MessageLog.provider_agency_code == agency_code)
    if service:
        stmt = stmt.where(MessageLog.service.startswith(service, autoescape=True))
    groups: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"calls": 0, "errors": 0, "durations": [], "bytes_in": 0, "bytes_out": 0}
    )
    for row in session.execute(stmt.limit(MAX_ROWS)):
        g = groups[(row.service, row.client)]
        g["calls"] += 1
        g["errors"] += 1 if (row.error_type or row.status >= 500) else 0
        g["durations"].append(row.duration_ms)
        g["bytes_in"] += row.request_bytes
        g["bytes_out"] += row.response_bytes
    items = []
    total_calls = total_errors = 0
    for (svc, client), g in sorted(groups.items()):
        d = sorted(g.pop("durations"))
        total_calls += g["calls"]
        total_errors += g["errors"]
        items.append(
            {
                "service": svc,
                "client": client,
                **g,
                "error_rate": round(g["errors"] / g["calls"], 4),
                "latency_ms": {"p50": _pct(d, 50), "p95": _pct(d, 95), "p99": _pct(d, 99)},
            }
        )
    providers = []
    q = (
        select(Service)
        .where(Service.state.in_(("published", "deprecated")))
        .order_by(Service.agency_code, Service.code)
    )
    if agency_code:
        q = q.where(Service.agency_code == agency_code)
    for srv in session.scalars(q):
        window = (Probe.service_id == srv.id, Probe.at >= since, Probe.at < until)
        total = session.scalar(select(func.count()).select_from(Probe).where(*window)) or 0
        ok = session.scalar(select(func.count()).select_from(Probe).where(*window, Probe.ok.is_(True))) or 0
        providers.append(
            {
                "service_id": srv.id,
                "service": f"{srv.agency_code}/{srv.system_code}/{srv.code}/{srv.version}",
                "available": srv.available,
                "last_probe_at": srv.last_probe_at,
                "last_success_at": srv.last_success_at,
                "availability": round((ok or 0) / total, 4) if total else None,
            }
        )
    return {
        "since": since,
        "until": until,
        "calls": total_calls,
        "errors": total_errors,
        "error_rate": round(total_errors / total_calls, 4) if total_calls else None,
        "items": items,
        "providers": providers,
    }


def probe_all(db: Database, http: httpx.Client) -> int:
    """Probe each published service's upstream once; returns how many answered."""
    with db.transaction(write=False) as s:
        targets = [
            (r.id, r.upstream_url + (r.health_path or ""), r.agency_code, r.code)
            for r in s.scalars(select(Service).where(Service.state.in_(("published", "deprecated"))))
        ]
    up = 0
    for service_id, url, agency, code in targets:
        t = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            status = http.get(url, timeout=5.0).status_code
            ok = status < 500
        except httpx.HTTPError as exc:
            ok, error = False, type(exc).__name__
        latency = (time.perf_counter() - t) * 1000
        now = utcnow()
        with db.transaction() as s:
            svc = s.get(Service, service_id)
            if svc is None:
                continue
            s.add(Probe(service_id=service_id, at=now, ok=ok, status=status, latency_ms=latency, error=error))
            svc.available, svc.last_probe_at = ok, now
            if ok:
                svc.last_success_at = now
        metrics.AVAILABLE.labels(f"{agency}/{code}").set(1 if ok else 0)
        up += ok
    return up


def purge_probes(session: Session, keep_days: int = 30) -> None:
    from sqlalchemy import delete

    session.execute(delete(Probe).where(Probe.at < utcnow() - timedelta(days=keep_days)))


# ---------------------------------------------------------------- measures for the KPI engine


def _count(session: Session, since: datetime, until: datetime, agency: str | None, errors: bool) -> int:
    stmt = select(func.count()).select_from(MessageLog).where(MessageLog.at >= since, MessageLog.at < until)
    if agency:
        stmt = stmt.where(MessageLog.provider_agency_code == agency)
    if errors:
        stmt = stmt.where((MessageLog.error_type.is_not(None)) | (MessageLog.status >= 500))
    return int(session.scalar(stmt) or 0)


def measure_calls(
    session: Session, since: datetime, until: datetime, agency_code: str | None
) -> float | None:
    return float(_count(session, since, until, agency_code, False))


def measure_error_rate(
    session: Session, since: datetime, until: datetime, agency_code: str | None
) -> float | None:
    total = _count(session, since, until, agency_code, False)
    return _count(session, since, until, agency_code, True) / total if total else None


def measure_availability(
    session: Session, since: datetime, until: datetime, agency_code: str | None
) -> float | None:
    stmt = (
        select(Probe.ok)
        .join(Service, Service.id == Probe.service_id)
        .where(Probe.at >= since, Probe.at < until)
    )
    if agency_code:
        stmt = stmt.where(Service.agency_code == agency_code)
    oks = list(session.scalars(stmt))
    return sum(1 for o in oks if o) / len(oks) if oks else None


def measure_published_services(
    session: Session, since: datetime, until: datetime, agency_code: str | None
) -> float | None:
    stmt = select(func.count()).select_from(Service).where(Service.state == "published")
    if agency_code:
        stmt = stmt.where(Service.agency_code == agency_code)
    return float(session.scalar(stmt) or 0)


def measure_latency_p95(
    session: Session, since: datetime, until: datetime, agency_code: str | None
) -> float | None:
    """95th percentile (nearest rank) of the end-to-end duration, in ms, of the calls that reached a provider
    (refusals by the hub are not latency); `agency_code` = the provider agency."""
    window: list[Any] = [MessageLog.at >= since, MessageLog.at < until, MessageLog.upstream_ms.is_not(None)]
    if agency_code:
        window.append(MessageLog.provider_agency_code == agency_code)
    n = int(session.scalar(select(func.count()).select_from(MessageLog).where(*window)) or 0)
    if not n:
        return None
    rank = max(0, -(-95 * n // 100) - 1)
    value = session.scalar(
        select(MessageLog.duration_ms).where(*window).order_by(MessageLog.duration_ms).offset(rank).limit(1)
    )
    return round(float(value), 2) if value is not None else None
