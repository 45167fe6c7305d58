"""Ingestion benchmark: DuckDB's own read_csv into a table (the floor) against tinhso's full ingestion of the same
synthetic citizens file (standardise, validate, error report, warehouse). Prints rows/s, peak memory and the ratio.

    .venv/bin/python bench/ingest.py            # 3.5 million rows (Nghệ An's population)
    .venv/bin/python bench/ingest.py --small    # ~50,000 rows
    .venv/bin/python bench/ingest.py --csv /tmp/citizens.csv   # write the file once, reuse it after
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
    parser.add_argument("--csv", type=Path, default=None, help="reuse a file written by an earlier run")
    args = parser.parse_args()
    rows = args.rows or (50_000 if args.small else 3_500_000)
    tmp = Path(tempfile.mkdtemp(prefix="tinhso-bench-ingest-"))
    os.environ["TINHSO_VAR_DIR"] = str(tmp)
    os.environ.setdefault("TINHSO_LOG_LEVEL", "WARNING")
    import duckdb

    from tinhso.data.synth import write_citizens

    csv_path = args.csv or tmp / "citizens.csv"
    if args.csv is None or not csv_path.exists():
        t = time.perf_counter()
        write_citizens(csv_path, rows, seed=7, dup_rate=0.02, error_rate=0.05)
        print(f"synthetic file: {rows:,} rows in {time.perf_counter() - t:.1f} s")
    with csv_path.open("rb") as fh:
        rows = sum(1 for _ in fh) - 1  # (no quoted line breaks in the synthetic file)
    print(f"file: {csv_path} ({rows:,} rows, {csv_path.stat().st_size / 1e6:.1f} MB)")

    def floor(name: str) -> tuple[float, float]:
        """DuckDB's own load of the same file: (wall seconds, CPU seconds of all its threads), made durable."""
        wall, cpu = time.perf_counter(), time.process_time()
        con = duckdb.connect(str(tmp / f"{name}.duckdb"))
        con.execute(
            f"CREATE TABLE floor AS SELECT * FROM read_csv('{csv_path.as_posix()}', all_varchar = true)"
        )
        con.execute("CHECKPOINT")
        con.close()
        return time.perf_counter() - wall, time.process_time() - cpu

    floor_before = floor("floor1")

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
    wall, cpu = time.perf_counter(), time.process_time()
    batch, _ = ingest_file(db, csv_path, "citizen", "bench")
    ours = time.perf_counter() - wall, time.process_time() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The machine is shared: the floor runs again after ours and the ratio uses the mean of both runs.
    floor_after = floor("floor2")
    floor_wall = (floor_before[0] + floor_after[0]) / 2
    floor_cpu = (floor_before[1] + floor_after[1]) / 2
    print()
    print(f"{'':30}{'rows/s':>12}{'wall s':>10}{'CPU s':>10}")
    for label, (w, c) in (
        ("DuckDB read_csv (floor), 1st", floor_before),
        ("tinhso ingestion", ours),
        ("DuckDB read_csv (floor), 2nd", floor_after),
    ):
        print(f"{label:30}{rows / w:>12,.0f}{w:>10.2f}{c:>10.2f}")
    print(
        f"ratio (ours / floor): wall {ours[0] / floor_wall:.1f}×, CPU {ours[1] / floor_cpu:.1f}×   goal ≤ 3× (wall)"
    )
    print(
        f"peak memory of the process: {peak_mb:,.0f} MB (before ingestion {before / 1024:,.0f} MB)   goal < 2048 MB"
    )
    print(
        f"accepted {batch.rows_accepted:,}, fixed {batch.rows_fixed:,}, rejected {batch.rows_rejected:,}; quality {batch.quality}"
    )


if __name__ == "__main__":
    main()
