"""Per-application state of the hub's data plane: the upstream connection pool, short-lived caches,
rate-limit buckets. Nothing here is authoritative: every cache is refilled from the database."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from tinhso.exchange.ids import local_instance

# One INFO line per upstream request would cost more than the rest of the hot path; the message log has it all.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

K = TypeVar("K")
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    """A small LRU cache whose entries expire after `ttl` seconds."""

    def __init__(self, ttl: float, size: int = 10_000):
        self.ttl = ttl
        self.size = size
        self._data: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, load: Callable[[], V], ttl: float | None = None) -> V:
        now = time.monotonic()
        with self._lock:
            hit = self._data.get(key)
            if hit is not None and hit[0] > now:
                self._data.move_to_end(key)
                return hit[1]
        value = load()
        with self._lock:
            self._data[key] = (now + (ttl if ttl is not None else self.ttl), value)
            if len(self._data) > self.size:
                self._data.popitem(last=False)
        return value

    def peek(self, key: K) -> V | None:
        with self._lock:
            hit = self._data.get(key)
            return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    def put(self, key: K, value: V, ttl: float | None = None) -> None:
        with self._lock:
            self._data[key] = (time.monotonic() + (ttl if ttl is not None else self.ttl), value)
            if len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class RateLimiter:
    """Token buckets per (client, service): `rate` calls per minute, bursts up to a tenth of a minute's worth.

    Policy: local to the process and fail-open on nothing (no external store can fail); with N processes
    behind a load balancer the effective limit is up to N × rate."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: tuple[str, str], per_minute: int) -> float:
        """0 if allowed, else the seconds to wait."""
        rate = per_minute / 60.0
        capacity = max(1.0, per_minute / 10.0)
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / rate

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()


@dataclass
class Runtime:
    instance: str = field(default_factory=local_instance)
    http: httpx.AsyncClient | None = None
    tokens: TTLCache[str, Any] = field(default_factory=lambda: TTLCache(60.0))
    systems: TTLCache[Any, Any] = field(default_factory=lambda: TTLCache(10.0))
    services: TTLCache[Any, Any] = field(default_factory=lambda: TTLCache(5.0))
    grants: TTLCache[Any, Any] = field(default_factory=lambda: TTLCache(5.0))
    peers: TTLCache[Any, Any] = field(default_factory=lambda: TTLCache(10.0))
    seen_jti: TTLCache[str, bool] = field(default_factory=lambda: TTLCache(120.0, 100_000))
    limiter: RateLimiter = field(default_factory=RateLimiter)
    writer: Any = None
    _loop: Any = None

    def client(self) -> httpx.AsyncClient:
        """The upstream connection pool of the running event loop (one per loop: pools cannot cross loops)."""
        loop = asyncio.get_running_loop()
        if self.http is None or self._loop is not loop:
            self.http = httpx.AsyncClient(
                follow_redirects=False,
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=50, keepalive_expiry=30),
                timeout=httpx.Timeout(30.0),
                trust_env=False,
            )
            self._loop = loop
        return self.http

    def invalidate(self) -> None:
        """Forget cached rights and services (after a revocation or change in this process)."""
        self.grants.clear()
        self.services.clear()
        self.peers.clear()

    def log_writer(self, db: Any) -> Any:
        if self.writer is None:
            from tinhso.exchange.msglog import Writer

            self.writer = Writer(db)
        return self.writer

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.http is not None and self._loop is asyncio.get_running_loop():
            await self.http.aclose()
        self.http = None


_by_app: dict[int, Runtime] = {}


def of(app: Any) -> Runtime:
    rt = getattr(app.state, "exchange", None)
    if rt is None:
        rt = Runtime(instance=getattr(app.state, "exchange_instance", None) or local_instance())
        app.state.exchange = rt
    return rt
