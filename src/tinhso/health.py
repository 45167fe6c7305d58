"""Liveness and readiness, and Prometheus metrics."""

from __future__ import annotations

import hmac
import ipaddress
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from tinhso.kit.errors import Forbidden
from tinhso.kit.events import outbox_lag

router = APIRouter(tags=["health"])
STARTED = time.time()


@router.get("/healthz", operation_id="healthz", summary="The process is up")
def healthz() -> dict[str, Any]:
    return {"status": "ok", "uptime_seconds": round(time.time() - STARTED, 1)}


def _migration_state(db: Any) -> dict[str, Any]:
    from tinhso.migrate import all_revisions, applied_revisions, contract_revisions, head_revisions

    with db.engine.connect() as conn:
        applied, ahead = applied_revisions(conn)
    pending = all_revisions() - applied
    contract = contract_revisions()
    missing = sorted(pending - contract)
    # Upgrades expand, migrate, contract: a database ahead of this code (a newer release's expand migrations)
    # still serves it, and this code does not wait for its own contract migrations. Stay ready in both cases,
    # so a load balancer does not take processes out in the middle of an upgrade.
    return {
        "status": "fail" if missing and not ahead else "ok",
        "heads": sorted(head_revisions()),
        "missing": missing,
        "contract_pending": sorted(pending & contract),
        "ahead": sorted(ahead),
    }


@router.get("/readyz", operation_id="readyz", summary="Database reachable, migrations current, outbox lag")
def readyz(request: Request) -> JSONResponse:
    db = request.app.state.db
    checks: dict[str, Any] = {}
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = {"status": "ok", "dialect": db.dialect}
    except Exception as exc:  # noqa: BLE001 - readiness reports every failure
        checks["database"] = {"status": "fail", "error": type(exc).__name__}
    if checks["database"]["status"] == "ok":
        try:
            checks["migrations"] = _migration_state(db)
        except Exception as exc:  # noqa: BLE001
            checks["migrations"] = {"status": "fail", "error": type(exc).__name__}
        try:
            with db.transaction(write=False) as session:
                lag = outbox_lag(session)
            checks["outbox"] = {"status": "ok" if lag["oldest_age_seconds"] < 300 else "warn", **lag}
        except Exception as exc:  # noqa: BLE001
            checks["outbox"] = {"status": "fail", "error": type(exc).__name__}
    ready = all(c.get("status") in ("ok", "warn") for c in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "fail", "checks": checks}, status_code=200 if ready else 503
    )


@router.get("/metrics", operation_id="metrics", summary="Prometheus metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """For the operator's monitoring only: who calls which service how often is agency data, so the scrape comes
    from a monitoring network (`TINHSO_METRICS_NETWORKS`, loopback by default) or carries `TINHSO_METRICS_TOKEN`."""
    if not _may_scrape(request):
        raise Forbidden(
            "metrics_forbidden",
            "Metrics are served to the monitoring network or with the metrics token only",
        )
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _may_scrape(request: Request) -> bool:
    settings = request.app.state.settings
    token = settings.metrics_token
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in settings.metrics_networks)
