"""Record linkage with Splink: duplicates found, golden records with provenance, accuracy against ground truth."""

from __future__ import annotations

from tests.factories import CONGAN
from tinhso.data import linkage, warehouse, warehouse_api
from tinhso.data.ingest import ingest_file
from tinhso.data.synth import write_citizens


def test_linkage_finds_duplicates_with_provenance(client, data_db, factory, platform_admin, tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "people.csv"
    truth = write_citizens(path, 800, seed=21, dup_rate=0.06, error_rate=0.1)
    ingest_file(data_db, path, "citizen", "ho-tich")
    official = factory.person(("official",), CONGAN)
    refused = client.post("/api/v1/warehouse/linkage", json={"table": "citizen"}, headers=official.headers)
    assert refused.status_code == 403
    missing = client.post("/api/v1/warehouse/linkage", json={"table": "nope"}, headers=platform_admin.headers)
    assert missing.status_code == 404
    r = client.post("/api/v1/warehouse/linkage", json={"table": "citizen"}, headers=platform_admin.headers)
    assert r.status_code == 200, r.text
    result = r.json()
    assert (
        result["duplicates_merged"] > 20
        and result["golden_records"] == result["rows"] - result["duplicates_merged"]
    )
    wh = warehouse.path_for_engine(data_db.engine)
    with warehouse.reader(wh) as cur:
        people = linkage._input(cur, "citizen")
    with warehouse.reader(wh) as cur:
        links = cur.sql("SELECT * FROM citizen_links").to_arrow_table()
    scores = linkage.evaluate(people, links, truth)
    assert scores["precision"] >= 0.9 and scores["recall"] >= 0.9 and scores["true_pairs"] > 20
    with data_db.transaction() as s:
        tables = {t.name: t for t in warehouse_api.warehouse_tables(s)}
        assert tables["citizen_golden"].row_count == result["golden_records"]
        merged = [g for g in warehouse_api.read_rows(s, "citizen_golden", limit=2000) if g["members"] > 1]
    assert merged and all(g["full_name_from"].startswith("ho-tich:") for g in merged)
