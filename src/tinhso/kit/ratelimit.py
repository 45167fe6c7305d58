"""Request rate limits shared by every API process: a counter per caller and fixed time window.

Every request counts against its client address; a request carrying a credential (bearer token, API token or
session cookie) also counts against that credential. Over budget: 429 `rate_limited` with Retry-After.

Where the counters live (TINHSO_RATE_LIMIT_BACKEND, default `auto`):
- `redis`: when TINHSO_REDIS_URL is set (`auto` picks it then), `INCR` + `EXPIRE` per key, one round trip;
- `database`: a row per key and window in `kit_rate_counter`, one upsert per count (`INSERT … ON CONFLICT DO
  UPDATE … RETURNING`, the same on SQLite and PostgreSQL), so every API process of a deployment draws from
  the same budget; `auto` picks it on PostgreSQL;
- `memory`: in the process; `auto` picks it on SQLite (an embedded deployment is one process).
If the database cannot be reached the request is let through (the limiter never turns an outage into errors).

Modules with their own, stricter limits keep them beside these: a `Budget` (a name, a limit and a window,
e.g. the public status lookups by dossier code, the assistant's questions) counts on the same limiter under
`<name>:<key>`, so its counters are shared by every API process and survive a restart of one. Device readings
(environment) and the exchange gateway's per-service budgets have their own buckets.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import anyio
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import BigInteger, Integer, String, TextClause, create_engine, delete, select, text
from sqlalchemy.orm import Mapped, mapped_column
from starlette.types import ASGIApp, Receive, Scope, Send

from tinhso.kit.db import Base, Database
from tinhso.kit.errors import TooManyRequests
from tinhso.kit.middleware import send_error

log = logging.getLogger("tinhso.ratelimit")

CREDENTIAL_COOKIES = (b"tinhso_session",)
MAX_WINDOW = 3600  # seconds; the longest window of any budget
# Windows of the modules' budgets: old windows are purged only once the longest of them has passed too.
_budget_windows: set[int] = set()


class RateLimitSettings(BaseSettings):
    """TINHSO_RATE_LIMIT_*: budgets per window (requests), for every route except health probes and assets."""

    model_config = SettingsConfigDict(env_prefix="TINHSO_RATE_LIMIT_", env_file=".env", extra="ignore")

    enabled: bool = True
    window_seconds: int = Field(default=60, ge=1, le=3600)
    per_credential: int = Field(default=1200, ge=1)  # a person's session or token, a system's token
    per_address: int = Field(default=3000, ge=1)  # every request from one client address
    backend: Literal["auto", "memory", "database", "redis"] = "auto"
    redis_url: str = Field(default="", validation_alias="TINHSO_REDIS_URL")
    exempt: tuple[str, ...] = ("/static/", "/healthz", "/readyz", "/metrics")


@lru_cache
def rate_limit_settings() -> RateLimitSettings:
    return RateLimitSettings()


class RateCounter(Base):
    __tablename__ = "kit_rate_counter"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class Limiter:
    """Fixed-window counters: `hit` counts one request and says how long to wait when over the limit."""

    blocking = False

    def hit(self, key: str, limit: int, window: int, now: float | None = None) -> float:
        """Count one request for `key`; 0 when within `limit` per `window` seconds, else seconds to wait."""
        now = time.time() if now is None else now
        start = int(now // window) * window
        count = self._incr(key, start, window)
        return 0.0 if count <= limit else max(start + window - now, 0.001)

    def hit_many(self, limits: list[tuple[str, int]], window: int, now: float | None = None) -> float:
        """Count one request against each (key, limit); the longest wait, 0 when every one is within."""
        now = time.time() if now is None else now
        start = int(now // window) * window
        counts = self._incr_many([key for key, _ in limits], start, window)
        over = any(counts[key] > limit for key, limit in limits)
        return max(start + window - now, 0.001) if over else 0.0

    def spent(self, key: str, limit: int, window: int, now: float | None = None) -> float:
        """Without counting: 0 while `key` has fewer than `limit` counts in this window, else seconds to wait."""
        now = time.time() if now is None else now
        start = int(now // window) * window
        return 0.0 if self._count(key, start) < limit else max(start + window - now, 0.001)

    def _incr(self, key: str, start: int, window: int) -> int:
        return self._incr_many([key], start, window)[key]

    def _incr_many(self, keys: list[str], start: int, window: int) -> dict[str, int]:
        return {key: self._incr(key, start, window) for key in keys}

    def _count(self, key: str, start: int) -> int:
        raise NotImplementedError


class MemoryLimiter(Limiter):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int], int] = {}
        self._windows: dict[tuple[str, int], int] = {}  # each counter's own window (budgets differ)
        self._latest = 0

    def _incr(self, key: str, start: int, window: int) -> int:
        with self._lock:
            if start > self._latest:  # a new window: forget each counter older than its previous window
                self._latest = start
                self._windows = {k: w for k, w in self._windows.items() if k[1] >= start - w}
                self._counts = {k: v for k, v in self._counts.items() if k in self._windows}
            count = self._counts.get((key, start), 0) + 1
            self._counts[(key, start)] = count
            self._windows[(key, start)] = window
            return count

    def _count(self, key: str, start: int) -> int:
        with self._lock:
            return self._counts.get((key, start), 0)


class DatabaseLimiter(Limiter):
    """Counters in `kit_rate_counter`, shared by every process using the database."""

    blocking = True
    PURGE_EVERY = 1000

    def __init__(self, db: Database):
        self.db = db
        self._hits = 0
        if db.dialect == "postgresql":
            # Its own small pool in autocommit, commits not waiting for the disk (the counters are disposable):
            # one round trip per request.
            self.engine = create_engine(
                db.engine.url,
                isolation_level="AUTOCOMMIT",
                pool_size=4,
                max_overflow=8,
                connect_args={"options": "-c synchronous_commit=off"},
            )
        else:
            self.engine = db.engine

    def _incr_many(self, keys: list[str], start: int, window: int) -> dict[str, int]:
        # One statement (the same on SQLite and PostgreSQL), one round trip for all the request's keys.
        keys = sorted(set(keys))  # one lock order
        params: dict[str, object] = {"start": start}
        params.update({f"k{i}": key for i, key in enumerate(keys)})
        with self.engine.begin() as conn:
            counts = {key: int(count) for key, count in conn.execute(_upsert(len(keys)), params)}
        self._hits += 1
        if self._hits % self.PURGE_EVERY == 0:
            horizon = max([window, *_budget_windows])  # a budget's window may be longer than this one
            with self.engine.begin() as conn:
                conn.execute(delete(RateCounter).where(RateCounter.window_start < start - horizon))
        return counts

    def _count(self, key: str, start: int) -> int:
        with self.engine.connect() as conn:
            count = conn.execute(
                select(RateCounter.count).where(RateCounter.key == key, RateCounter.window_start == start)
            ).scalar()
        return int(count or 0)


@lru_cache(maxsize=8)
def _upsert(n: int) -> TextClause:
    values = ", ".join(f"(:k{i}, :start, 1)" for i in range(n))
    return text(
        f"INSERT INTO kit_rate_counter (key, window_start, count) VALUES {values} "
        "ON CONFLICT (key, window_start) DO UPDATE SET count = kit_rate_counter.count + 1 "
        "RETURNING key, count"
    )


class RedisLimiter(Limiter):
    """Counters in Redis (`tinhso:rl:<window start>:<key>`, expiring after two windows)."""

    blocking = True

    def __init__(self, url: str):
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)

    def _incr_many(self, keys: list[str], start: int, window: int) -> dict[str, int]:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            name = f"tinhso:rl:{start}:{key}"
            pipe.incr(name)
            pipe.expire(name, 2 * window)
        results = pipe.execute()
        return {key: int(results[2 * i]) for i, key in enumerate(keys)}

    def _count(self, key: str, start: int) -> int:
        return int(self.client.get(f"tinhso:rl:{start}:{key}") or 0)


def limiter_for(db: Database, settings: RateLimitSettings | None = None) -> Limiter:
    """The limiter of a database (one per process and database, so modules and the middleware share it)."""
    settings = settings or rate_limit_settings()
    backend = settings.backend
    if backend == "auto":
        backend = "redis" if settings.redis_url else "memory" if db.dialect == "sqlite" else "database"
    cache = db.__dict__.setdefault("_rate_limiters", {})
    if backend not in cache:
        if backend == "redis":
            cache[backend] = RedisLimiter(settings.redis_url or "redis://127.0.0.1:6379/0")
        else:
            cache[backend] = MemoryLimiter() if backend == "memory" else DatabaseLimiter(db)
    return cache[backend]


def _digest(value: bytes) -> str:
    return hashlib.sha256(value).hexdigest()[:40]


@dataclass(frozen=True)
class Budget:
    """A module's own budget: `limit` uses per `window` seconds for each key (a client address, a person), on
    the deployment's shared counters. Not switched off by TINHSO_RATE_LIMIT_ENABLED (that is for the
    per-route budgets); like them, it lets the use through when the counters cannot be reached."""

    name: str
    limit: int
    window: int

    def __post_init__(self) -> None:
        if self.limit < 1 or not 1 <= self.window <= MAX_WINDOW:
            raise ValueError(f"budget {self.name}: limit >= 1 and 1 <= window <= {MAX_WINDOW} seconds")
        _budget_windows.add(self.window)

    def counter(self, key: str) -> str:
        full = f"{self.name}:{key}"
        return full if len(full) <= 80 else f"{self.name}:{_digest(key.encode())}"

    def take(self, db: Database, key: str, now: float | None = None) -> float:
        """Count one use of `key`; 0 when within the budget, else the seconds to wait."""
        try:
            return limiter_for(db).hit(self.counter(key), self.limit, self.window, now)
        except Exception:  # an outage of the counters must not turn into refusals
            log.warning("rate limiter unavailable; %s let through", self.name, exc_info=True)
            return 0.0

    def spent(self, db: Database, key: str, now: float | None = None) -> float:
        """Without counting: 0 while `key` has uses left in this window, else the seconds to wait."""
        try:
            return limiter_for(db).spent(self.counter(key), self.limit, self.window, now)
        except Exception:
            log.warning("rate limiter unavailable; %s let through", self.name, exc_info=True)
            return 0.0


def too_many(code: str, message: str, wait: float) -> TooManyRequests:
    """The typed 429 of a module's budget, with Retry-After (whole seconds, at least 1)."""
    exc = TooManyRequests(code, message)
    exc.headers = {"Retry-After": str(max(1, math.ceil(wait)))}  # type: ignore[attr-defined]
    return exc


def caller_keys(scope: Scope) -> list[tuple[str, str]]:
    """(kind, key) pairs a request counts against: its address, and its credential if it carries one."""
    client = scope.get("client")
    keys = [("address", f"ip:{client[0] if client else 'unknown'}")]
    credential = b""
    for name, value in scope.get("headers") or []:
        if name == b"authorization":
            credential = value
            break
        if name == b"cookie" and not credential:
            for part in value.split(b";"):
                cname, _, cvalue = part.strip().partition(b"=")
                if cname in CREDENTIAL_COOKIES and cvalue:
                    credential = cvalue
    if credential:
        keys.append(("credential", f"cred:{_digest(credential)}"))
    return keys


class RateLimitMiddleware:
    """Count every request (but health probes and static assets) and refuse over-budget ones with 429."""

    def __init__(
        self,
        app: ASGIApp,
        db: Database,
        settings: RateLimitSettings | None = None,
        exempt_prefixes: Iterable[str] = (),
    ):
        self.app = app
        self.db = db
        self.settings = settings or rate_limit_settings()
        self.exempt = tuple(self.settings.exempt) + tuple(exempt_prefixes)
        self.budgets = {"address": self.settings.per_address, "credential": self.settings.per_credential}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.settings.enabled or scope["path"].startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        limiter = limiter_for(self.db, self.settings)
        keys = caller_keys(scope)
        if limiter.blocking:
            wait = await anyio.to_thread.run_sync(self._take, limiter, keys)
        else:
            wait = self._take(limiter, keys)
        if wait > 0:
            await _too_many(scope, send, wait)
            return
        await self.app(scope, receive, send)

    def _take(self, limiter: Limiter, keys: list[tuple[str, str]]) -> float:
        window = self.settings.window_seconds
        try:
            return limiter.hit_many([(key, self.budgets[kind]) for kind, key in keys], window)
        except Exception:  # the limiter must not turn a database outage into refusals
            log.warning("rate limiter unavailable; request let through", exc_info=True)
            return 0.0


async def _too_many(scope: Scope, send: Send, wait: float) -> None:
    retry = [(b"retry-after", str(math.ceil(wait)).encode())]
    await send_error(scope, send, 429, "rate_limited", "Too many requests; try again later", retry)
