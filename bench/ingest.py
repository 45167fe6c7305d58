"""Ingestion benchmark: DuckDB's own read_csv into a table (the floor) against tinhso's full ingestion of the same
synthetic citizens file (standardise, validate, error report, warehouse). Prints rows/s, peak memory and the ratio.

    .venv/bin/python bench/ingest.py            # 3.5 million rows (Nghệ An's population)
    .venv/bin/python bench/ingest.py --small    # ~50,000 rows
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--rows", type=int, default=None)
    args = parser.parse_args()
    rows = args.rows or (50_000 if args.small else 3_500_000)
    tmp = Path(tempfile.mkdtemp(prefix="tinhso-bench-ingest-"))
    os.environ["TINHSO_VAR_DIR"] = str(tmp)
    os.environ.setdefault("TINHSO_LOG_LEVEL", "WARNING")
    import duckdb

    from tinhso.data.synth import write_citizens

    csv_path = tmp / "citizens.csv"
    t = time.perf_counter()
    write_citizens(csv_path, rows, seed=7, dup_rate=0.02, error_rate=0.05)
    print(
        f"synthetic file: {rows:,} rows, {csv_path.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t:.1f} s"
    )

    t = time.perf_counter()
    con = duckdb.connect(str(tmp / "floor.duckdb"))
    con.execute(f"CREATE TABLE floor AS SELECT * FROM read_csv('{csv_path.as_posix()}', all_varchar = true)")
    floor_s = time.perf_counter() - t
    con.close()

    from tinhso.kit.db import get_database
    from tinhso.migrate import upgrade
    from tinhso.modules import plugins

    upgrade()
    db = get_database()
    for name, plugin in plugins():
        if name in ("identity", "reference", "data"):
            with db.transaction() as session:
                plugin.seed(session, False)
    from tinhso.data.ingest import ingest_file

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    batch, _ = ingest_file(db, csv_path, "citizen", "bench")
    ours_s = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    print(f"{'':28}{'rows/s':>14}{'seconds':>10}")
    print(f"{'DuckDB read_csv (floor)':28}{rows / floor_s:>14,.0f}{floor_s:>10.2f}")
    print(f"{'tinhso ingestion':28}{rows / ours_s:>14,.0f}{ours_s:>10.2f}")
    print(f"ratio (ours / floor): {ours_s / floor_s:.1f}×   goal ≤ 3×")
    print(
        f"peak memory of the process: {peak_mb:,.0f} MB (before ingestion {before / 1024:,.0f} MB)   goal < 2048 MB"
    )
    print(
        f"accepted {batch.rows_accepted:,}, fixed {batch.rows_fixed:,}, rejected {batch.rows_rejected:,}; quality {batch.quality}"
    )


if __name__ == "__main__":
    main()
