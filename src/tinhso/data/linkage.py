"""Record linkage of people across sources with Splink on DuckDB: blocking on name, birth date and commune,
probabilistic (Fellegi-Sunter) matching trained without labels, clusters, and golden records that keep the
provenance (source, row) of every field. Accuracy against a ground truth: pairwise precision, recall and F1."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from tinhso.data import warehouse

PERSON_FIELDS = [
    "personal_id",
    "full_name",
    "birth_date",
    "sex",
    "ethnicity",
    "phone",
    "commune_code",
    "address",
]
# Accent-insensitive name: lower case, no diacritics, đ -> d.
NAME_FOLD = "replace(strip_accents(lower(full_name)), 'đ', 'd')"


@dataclass
class LinkResult:
    rows: int
    pairs: int
    clusters: int
    golden: int
    seconds: float


def _input(cur: duckdb.DuckDBPyConnection, table: str) -> pa.Table:
    cols = ", ".join(warehouse.quote(c) for c in PERSON_FIELDS)
    return cur.sql(
        f"SELECT row_number() OVER (ORDER BY _batch_id, _row) AS unique_id, _source, _row, {cols}, "
        f"{NAME_FOLD} AS name_fold, strftime(birth_date, '%Y-%m-%d') AS dob FROM {warehouse.quote(table)}"
    ).to_arrow_table()


def link(rows: pa.Table, match_threshold: float = 0.9) -> pa.Table:
    """unique_id -> cluster_id for the rows (columns as produced by `_input`)."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    for name in ["splink", *[n for n in logging.root.manager.loggerDict if n.startswith("splink")]]:
        logging.getLogger(name).setLevel(logging.ERROR)
    con = duckdb.connect()
    con.register("people_in", rows)
    con.execute("CREATE TABLE people AS SELECT * FROM people_in")
    db_api = DuckDBAPI(connection=con)
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.JaroWinklerAtThresholds("name_fold", [0.95, 0.88]),
            cl.LevenshteinAtThresholds("personal_id", [1, 2]),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.ExactMatch("sex"),
            cl.ExactMatch("commune_code"),
            cl.ExactMatch("phone"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("name_fold", "dob"),
            block_on("dob", "commune_code"),
            block_on("name_fold", "commune_code"),
            block_on("personal_id"),
        ],
        retain_matching_columns=False,
    )
    linker = Linker(db_api.register("people"), settings)
    n = rows.num_rows
    linker.training.estimate_probability_two_random_records_match(
        [block_on("personal_id", "dob"), block_on("name_fold", "dob", "commune_code")], recall=0.8
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=min(2e6, max(1e4, n * 5.0)), seed=1)
    # EM on samples, blocked on birth date (trains the name, id, commune, phone levels) and on name + commune
    # (trains birth date and sex); name alone would pair every "Nguyễn Thị Hoa" with every other one.
    proportion = min(1.0, 100_000 / max(n, 1))
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("dob"), record_sample_proportion=proportion
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("name_fold", "commune_code"), record_sample_proportion=min(1.0, 4 * proportion)
    )
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, match_threshold)
    result = con.sql(
        f"SELECT unique_id, cluster_id::VARCHAR AS cluster_id FROM {clusters.physical_name}"
    ).to_arrow_table()
    con.close()
    return result


def golden_records(con: duckdb.DuckDBPyConnection) -> None:
    """golden_tmp from people + links: per cluster and field, the most frequent value (ties: the newest row),
    and `<field>_from` = "source:row" of the record it was taken from."""
    ctes = ["members AS (SELECT l.cluster_id, p.* FROM people p JOIN links l USING (unique_id))"]
    joins = []
    for i, field in enumerate(PERSON_FIELDS):
        q, src = warehouse.quote(field), warehouse.quote(field + "_from")
        ctes.append(
            f"""f{i} AS (SELECT cluster_id, arg_max(v, k) AS {q}, arg_max(s, k) AS {src} FROM (
                  SELECT cluster_id, {q} AS v, count(*) * 1000000000 + max(_row) AS k,
                         arg_max(_source || ':' || _row, _row) AS s
                  FROM members WHERE {q} IS NOT NULL GROUP BY cluster_id, {q}) GROUP BY cluster_id)"""
        )
        joins.append(f"LEFT JOIN f{i} USING (cluster_id)")
    columns = ", ".join(f"{warehouse.quote(f)}, {warehouse.quote(f + '_from')}" for f in PERSON_FIELDS)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE golden_tmp AS WITH {", ".join(ctes)}
        SELECT m.cluster_id, m.members, {columns}
        FROM (SELECT cluster_id, count(*) AS members FROM members GROUP BY cluster_id) m {" ".join(joins)}"""
    )


def run(
    path: Path, table: str = "citizen", match_threshold: float = 0.9
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """(people, links, golden) for a warehouse table; also written back as <table>_links and <table>_golden."""
    with warehouse.reader(path) as cur:
        if not warehouse.table_exists(cur, warehouse.check_ident(table)):
            from tinhso.kit.errors import NotFound

            raise NotFound("warehouse_table_not_found", "Warehouse table {table} not found", table=table)
    with warehouse.reader(path) as cur:
        people = _input(cur, table)
    if people.num_rows > 1:
        links = link(people, match_threshold)
    else:
        links = pa.table({"unique_id": pa.array([], pa.int64()), "cluster_id": pa.array([], pa.string())})
    con = duckdb.connect()
    con.register("people_in", people)
    con.execute("CREATE TABLE people AS SELECT * FROM people_in")
    con.register("links_in", links)
    con.execute("CREATE TABLE links AS SELECT unique_id, cluster_id::VARCHAR AS cluster_id FROM links_in")
    # rows that no rule paired stay their own cluster
    con.execute(
        "INSERT INTO links SELECT unique_id, 'single-' || unique_id FROM people WHERE unique_id NOT IN (SELECT unique_id FROM links)"
    )
    golden_records(con)
    golden = con.sql("SELECT * FROM golden_tmp ORDER BY cluster_id").to_arrow_table()
    link_rows = con.sql(
        "SELECT p._source, p._row, l.cluster_id FROM links l JOIN people p USING (unique_id) ORDER BY p._source, p._row"
    ).to_arrow_table()
    con.close()
    with warehouse.writer(path) as wh:
        for name, data in ((f"{table}_links", link_rows), (f"{table}_golden", golden)):
            wh.con.register("incoming", data)
            wh.con.execute(f"CREATE OR REPLACE TABLE {warehouse.quote(name)} AS SELECT * FROM incoming")
            wh.con.unregister("incoming")
    return people, link_rows, golden


def evaluate(people: pa.Table, links: pa.Table, truth_csv: Path) -> dict[str, Any]:
    """Pairwise precision, recall and F1 of the clusters against a ground-truth file (row -> person_id)."""
    con = duckdb.connect()
    con.register("people", people)
    con.register("links", links)
    con.execute(
        f"CREATE TABLE truth AS SELECT \"row\" + 1 AS _row, person_id FROM read_csv('{truth_csv.as_posix()}', all_varchar=false)"
    )
    con.execute(
        "CREATE TABLE scored AS SELECT l.cluster_id, t.person_id FROM links l JOIN truth t USING (_row)"
    )

    def pairs(sql: str) -> int:
        value = con.execute(f"SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM ({sql})").fetchone()
        return int(value[0]) if value else 0

    predicted = pairs("SELECT count(*) AS n FROM scored GROUP BY cluster_id")
    actual = pairs("SELECT count(*) AS n FROM scored GROUP BY person_id")
    true_pos = pairs("SELECT count(*) AS n FROM scored GROUP BY cluster_id, person_id")
    con.close()
    precision = true_pos / predicted if predicted else 1.0
    recall = true_pos / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "predicted_pairs": predicted, "true_pairs": actual, "true_positive_pairs": true_pos,
        "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
    }  # fmt: skip


def golden_columns() -> list[dict[str, Any]]:
    from tinhso.data.entities import SEED_ENTITIES

    fields = {f["name"]: f for f in next(e for e in SEED_ENTITIES if e["code"] == "citizen")["fields"]}
    cols: list[dict[str, Any]] = [
        {
            "name": "cluster_id",
            "type": "string",
            "classification": "internal",
            "label_vi": "Mã cụm",
            "label_en": "Cluster",
        },
        {
            "name": "members",
            "type": "integer",
            "classification": "internal",
            "label_vi": "Số bản ghi",
            "label_en": "Records",
        },
    ]
    for name in PERSON_FIELDS:
        f = fields[name]
        cols.append({k: f[k] for k in ("name", "type", "classification", "label_vi", "label_en")})
        cols.append({"name": f"{name}_from", "type": "string", "classification": "internal",
                     "label_vi": f"Nguồn của {f['label_vi']}", "label_en": f"Source of {f['label_en']}"})  # fmt: skip
    return cols


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, ensure_ascii=False)


def link_table(
    db: Any, table: str = "citizen", principal: Any = None, match_threshold: float = 0.9
) -> dict[str, Any]:
    """Run linkage on a warehouse table, write <table>_links and <table>_golden, and register them."""
    import time

    from tinhso.data import warehouse_api
    from tinhso.kit import audit

    started = time.monotonic()
    with db.transaction() as session:
        warehouse_api.get_table(session, table)
        path = warehouse.path_for(session)
    people, links, golden = run(path, table, match_threshold)
    link_cols = [
        {
            "name": "_source",
            "type": "string",
            "classification": "internal",
            "label_vi": "Nguồn",
            "label_en": "Source",
        },
        {
            "name": "_row",
            "type": "integer",
            "classification": "internal",
            "label_vi": "Dòng",
            "label_en": "Row",
        },
        {
            "name": "cluster_id",
            "type": "string",
            "classification": "internal",
            "label_vi": "Mã cụm",
            "label_en": "Cluster",
        },
    ]
    with db.transaction() as session:
        warehouse_api.register_table(
            session,
            f"{table}_golden",
            table,
            "Bản ghi gốc (đã liên kết)",
            "Golden records (linked)",
            golden_columns(),
            golden.num_rows,
        )
        warehouse_api.register_table(
            session, f"{table}_links", table, "Liên kết bản ghi", "Record links", link_cols, links.num_rows
        )
        audit.record(
            session, "data.linkage.run", object_type="warehouse", object_id=table,
            detail={"rows": people.num_rows, "golden": golden.num_rows}, actor=principal,
        )  # fmt: skip
    return {
        "table": table, "rows": people.num_rows, "golden_records": golden.num_rows,
        "duplicates_merged": people.num_rows - golden.num_rows, "seconds": round(time.monotonic() - started, 2),
    }  # fmt: skip
