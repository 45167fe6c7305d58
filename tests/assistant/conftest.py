"""Fixtures of the assistant tests."""

from __future__ import annotations

import pytest

from tests.kit.redis_server import redis_url  # noqa: F401


@pytest.fixture(autouse=True)
def _fresh_question_budgets(request: pytest.FixtureRequest) -> None:
    """Question budgets start unspent: SQLite's in-process counters are forgotten (PostgreSQL's table of
    counters is emptied after every test with the rest)."""
    if "db" in request.fixturenames:
        db = request.getfixturevalue("db")
        db.__dict__.get("_rate_limiters", {}).pop("memory", None)
