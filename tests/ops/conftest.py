"""One data-centre deployment for the operations tests: two API processes and a worker behind nginx, on a
fresh PostgreSQL database with the demo data, the shared NATS and Mosquitto."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tinhso.ops import loadmix
from tinhso.ops.datacentre import Deployment, nginx_binary, start

PG_ADMIN = os.environ.get("TINHSO_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
ADMIN_PASSWORD = "mật-khẩu-quản-trị-dc-1"


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    if nginx_binary() is None:
        pytest.fail("nginx is not installed: run scripts/system-deps.sh")
    name = f"tinhso_dc_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0].replace("+psycopg", "") + f"/{name}"
    root: Path = tmp_path_factory.mktemp("dc")
    dep = None
    try:
        dep = start(root, url, seed_demo=True)
        subprocess.run(
            [sys.executable, "-m", "tinhso.cli", "create-admin", "quantri", "--password-stdin"],
            input=ADMIN_PASSWORD + "\n",
            env=dep.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        yield dep
    finally:
        if dep is not None:
            dep.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def actors(deployment: Deployment) -> Iterator[loadmix.Actors]:
    """The load mix's actors on the deployment, with the provider's API behind the exchange gateway."""
    provider_url, provider = loadmix.start_provider()
    try:
        yield loadmix.prepare(deployment.url, Path(deployment.env["TINHSO_VAR_DIR"]), provider_url)
    finally:
        provider.terminate()
        provider.wait(timeout=10)
