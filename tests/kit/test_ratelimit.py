"""Request rate limits: budgets per client address and per credential, 429 with Retry-After, shared counters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tinhso.app import create_app
from tinhso.kit.db import Database
from tinhso.kit.ratelimit import Budget, DatabaseLimiter, MemoryLimiter, RateCounter, rate_limit_settings
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


def test_a_longer_budget_outlives_the_purge_of_shorter_windows(db) -> None:  # noqa: ANN001
    misses = Budget("test.misses", 2, 600)  # a module's budget beside the 60-second per-route windows
    now = 1_800_000_000.0  # the start of a 600-second window
    memory, database = MemoryLimiter(), DatabaseLimiter(Database(db.engine))
    database.PURGE_EVERY = 1  # purge old windows at every count
    for limiter in (memory, database):
        key = misses.counter(f"ip:{type(limiter).__name__}")
        assert [limiter.hit(key, 2, 600, now=now + i) for i in range(2)] == [0.0, 0.0]
        assert limiter.spent(key, 2, 600, now=now + 2) == pytest.approx(598.0)
        # Minutes later a per-route count opens a new 60-second window and forgets the old ones ...
        assert limiter.hit("ip:10.0.0.9", 5, 60, now=now + 300) == 0.0
        # ... but not the budget's window, which has not ended.
        assert limiter.spent(key, 2, 600, now=now + 301) == pytest.approx(299.0)
        assert limiter.hit(key, 2, 600, now=now + 301) == pytest.approx(299.0)
        assert limiter.spent(key, 2, 600, now=now + 600) == 0.0  # the next window
    if database.engine is not db.engine:
        database.engine.dispose()


def test_budget_counts_apart_from_the_route_limits_and_spent_does_not_count(db, small_budgets) -> None:  # noqa: ANN001
    lookups = Budget("test.lookups", 3, 60)
    now = 1_800_000_000.0
    assert lookups.spent(db, "ip:10.0.0.1", now=now) == 0.0
    assert [lookups.take(db, "ip:10.0.0.1", now=now) for _ in range(3)] == [0.0] * 3
    assert lookups.spent(db, "ip:10.0.0.1", now=now + 10) == pytest.approx(50.0)
    assert lookups.take(db, "ip:10.0.0.1", now=now + 10) == pytest.approx(50.0)
    assert lookups.take(db, "ip:10.0.0.2", now=now) == 0.0  # another caller
    # Its counters are not the per-route ones of the same address.
    from tinhso.kit.ratelimit import limiter_for

    assert limiter_for(db).hit("ip:10.0.0.1", 1, 60, now=now) == 0.0
    with pytest.raises(ValueError):
        Budget("test.too_long", 1, 86_400)
    long_key = "x" * 200
    assert len(lookups.counter(long_key)) <= 80 and lookups.counter(long_key) != lookups.counter("y" * 200)


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


def test_the_operator_finds_every_limit_setting_in_the_example_environment_and_the_guide() -> None:
    import re
    from pathlib import Path

    from tinhso.kit.ratelimit import RateLimitSettings

    root = Path(__file__).resolve().parents[2]
    example = (root / "deploy/systemd/tinhso.env.example").read_text(encoding="utf-8")
    guide = (root / "docs/operations.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#?(TINHSO_\w+)=", example, re.MULTILINE))
    names = {
        "TINHSO_REDIS_URL" if name == "redis_url" else f"TINHSO_RATE_LIMIT_{name.upper()}"
        for name in RateLimitSettings.model_fields
    }
    assert names <= listed, names - listed
    assert all(f"`{name}`" in guide for name in names), [n for n in names if f"`{n}`" not in guide]
