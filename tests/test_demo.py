"""`tinhso demo` from nothing: migrates, loads every module's demo data, writes the credentials file; the
platform then serves the demo accounts and the communes."""

import json
import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from tinhso.app import create_app
from tinhso.kit.db import Database, make_engine
from tinhso.settings import get_settings


@pytest.mark.slow
def test_demo_loads_from_nothing_and_its_accounts_sign_in(tmp_path):
    env = {**os.environ, "TINHSO_VAR_DIR": str(tmp_path), "TINHSO_ENVIRONMENT": "demo"}
    env.pop("TINHSO_DATABASE_URL", None)
    run = subprocess.run(
        [sys.executable, "-m", "tinhso.cli", "demo", "--no-serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    creds = json.loads((tmp_path / "demo-credentials.json").read_text(encoding="utf-8"))
    assert {"admin", "canbo.tuphap", "congdan"} <= set(creds["people"])
    assert "TTHC" in creds["systems"]
    assert "demo-credentials.json" in run.stderr + run.stdout
    # Loading the demo twice keeps the accounts and their passwords.
    again = subprocess.run(
        [sys.executable, "-m", "tinhso.cli", "seed", "--demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert again.returncode == 0, again.stderr[-4000:]
    assert (
        json.loads((tmp_path / "demo-credentials.json").read_text(encoding="utf-8"))["people"]["admin"][
            "password"
        ]
        == creds["people"]["admin"]["password"]
    )

    db = Database(make_engine(url=f"sqlite:///{tmp_path / 'tinhso.db'}"))
    try:
        with TestClient(create_app(get_settings(), db)) as client:
            assert client.get("/readyz").json()["status"] == "ok"
            assert client.get("/api/v1/communes").json()["total"] == 130
            admin = creds["people"]["admin"]
            token = client.post(
                "/auth/token",
                data={"grant_type": "password", "username": "admin", "password": admin["password"]},
            )
            assert token.status_code == 200
            system = creds["systems"]["TTHC"]
            sys_token = client.post(
                "/auth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": system["client_id"],
                    "client_secret": system["client_secret"],
                },
            )
            assert sys_token.status_code == 200
            home = client.get("/")
            assert home.status_code == 200 and "Nghệ An" in home.text
    finally:
        db.dispose()
