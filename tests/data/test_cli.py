"""`tinhso data synth citizens`, `tinhso data ingest` and `tinhso data link` against the test database."""

from __future__ import annotations

import csv

from typer.testing import CliRunner

from tinhso.data import warehouse_api
from tinhso.data.cli import cli


def test_synth_ingest_link(data_db, tmp_path) -> None:  # noqa: ANN001
    runner = CliRunner()
    out = tmp_path / "dan.csv"
    r = runner.invoke(
        cli, ["synth", "citizens", "--count", "300", "--seed", "9", "--dup-rate", "0.05", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    truth = list(csv.DictReader(out.with_name("dan.truth.csv").open(encoding="utf-8")))
    assert len(rows) == len(truth) == 300 and any(t["duplicate_of_row"] for t in truth)
    ethnic = {row["ethnicity"] for row in rows}
    assert "01" in ethnic and ethnic & {"03", "29", "08", "24"}
    r = runner.invoke(cli, ["ingest", str(out), "--entity", "citizen", "--source", "cli"])
    assert r.exit_code == 0, r.output
    with data_db.transaction() as s:
        assert warehouse_api.warehouse_tables(s)[0].row_count > 280
    again = runner.invoke(cli, ["ingest", str(out), "--entity", "citizen", "--source", "cli"])
    assert again.exit_code == 0 and "không thay đổi" in again.output.replace("\n", " ")
    bad = runner.invoke(cli, ["ingest", str(out), "--entity", "nope", "--source", "cli"])
    assert bad.exit_code == 2
    linked = runner.invoke(cli, ["link", "--truth", str(out.with_name("dan.truth.csv"))])
    assert linked.exit_code == 0, linked.output
    assert "'f1': 1.0" in linked.output or "'f1': 0.9" in linked.output
