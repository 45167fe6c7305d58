"""Test fixtures: a real database per backend (SQLite file and PostgreSQL), the app, clients and factories.

Every test that takes `db`, `app` or `client` runs once on SQLite and once on PostgreSQL. Set
TINHSO_TEST_BACKENDS=sqlite to run only the SQLite half while developing; CI runs both.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

_VAR = Path(tempfile.mkdtemp(prefix="tinhso-test-"))
os.environ.setdefault("TINHSO_ENVIRONMENT", "test")
os.environ["TINHSO_VAR_DIR"] = str(_VAR)
os.environ.setdefault("TINHSO_LOG_JSON", "false")
os.environ.setdefault("TINHSO_LOG_LEVEL", "WARNING")
os.environ["TINHSO_RUN_DISPATCHER"] = "false"
# Tests call quickly from one client: budgets out of reach (the limit tests set small ones explicitly).
os.environ.setdefault("TINHSO_RATE_LIMIT_PER_CREDENTIAL", "100000000")
os.environ.setdefault("TINHSO_RATE_LIMIT_PER_ADDRESS", "100000000")

import pytest  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import create_engine, delete, inspect, text, update  # noqa: E402

from tinhso.app import create_app  # noqa: E402
from tinhso.identity import tokens  # noqa: E402
from tinhso.kit.audit import GENESIS, AuditHead  # noqa: E402
from tinhso.kit.db import Base, Database, make_engine, set_database  # noqa: E402
from tinhso.migrate import upgrade  # noqa: E402
from tinhso.modules import load_models, plugins  # noqa: E402
from tinhso.settings import get_settings  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "TINHSO_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = [
    b.strip() for b in os.environ.get("TINHSO_TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()
]
# Reference tables loaded once per backend and kept between tests; everything else is emptied after each test.
KEEP = {
    "alembic_version",
    "reference_commune",
    "identity_agency",
    "identity_role",
    "identity_signing_key",
    "kit_audit_head",
}


def _reference_tables() -> set[str]:
    keep = set(KEEP)
    for _, plugin in plugins():
        keep |= set(getattr(plugin, "reference_tables", ()))
    return keep


@pytest.fixture(scope="session", params=BACKENDS)
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A fresh, migrated database with the reference data, for one backend, for the whole session."""
    backend = request.param
    get_settings.cache_clear()
    load_models()
    if backend == "sqlite":
        url = f"sqlite:///{_VAR / f'test-{uuid.uuid4().hex[:8]}.db'}"
        admin = None
        name = None
    else:
        name = f"tinhso_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    db = Database(make_engine(url=url))
    set_database(db)
    for _, plugin in plugins():
        if hasattr(plugin, "seed"):
            with db.transaction() as session:
                plugin.seed(session, False)
    with db.engine.connect() as conn:
        seeded_agencies = {r[0] for r in conn.execute(text("SELECT code FROM identity_agency"))}
    db.seeded_agencies = seeded_agencies  # type: ignore[attr-defined]
    db.existing_tables = set(inspect(db.engine).get_table_names())  # type: ignore[attr-defined]
    tokens.prime(db)
    yield db
    set_database(None)
    db.dispose()
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _clean(db: Database) -> None:
    keep = _reference_tables()
    existing = db.existing_tables  # type: ignore[attr-defined]
    tables = [t for t in Base.metadata.sorted_tables if t.name not in keep and t.name in existing]
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            if tables:
                conn.execute(
                    text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables) + " RESTART IDENTITY CASCADE")
                )
        else:
            conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
            for table in reversed(tables):
                conn.execute(delete(table))
        conn.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=0, last_hash=GENESIS))
        seeded = db.seeded_agencies  # type: ignore[attr-defined]
        agency = Base.metadata.tables["identity_agency"]
        conn.execute(delete(agency).where(agency.c.code.not_in(seeded)))


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    """The backend's database; emptied of everything but reference data after the test."""
    yield database
    _clean(database)


@pytest.fixture
def backend(database: Database) -> str:
    return database.dialect


@pytest.fixture
def app(db: Database):  # noqa: ANN201
    app = create_app(get_settings(), db)
    yield app
    # Every start of the app (test client, live server) was matched by a stop: a loader left running would go on
    # claiming other tests' uploads from the shared database.
    assert not getattr(app.state, "data_loader_stops", None), "an upload loader of this app was never stopped"


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # noqa: ANN001
    with TestClient(app) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(app) -> Iterator[str]:  # noqa: ANN001
    """The app served by a real Uvicorn on a free localhost port (for browsers and real HTTP clients)."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


from tests.factories import Actor, Factory, factory, platform_admin  # noqa: E402, F401
