"""Request rate limits: budgets per client address and per credential, 429 with Retry-After, shared counters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tinhso.app import create_app
from tinhso.kit.db import Database
from tinhso.kit.ratelimit import DatabaseLimiter, MemoryLimiter, RateCounter, rate_limit_settings
from tinhso.settings import get_settings


@pytest.fixture
def small_budgets(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    rate_limit_settings.cache_clear()
    db.__dict__.pop("_rate_limiters", None)  # in-process counters start afresh (earlier tests counted too)
    yield monkeypatch
    monkeypatch.undo()
    rate_limit_settings.cache_clear()


def _client(db: Database, monkeypatch: pytest.MonkeyPatch, **budgets: int) -> TestClient:
    for name, value in budgets.items():
        monkeypatch.setenv(f"TINHSO_RATE_LIMIT_{name.upper()}", str(value))
    rate_limit_settings.cache_clear()
    return TestClient(create_app(get_settings(), db))


def test_address_budget_refuses_with_typed_429_and_retry_after(db, small_budgets) -> None:  # noqa: ANN001
    with _client(db, small_budgets, per_address=3) as client:
        for _ in range(3):
            assert client.get("/api/v1/communes").status_code == 200
        refused = client.get("/api/v1/communes")
        assert refused.status_code == 429
        body = refused.json()
        assert body["code"] == "rate_limited"
        assert body["message"]["vi"] and body["message"]["en"] != body["message"]["vi"]
        assert body["request_id"] == refused.headers["x-request-id"]
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["x-content-type-options"] == "nosniff"
        # Pages count too; health probes do not.
        assert client.get("/").status_code == 429
        assert client.get("/healthz").status_code == 200


def test_credential_budget_is_separate_from_anonymous_callers(db, factory, small_budgets) -> None:  # noqa: ANN001
    official = factory.person(("official",))
    with _client(db, small_budgets, per_credential=2, per_address=100) as client:
        assert client.get("/api/v1/me", headers=official.headers).status_code == 200
        assert client.get("/api/v1/me", headers=official.headers).status_code == 200
        assert client.get("/api/v1/me", headers=official.headers).status_code == 429
        # Same address, no credential: still within the address budget.
        assert client.get("/api/v1/communes").status_code == 200
        # A session cookie is a credential too.
        cookies = {"tinhso_session": "abc"}
        assert client.get("/api/v1/communes", cookies=cookies).status_code == 200
        client.cookies.clear()


def test_disabled_limits_let_everything_through(db, small_budgets) -> None:  # noqa: ANN001
    with _client(db, small_budgets, per_address=1, enabled=0) as client:
        assert all(client.get("/api/v1/communes").status_code == 200 for _ in range(3))


def test_database_counters_are_shared_by_every_process(db) -> None:  # noqa: ANN001
    first, second = DatabaseLimiter(db), DatabaseLimiter(Database(db.engine))  # two processes' limiters
    now = 1_800_000_010.0
    waits = [(first if i % 2 else second).hit("ip:10.0.0.1", 5, 60, now=now) for i in range(5)]
    assert waits == [0.0] * 5
    assert first.hit("ip:10.0.0.1", 5, 60, now=now) == pytest.approx(50.0)
    assert second.hit("ip:10.0.0.1", 5, 60, now=now + 1) == pytest.approx(49.0)
    assert second.hit("ip:10.0.0.2", 5, 60, now=now) == 0.0  # another caller
    assert first.hit("ip:10.0.0.1", 5, 60, now=now + 60) == 0.0  # the next window
    with db.engine.connect() as conn:
        assert conn.execute(select(func.sum(RateCounter.count))).scalar_one() == 9


def test_memory_counters_forget_old_windows() -> None:
    limiter = MemoryLimiter()
    assert limiter.hit("k", 1, 60, now=0.0) == 0.0
    assert limiter.hit("k", 1, 60, now=30.0) == pytest.approx(30.0)
    assert limiter.hit("k", 1, 60, now=600.0) == 0.0
    assert list(limiter._counts) == [("k", 600)]


def test_an_unreachable_counter_store_lets_requests_through() -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from tinhso.kit.db import make_engine
    from tinhso.kit.ratelimit import RateLimitMiddleware, RateLimitSettings

    unreachable = Database(make_engine(url="postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2"))
    inner = Starlette(routes=[Route("/", lambda request: PlainTextResponse("ok"))])
    settings = RateLimitSettings(backend="database", per_address=1, per_credential=1)
    app = RateLimitMiddleware(inner, unreachable, settings)
    with TestClient(app) as client:
        assert [client.get("/").status_code for _ in range(2)] == [200, 200]
    unreachable.dispose()


@pytest.fixture
def redis_url(tmp_path) -> Iterator[str]:  # noqa: ANN001
    """A private Redis server (port from this suite's range), stopped after the test."""
    import shutil
    import subprocess
    import time

    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = 18117
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_redis_counters_are_shared_and_chosen_when_configured(db, redis_url, small_budgets) -> None:  # noqa: ANN001
    from tinhso.kit.ratelimit import RedisLimiter

    first, second = RedisLimiter(redis_url), RedisLimiter(redis_url)  # two processes' limiters
    now = 1_800_000_010.0
    assert [(first if i % 2 else second).hit("ip:10.0.0.1", 3, 60, now=now) for i in range(3)] == [0.0] * 3
    assert first.hit("ip:10.0.0.1", 3, 60, now=now) == pytest.approx(50.0)
    assert second.hit("ip:10.0.0.1", 3, 60, now=now + 60) == 0.0
    assert 0 < first.client.ttl(f"tinhso:rl:{int(now // 60) * 60}:ip:10.0.0.1") <= 120
    # TINHSO_REDIS_URL set: the API counts in Redis.
    small_budgets.setenv("TINHSO_REDIS_URL", redis_url)
    with _client(db, small_budgets, per_address=2) as client:
        assert [client.get("/api/v1/communes").status_code for _ in range(3)] == [200, 200, 429]
    assert any(k.endswith(b"ip:testclient") for k in first.client.scan_iter("tinhso:rl:*"))
