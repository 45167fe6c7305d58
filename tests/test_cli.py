"""The `tinhso` command as an operator uses it: migrate, synth + ingest at top level, backup and restore."""

import os
import subprocess
import sys

import pytest


def _run(args, env, **kw):
    return subprocess.run(
        [sys.executable, "-m", "tinhso.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        **kw,
    )


@pytest.mark.slow
def test_synth_ingest_backup_restore_from_the_command_line(tmp_path):
    env = {**os.environ, "TINHSO_VAR_DIR": str(tmp_path / "var"), "TINHSO_ENVIRONMENT": "development"}
    env.pop("TINHSO_DATABASE_URL", None)
    assert _run(["migrate"], env).returncode == 0
    assert _run(["seed"], env).returncode == 0
    csv = tmp_path / "citizens.csv"
    synth = _run(["synth", "citizens", "--count", "200", "--seed", "7", "--out", str(csv)], env)
    assert synth.returncode == 0, synth.stderr[-2000:]
    assert csv.exists() and len(csv.read_text(encoding="utf-8").splitlines()) > 200
    ingest = _run(["ingest", str(csv), "--entity", "citizen", "--source", "thu-nghiem"], env)
    assert ingest.returncode == 0, ingest.stderr[-2000:]
    backup = tmp_path / "b.zip"
    assert _run(["backup", str(backup)], env).returncode == 0 and backup.stat().st_size > 0
    refused = _run(["restore", str(tmp_path / "missing.zip"), "--yes"], env)
    assert refused.returncode == 2
    restored = _run(["restore", str(backup), "--yes"], env)
    assert restored.returncode == 0, restored.stderr[-2000:]
    verify = _run(["audit", "verify"], env)
    assert verify.returncode == 0 and "intact" in verify.stderr + verify.stdout
