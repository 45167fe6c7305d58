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
