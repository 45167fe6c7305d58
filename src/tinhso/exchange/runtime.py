"""Per-application state of the hub's data plane: the upstream connection pools, the in-memory copies of
grants, services and peers, rate-limit buckets, the message-log writer.

Nothing here is authoritative. Every call reads one row (`exchange_config_stamp`, with the caller's
credential and system in the same statement): when another process or request changed a grant, a service
or a peer, the stamp differs and every copy is dropped before the call is admitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import aiohttp

from tinhso.exchange.ids import local_instance
from tinhso.kit.db import Database

K = TypeVar("K")
V = TypeVar("V")
MAX_ENTRIES = 10_000

# One statement per call: the configuration stamp, whether the credential is live, the system's codes.
CHECK = (
    "SELECT (SELECT stamp FROM exchange_config_stamp WHERE id = 1),"
    " (SELECT count(*) FROM identity_client_credential WHERE id = {cred} AND revoked_at IS NULL),"
    " (SELECT agency_code FROM identity_system WHERE id = {sys} AND active),"
    " (SELECT code FROM identity_system WHERE id = {sys} AND active)"
)
CHECK_SQLITE = CHECK.format(cred=":cred", sys=":sys")
CHECK_PG = CHECK.format(cred="%(cred)s", sys="%(sys)s")


class TTLCache(Generic[K, V]):
    """A small LRU cache whose entries expire after `ttl` seconds (tokens, replayed hub-token ids)."""

    def __init__(self, ttl: float, size: int = MAX_ENTRIES):
        self.ttl = ttl
        self.size = size
        self._data: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, load: Callable[[], V], ttl: float | None = None) -> V:
        hit = self.peek(key)
        if hit is not None:
            return hit
        value = load()
        self.put(key, value, ttl)
        return value

    def peek(self, key: K) -> V | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is not None and hit[0] > time.monotonic():
                self._data.move_to_end(key)
                return hit[1]
            return None

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
class Checked:
    """What the per-call statement found."""

    stamp: str | None
    credential_live: bool
    system: tuple[str, str] | None  # (agency code, system code) of an active system


@dataclass
class Runtime:
    instance: str = field(default_factory=local_instance)
    stamp: str | None = None  # the configuration stamp the copies below belong to
    tokens: TTLCache[str, Any] = field(default_factory=lambda: TTLCache(60.0))
    services: dict[Any, Any] = field(default_factory=dict)
    grants: dict[Any, Any] = field(default_factory=dict)
    peers: dict[str, Any] = field(default_factory=dict)
    seen_jti: TTLCache[str, bool] = field(default_factory=lambda: TTLCache(120.0, 100_000))
    limiter: RateLimiter = field(default_factory=RateLimiter)
    writer: Any = None
    _sessions: dict[Any, aiohttp.ClientSession] = field(default_factory=dict)
    _local: threading.local = field(default_factory=threading.local)
    _connections: list[Any] = field(default_factory=list)
    _aconns: dict[Any, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------ configuration copies

    def invalidate(self) -> None:
        """Drop every copy (after a change in this process; other processes see the new stamp)."""
        self.services.clear()
        self.grants.clear()
        self.peers.clear()

    def _connection(self, db: Database) -> Any:
        """A driver connection of this thread for the per-call statement (outside the pool: no checkout,
        no transaction bookkeeping; autocommit, so each statement reads the latest committed state)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            url = db.engine.url
            if url.get_backend_name() == "sqlite":
                conn = sqlite3.connect(url.database or "", isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA busy_timeout=30000")
            else:
                import psycopg

                dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
                conn = psycopg.connect(dsn, autocommit=True)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _query(self, db: Database, cred: str | None, system: str | None) -> Checked:
        sql = CHECK_SQLITE if db.dialect == "sqlite" else CHECK_PG
        params = {"cred": cred or "", "sys": system or ""}
        try:
            row = self._connection(db).execute(sql, params).fetchone()
        except Exception:
            self._forget()  # a broken connection: the next call opens a new one
            raise
        return _checked(row)

    async def _aquery(self, db: Database, cred: str | None, system: str | None) -> Checked:
        """PostgreSQL: the same statement on an async driver connection of this event loop (no thread hop; the
        driver queues concurrent calls on it, each a primary-key read of a few microseconds in the server)."""
        loop = asyncio.get_running_loop()
        conn = self._aconns.get(loop)
        if conn is None or conn.closed:
            import psycopg

            dsn = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
            for other in [lp for lp in self._aconns if lp.is_closed()]:
                del self._aconns[other]
            self._aconns[loop] = conn
        try:
            # Shielded: a call cancelled meanwhile (its client went away) leaves the statement to finish, so the
            # shared connection is never cut mid-protocol.
            row = await asyncio.shield(_fetch_check(conn, cred, system))
        except asyncio.CancelledError:
            raise
        except Exception:
            self._aconns.pop(loop, None)  # a broken connection: the next call opens a new one
            with contextlib.suppress(Exception):
                await conn.close()
            raise
        assert row is not None
        return _checked(row)

    def _forget(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    async def check(self, db: Database, cred: str | None, system: str | None) -> Checked:
        """Read the stamp (and the caller's credential and system); drop stale copies."""
        if db.dialect == "sqlite":
            # Local file, primary-key reads in WAL mode (readers never wait for writers): microseconds.
            found = self._query(db, cred, system)
        else:
            found = await self._aquery(db, cred, system)
        if found.stamp != self.stamp:
            self.invalidate()
            self.stamp = found.stamp
        return found

    def remember(self, cache: dict[Any, Any], key: Any, value: Any, stamp: str | None) -> None:
        """Keep a copy loaded under `stamp`, unless the stamp changed meanwhile (it would be stale)."""
        if stamp == self.stamp:
            if len(cache) >= MAX_ENTRIES:
                cache.clear()
            cache[key] = value

    # ------------------------------------------------------------ upstream connections

    def client(self) -> aiohttp.ClientSession:
        """The upstream connection pool of the running event loop (pools cannot cross loops)."""
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=200, limit_per_host=100, keepalive_timeout=30),
                cookie_jar=aiohttp.DummyCookieJar(),  # never carry one client's cookies to another's call
                auto_decompress=False,  # bodies pass through as the provider sent them
                trust_env=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
            for other in [lp for lp in self._sessions if lp.is_closed()]:
                del self._sessions[other]
            self._sessions[loop] = session
        return session

    def log_writer(self, db: Database) -> Any:
        if self.writer is None:
            from tinhso.exchange.msglog_writer import Writer

            self.writer = Writer(db)
        return self.writer

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        session = self._sessions.pop(asyncio.get_running_loop(), None)
        if session is not None:
            await session.close()
        aconn = self._aconns.pop(asyncio.get_running_loop(), None)
        if aconn is not None:
            with contextlib.suppress(Exception):
                await aconn.close()
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(Exception):
                conn.close()
        self._local = threading.local()


def _checked(row: Any) -> Checked:
    """The per-call statement's row: stamp, live credential count, the system's agency and code."""
    found = (row[2], row[3]) if row[2] is not None and row[3] is not None else None
    return Checked(row[0], bool(row[1]), found)


async def _fetch_check(conn: Any, cred: str | None, system: str | None) -> Any:
    cur = await conn.execute(CHECK_PG, {"cred": cred or "", "sys": system or ""})
    return await cur.fetchone()


def of(app: Any) -> Runtime:
    rt = getattr(app.state, "exchange", None)
    if rt is None:
        rt = Runtime(instance=getattr(app.state, "exchange_instance", None) or local_instance())
        app.state.exchange = rt
    return rt
