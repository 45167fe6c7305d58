"""Upgrading the data-centre deployment without downtime: expand, migrate, contract (docs/operations.md).

The deployment serves the current release; the next release brings two migrations in a version directory of
its own (TINHSO_MIGRATION_DIRS, as an installation's own migrations are shipped): an expand one that adds a
column and an index to `procedures_dossier` (the busiest table of the mix: citizens submit, officials move
dossiers) and backfills it, and a contract one (`contract = True`) that removes them again. Traffic keeps
flowing through nginx the whole time; not one request may fail.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from tinhso.migrate import alembic_config
from tinhso.ops import loadmix

pytestmark = [pytest.mark.slow, pytest.mark.nats, pytest.mark.mqtt, pytest.mark.timeout(900)]

EXPAND = '''"""upgrade drill, expand: a nullable column and an index on procedures_dossier, then a backfill

Revision ID: opsdrill_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "opsdrill_0001"
down_revision = None
branch_labels = ("opsdrill",)
depends_on = ({procedures!r},)


def upgrade() -> None:
    # Never queue every request behind a lock we wait for: give up instead (and retry the upgrade later).
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column("procedures_dossier", sa.Column("drill_note", sa.String(40), nullable=True))
    # Built without blocking writes; CONCURRENTLY cannot run inside a transaction.
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_procedures_dossier_drill_note",
            "procedures_dossier",
            ["drill_note"],
            postgresql_concurrently=True,
        )
    op.execute("UPDATE procedures_dossier SET drill_note = 'kenh-' || channel WHERE drill_note IS NULL")


def downgrade() -> None:
    op.drop_index("ix_procedures_dossier_drill_note", table_name="procedures_dossier")
    op.drop_column("procedures_dossier", "drill_note")
'''

CONTRACT = '''"""upgrade drill, contract: the column and index go once no running code reads them

Revision ID: opsdrill_0002
"""

from alembic import op

revision = "opsdrill_0002"
down_revision = "opsdrill_0001"
branch_labels = None
depends_on = None
contract = True


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(
            "ix_procedures_dossier_drill_note", table_name="procedures_dossier", postgresql_concurrently=True
        )
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_column("procedures_dossier", "drill_note")


def downgrade() -> None:
    raise NotImplementedError("a contract migration is not undone")
'''


def _migrate(env: dict[str, str], *targets: str) -> None:
    args = [a for t in targets for a in ("--target", t)]
    done = subprocess.run(
        [sys.executable, "-m", "tinhso.cli", "migrate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _columns(url: str) -> set[str]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        return {c["name"] for c in inspect(engine).get_columns("procedures_dossier")}
    finally:
        engine.dispose()


def _migrations(url: str) -> dict:
    ready = httpx.get(f"{url}/readyz", timeout=30)
    assert ready.status_code == 200, ready.text
    return ready.json()["checks"]["migrations"]


def test_expand_migrate_contract_while_serving(deployment, actors, tmp_path: Path):
    procedures_head = ScriptDirectory.from_config(alembic_config()).get_revisions("procedures@head")[0]
    release = tmp_path / "next-release-migrations"
    release.mkdir()
    (release / "opsdrill_0001_expand.py").write_text(
        EXPAND.replace("{procedures!r}", repr(procedures_head.revision)), encoding="utf-8"
    )
    (release / "opsdrill_0002_contract.py").write_text(CONTRACT, encoding="utf-8")
    old_env = dict(deployment.env)
    new_env = {**old_env, "TINHSO_MIGRATION_DIRS": str(release)}
    url = deployment.env["TINHSO_DATABASE_URL"]

    _migrate(old_env)  # the running release's own migrations, all applied
    stop = threading.Event()
    results: list[loadmix.Result] = []
    traffic = threading.Thread(
        target=lambda: results.append(loadmix.run(actors, 900, rate=8, users=32, stop_when=stop))
    )
    traffic.start()
    try:
        # 1. Expand, while the old release serves: it does not know the new revision and stays ready.
        _migrate(new_env, "opsdrill_0001")
        assert "drill_note" in _columns(url)
        state = _migrations(deployment.url)
        assert state["status"] == "ok" and state["ahead"] == ["opsdrill_0001"]

        # 2. Roll the API processes one at a time onto the new release; nginx serves through the other one.
        deployment.env = new_env
        for i, port in enumerate(deployment.api_ports):
            deployment.restart_api(i)
            state = _migrations(f"http://127.0.0.1:{port}")
            assert state["status"] == "ok" and state["ahead"] == [] and state["missing"] == []
            assert state["contract_pending"] == ["opsdrill_0002"]

        # 3. Contract, once every process runs the new release (`tinhso migrate` to every head does the same;
        # the target keeps this test to the drill's branch).
        _migrate(new_env, "opsdrill_0002")
        assert "drill_note" not in _columns(url)
        for port in deployment.api_ports:
            assert _migrations(f"http://127.0.0.1:{port}")["contract_pending"] == []
    finally:
        stop.set()
        traffic.join(timeout=120)
    assert len(results) == 1
    rows = {r["operation"]: r for r in results[0].rows()}
    assert {op: r["error_samples"] for op, r in rows.items() if r["errors"]} == {}
    assert rows["dossier_submit"]["requests"] > 0 and rows["dossier_transition"]["requests"] > 0
