"""Record-linkage benchmark: synthetic citizens with duplicates and errors, ingested, then linked with Splink on
DuckDB; prints pairwise precision, recall and F1 against the ground truth, and the time.

    .venv/bin/python bench/linkage.py            # 1,000,000 rows, 2 % duplicates, 5 % errors
    .venv/bin/python bench/linkage.py --small    # 20,000 rows
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--dup-rate", type=float, default=0.02)
    parser.add_argument("--error-rate", type=float, default=0.05)
    args = parser.parse_args()
    rows = args.rows or (20_000 if args.small else 1_000_000)
    tmp = Path(tempfile.mkdtemp(prefix="tinhso-bench-link-"))
    os.environ["TINHSO_VAR_DIR"] = str(tmp)
    os.environ.setdefault("TINHSO_LOG_LEVEL", "WARNING")
    from tinhso.data import linkage, warehouse
    from tinhso.data.ingest import ingest_file
    from tinhso.data.synth import write_citizens
    from tinhso.kit.db import get_database
    from tinhso.migrate import upgrade
    from tinhso.modules import plugins

    csv_path = tmp / "citizens.csv"
    truth = write_citizens(csv_path, rows, seed=13, dup_rate=args.dup_rate, error_rate=args.error_rate)
    upgrade()
    db = get_database()
    for name, plugin in plugins():
        if name in ("identity", "reference", "data"):
            with db.transaction() as session:
                plugin.seed(session, False)
    batch, _ = ingest_file(db, csv_path, "citizen", "bench")
    t = time.perf_counter()
    result = linkage.link_table(db, "citizen")
    seconds = time.perf_counter() - t
    path = warehouse.path_for_engine(db.engine)
    with warehouse.reader(path) as cur:
        people = linkage._input(cur, "citizen")
    with warehouse.reader(path) as cur:
        links = cur.sql("SELECT * FROM citizen_links").to_arrow_table()
    scores = linkage.evaluate(people, links, truth)
    print(
        f"rows generated {rows:,} (dup {args.dup_rate:.0%}, errors {args.error_rate:.0%}); ingested {batch.rows_accepted:,}"
    )
    print(f"{'':24}{'value':>12}{'goal':>10}")
    print(f"{'precision':24}{scores['precision']:>12.4f}")
    print(f"{'recall':24}{scores['recall']:>12.4f}")
    print(f"{'F1':24}{scores['f1']:>12.4f}{'≥ 0.95':>10}")
    print(f"{'linkage time (s)':24}{seconds:>12.1f}")
    print(
        f"pairs: predicted {scores['predicted_pairs']:,}, true {scores['true_pairs']:,}; golden records {result['golden_records']:,}"
    )


if __name__ == "__main__":
    main()
