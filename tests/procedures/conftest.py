"""Shared helpers of the procedures tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.kit.redis_server import redis_url  # noqa: F401
from tinhso.kit.ratelimit import rate_limit_settings

TUPHAP = "000.00.05.H41"
COMMUNE1 = "001.00.00.H41"
LLTP = "2.000488"  # judicial record certificate, Sở Tư pháp, fee 200,000
KHAISINH = "1.001193"  # birth registration, commune level, no fee


@pytest.fixture(autouse=True)
def _fresh_limits(db) -> None:  # noqa: ANN001
    """Lookup budgets start unspent: the in-process counters of SQLite are forgotten (PostgreSQL's table of
    counters is emptied after every test with the rest)."""
    rate_limit_settings.cache_clear()
    db.__dict__.get("_rate_limiters", {}).pop("memory", None)


def within_one_window(window: int, needed: float = 15.0) -> None:
    """Wait, if need be, for a fresh fixed window of `window` seconds, so that a test counting against a
    budget for `needed` seconds does not see the counters start again halfway."""
    import time

    left = window - time.time() % window
    if left < needed:
        time.sleep(left + 0.05)


@pytest.fixture(autouse=True)
def _restore_catalog(db):  # noqa: ANN001, ANN202
    """The catalog is reference data kept between tests (and modules): put back what a test changed."""
    yield
    from sqlalchemy import update

    from tinhso.procedures.catalog import seed_catalog
    from tinhso.procedures.models import Procedure

    with db.transaction() as s:
        seed_catalog(s)
        s.execute(update(Procedure).values(decision_date=None, effective_date=None, disclosed_date=None))


def lltp_form(personal_id: str, name: str = "Trần Thị Dân") -> dict[str, Any]:
    return {
        "applicant_name": name,
        "personal_id": personal_id,
        "address": "Phường Vinh Hưng, Nghệ An",
        "sheet_type": 1,
        "copies": 1,
    }


def khaisinh_form(personal_id: str) -> dict[str, Any]:
    return {
        "applicant_name": "Nguyễn Văn Bố",
        "personal_id": personal_id,
        "address": "Xã Diễn Châu, Nghệ An",
        "child_name": "Nguyễn Văn Con",
        "child_birth_date": "2026-01-05",
    }


def act(client: Any, actor: Any, code: str, action: str, note: str = "") -> Any:
    version = client.get(f"/api/v1/procedures/dossiers/{code}", headers=actor.headers).json()["version"]
    return client.post(
        f"/api/v1/procedures/dossiers/{code}/transitions",
        json={"action": action, "version": version, "note": note},
        headers=actor.headers,
    )
