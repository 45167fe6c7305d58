"""Prometheus collectors of the exchange (exposed on /metrics with the platform's own)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

CALLS = Counter(
    "tinhso_exchange_calls_total", "Exchanges through the gateway", ["service", "client", "status"]
)
ERRORS = Counter("tinhso_exchange_errors_total", "Refused or failed exchanges", ["service", "client", "type"])
DURATION = Histogram(
    "tinhso_exchange_duration_seconds",
    "End-to-end duration of exchanges through the gateway",
    ["service"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BYTES = Counter("tinhso_exchange_bytes_total", "Bytes exchanged", ["service", "direction"])
AVAILABLE = Gauge("tinhso_exchange_provider_up", "Last health probe of a provider's upstream", ["service"])
EVENTS = Counter("tinhso_exchange_events_total", "Pub/sub events and deliveries", ["what"])


_CHILDREN: dict[tuple[str, str, int], tuple[Any, Any, Any, Any]] = {}


def observe(rec: Any) -> None:
    """Count one exchange (the labelled children are looked up once per service, client and status)."""
    key = (rec.service, rec.client, rec.status)
    children = _CHILDREN.get(key)
    if children is None:
        if len(_CHILDREN) > 20_000:
            _CHILDREN.clear()
        children = _CHILDREN[key] = (
            CALLS.labels(rec.service, rec.client, str(rec.status)),
            DURATION.labels(rec.service),
            BYTES.labels(rec.service, "in"),
            BYTES.labels(rec.service, "out"),
        )
    calls, duration, bytes_in, bytes_out = children
    calls.inc()
    if rec.error_type:
        ERRORS.labels(rec.service, rec.client, rec.error_type).inc()
    duration.observe(rec.duration_ms / 1000)
    bytes_in.inc(rec.request_bytes)
    bytes_out.inc(rec.response_bytes)
