"""The public status lookup's budgets are the deployment's, not one process's: two API processes behind the
proxy (two apps, each with its own limiter, on one database or one Redis) draw from the same budget."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from fastapi.testclient import TestClient

from tinhso.app import create_app
from tinhso.kit.db import Database
from tinhso.kit.ratelimit import DatabaseLimiter, rate_limit_settings
from tinhso.settings import get_settings

from .conftest import LLTP, lltp_form, within_one_window

API = "/api/v1/procedures"
UNKNOWN = "000.00.05.H41-260101-{:04d}"

Processes = Callable[..., tuple[TestClient, TestClient]]


@pytest.fixture
def two_processes(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Processes]:
    """Start two API processes of one deployment (settings as environment variables)."""
    with ExitStack() as stack:
        databases: list[Database] = []

        def start(**env: str) -> tuple[TestClient, TestClient]:
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            rate_limit_settings.cache_clear()
            databases.extend([Database(db.engine), Database(db.engine)])
            first, second = (
                stack.enter_context(TestClient(create_app(get_settings(), d))) for d in databases
            )
            return first, second

        yield start
    for d in databases:  # the limiters' own connection pools (PostgreSQL)
        for limiter in d.__dict__.get("_rate_limiters", {}).values():
            if isinstance(limiter, DatabaseLimiter) and limiter.engine is not db.engine:
                limiter.engine.dispose()
    monkeypatch.undo()
    rate_limit_settings.cache_clear()


def _known_code(client: TestClient, factory) -> str:  # noqa: ANN001
    citizen = factory.citizen()
    body = {"procedure_code": LLTP, "form": lltp_form(citizen.principal.personal_id)}
    r = client.post(f"{API}/dossiers", json=body, headers=citizen.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["code"])


def _guessing_is_shared(first: TestClient, second: TestClient, known: str) -> None:
    within_one_window(600)
    # Ten unknown codes, half through each process: all answered ...
    assert [
        (first, second)[i % 2].get(f"{API}/status/{UNKNOWN.format(i)}").status_code for i in range(10)
    ] == [404] * 10
    # ... and then neither process answers that address any more, not even for a code that exists.
    for client in (first, second):
        refused = client.get(f"{API}/status/{known}")
        assert refused.status_code == 429
        body = refused.json()
        assert body["code"] == "lookup_rate_limited"
        assert body["message"]["en"] == "Too many status lookups; try again later"
        assert body["message"]["vi"] and body["message"]["vi"] != body["message"]["en"]
        assert 1 <= int(refused.headers["retry-after"]) <= 600
    # The page of the portal says so too.
    page = second.get("/tra-cuu", params={"ma": known})
    assert page.status_code == 429


def test_failed_lookups_budget_is_shared_by_the_processes(db, factory, two_processes) -> None:  # noqa: ANN001
    first, second = two_processes(TINHSO_RATE_LIMIT_BACKEND="database")
    _guessing_is_shared(first, second, _known_code(first, factory))


def test_lookups_per_minute_are_shared_by_the_processes(db, factory, two_processes) -> None:  # noqa: ANN001
    first, second = two_processes(TINHSO_RATE_LIMIT_BACKEND="database")
    known = _known_code(first, factory)
    within_one_window(60, needed=20)
    statuses = [(first, second)[i % 2].get(f"{API}/status/{known}").status_code for i in range(61)]
    assert statuses == [200] * 60 + [429]
    refused = first.get(f"{API}/status/{known}")
    assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60


def test_the_budgets_are_shared_through_redis(db, factory, redis_url, two_processes) -> None:  # noqa: ANN001
    first, second = two_processes(TINHSO_REDIS_URL=redis_url)
    _guessing_is_shared(first, second, _known_code(first, factory))
    import redis

    keys = {k.decode() for k in redis.Redis.from_url(redis_url).scan_iter("tinhso:rl:*")}
    assert any(k.endswith(":procedures.lookup_miss:testclient") for k in keys), keys
