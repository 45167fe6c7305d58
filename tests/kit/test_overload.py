"""A database that is overloaded or away is a typed 503 with Retry-After, not a bare 500."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.pool import QueuePool

from tinhso.kit.errors import install_error_handlers


def _app(engine) -> FastAPI:  # noqa: ANN001
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/count")
    def count() -> dict[str, int]:
        with engine.connect() as conn:
            return {"n": int(conn.execute(text("SELECT 1")).scalar_one())}

    return app


def test_exhausted_pool_is_503_database_busy(tmp_path: Path) -> None:
    engine = create_engine(
        f"sqlite:///{tmp_path / 'busy.db'}",
        poolclass=QueuePool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=0.2,
    )
    client = TestClient(_app(engine))
    assert client.get("/count").json() == {"n": 1}
    held = engine.connect()  # the only connection of the pool is taken
    try:
        r = client.get("/count")
    finally:
        held.close()
    assert r.status_code == 503 and r.headers["Retry-After"] == "5"
    body = r.json()
    assert body["code"] == "database_busy" and body["message"]["vi"].startswith("Hệ thống đang bận")
    assert client.get("/count").status_code == 200  # back as soon as a connection is free


def test_unreachable_database_is_503_database_unavailable() -> None:
    engine = create_engine(
        "postgresql+psycopg://tinhso@127.0.0.1:9/none?connect_timeout=1"
    )  # nothing listens
    r = TestClient(_app(engine)).get("/count")
    assert r.status_code == 503 and r.json()["code"] == "database_unavailable"
    assert r.headers["Retry-After"] == "5"
