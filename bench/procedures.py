"""Procedures benchmark on PostgreSQL: a large province's year of dossiers (2 million; `--small`: 50,000).

Measures, side by side with the issue's goals and a baseline:
- the officials' work-queue page query (an agency's open dossiers, soonest due first, one page plus the count),
  p50/p95 — with the composite (agency_code, status, due_at) index, and the baseline without it;
- the public status lookup by dossier code (the same function the API serves), p50/p95;
- the full Decision 766 computation for one month across the province, every agency and every commune.

    .venv/bin/python bench/procedures.py            # 2,000,000 dossiers
    .venv/bin/python bench/procedures.py --small    # 50,000 dossiers

Rows are generated inside PostgreSQL (generate_series) in a throw-away database, then ANALYZEd.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
os.environ.setdefault("TINHSO_VAR_DIR", tempfile.mkdtemp(prefix="tinhso-bench-proc-"))
os.environ.setdefault("TINHSO_LOG_LEVEL", "WARNING")

from sqlalchemy import create_engine, func, select, text  # noqa: E402

from tinhso.kit.db import Database, make_engine  # noqa: E402
from tinhso.migrate import upgrade  # noqa: E402
from tinhso.modules import load_models  # noqa: E402

ADMIN = os.environ.get("TINHSO_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
GOAL_QUERY_MS = 100.0
GOAL_INDEX_S = 10.0

GENERATE = """
INSERT INTO procedures_dossier (
  id, code, procedure_code, receiving_agency_code, agency_code, commune_code, applicant_name,
  applicant_personal_id, applicant_kind, channel, status, version, form_data, received_at, due_at, finished_at,
  paused_seconds, supplement_count, step_index, fee_total, payment_status, paid_online, digitised, reused_data,
  from_data_store, vneid_verified, population_data, complaint, overdue, synced_at, note, created_at, updated_at,
  rating, result_document_id)
SELECT
  md5(g.i::text), u.code || '-' || to_char(g.day, 'YYMMDD') || '-' || lpad(g.seq::text, 4, '0'),
  p.code, u.code, u.code, u.commune_code, 'Nguyễn Văn ' || g.i, lpad((40000000000 + g.i)::text, 12, '0'),
  'individual', g.channel, g.status, 1, '{}'::jsonb, g.received, g.received + interval '7 days',
  CASE WHEN g.status IN ('returned', 'refused', 'withdrawn', 'result_ready')
       THEN g.received + (g.r3 * interval '9 days') END,
  0, CASE WHEN g.r2 < 0.1 THEN 1 ELSE 0 END, 0, CASE WHEN g.r2 < 0.5 THEN 100000 ELSE 0 END,
  CASE WHEN g.r2 < 0.5 THEN 'paid' ELSE 'none' END, CASE WHEN g.r2 < 0.3 AND g.channel = 2 THEN 1 ELSE 0 END,
  g.r1 < 0.8, g.r1 < 0.4, g.r1 < 0.25, g.channel = 2 AND g.r2 < 0.6, g.r3 < 0.7, g.r3 < 0.02,
  g.received + (g.r3 * interval '9 days') > g.received + interval '7 days',
  CASE WHEN g.r1 < 0.96 THEN g.received END, 'bench', g.received, g.received,
  CASE WHEN g.r2 < 0.3 THEN 1 + (g.r3 * 4)::int END,
  CASE WHEN g.status = 'returned' AND g.r1 < 0.6 THEN md5('r' || g.i::text)::varchar(32) END
FROM (
  SELECT i, day, seq, received, r1, r2, r3,
         CASE WHEN r1 < 0.45 THEN 2 WHEN r1 < 0.95 THEN 1 ELSE 3 END AS channel,
         CASE WHEN received > now() - interval '10 days'
              THEN (ARRAY['received','assigned','in_review','for_signature','supplement_requested'])[1 + floor(r2 * 5)::int]
              WHEN r3 < 0.003 THEN 'in_review'
              ELSE (ARRAY['returned','returned','returned','returned','returned','returned','refused','withdrawn'])[1 + floor(r3 * 8)::int]
         END AS status,
         uidx, pidx
  FROM (
    SELECT i, (current_date - (i % 365)) AS day, (i / (365 * :units)) + 1 AS seq,
           ((current_date - (i % 365))::timestamp + interval '7 hours' + (random() * interval '9 hours'))
             AT TIME ZONE 'Asia/Ho_Chi_Minh' AS received,
           random() AS r1, random() AS r2, random() AS r3, ((i / 365) % :units) AS uidx, (i % 997) AS pidx
    FROM generate_series(0, :n - 1) AS i
  ) s
) g
JOIN bench_unit u ON u.idx = g.uidx
JOIN bench_proc p ON p.idx = g.pidx % (SELECT count(*) FROM bench_proc)
"""


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", action="store_true", help="50,000 dossiers instead of 2,000,000")
    ap.add_argument("--queries", type=int, default=300, help="samples per query kind")
    ap.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = ap.parse_args()
    n = 50_000 if args.small else 2_000_000
    name = f"tinhso_bench_proc_{uuid.uuid4().hex[:6]}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        run(url, n, args.queries)
    finally:
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(url: str, n: int, samples: int) -> None:
    load_models()
    upgrade(url)
    db = Database(make_engine(url=url))
    from tinhso.identity.demo import seed_roles
    from tinhso.procedures import index766
    from tinhso.procedures.catalog import seed_catalog
    from tinhso.procedures.endpoints import public_status
    from tinhso.procedures.models import Dossier
    from tinhso.reference.service import load_agencies, load_communes

    with db.transaction() as s:
        seed_roles(s)
        load_communes(s)
        load_agencies(s)
        seed_catalog(s)
    t0 = time.perf_counter()
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TEMP TABLE bench_unit AS SELECT (row_number() OVER (ORDER BY code)) - 1 AS idx,"
                " code, commune_code FROM identity_agency WHERE kind IN ('commune', 'department')"
            )
        )
        units = conn.scalar(text("SELECT count(*) FROM bench_unit"))
        conn.execute(
            text(
                "CREATE TEMP TABLE bench_proc AS SELECT (row_number() OVER (ORDER BY code)) - 1 AS idx,"
                " code FROM procedures_procedure"
            )
        )
        conn.execute(text(GENERATE), {"n": n, "units": units})
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE procedures_dossier"))  # what autovacuum does after a bulk load
    load_s = time.perf_counter() - t0
    with db.transaction() as s:
        total = s.scalar(select(func.count()).select_from(Dossier)) or 0
        agencies = list(s.scalars(select(Dossier.agency_code).distinct()))
        codes = list(s.scalars(select(Dossier.code).order_by(func.random()).limit(samples)))
    print(f"dossiers: {total:,} generated in {load_s:.1f} s ({len(agencies)} agencies and communes)")
    rng = random.Random(766)
    open_ = ("received", "assigned", "in_review", "for_signature", "supplement_requested")

    def queue_once(s, agency: str) -> None:  # noqa: ANN001
        base = select(Dossier).where(Dossier.agency_code == agency, Dossier.status.in_(open_))
        s.scalar(select(func.count()).select_from(base.subquery()))
        list(s.scalars(base.order_by(Dossier.due_at).limit(50)))

    def time_queue() -> list[float]:
        out = []
        with db.transaction(write=False) as s:
            for _ in range(samples):
                t = time.perf_counter()
                queue_once(s, rng.choice(agencies))
                out.append((time.perf_counter() - t) * 1000)
        return out

    queue = time_queue()
    with db.engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_procedures_dossier_queue"))
        conn.execute(text("DROP INDEX ix_procedures_dossier_open_queue"))
        conn.execute(text("ANALYZE procedures_dossier"))
    queue_base = time_queue()
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE INDEX ix_procedures_dossier_queue ON procedures_dossier (agency_code, status, due_at)"
            )
        )
        conn.execute(text("ANALYZE procedures_dossier"))
    lookup = []
    with db.transaction(write=False) as s:
        for code in codes:
            t = time.perf_counter()
            public_status(s, code)
            lookup.append((time.perf_counter() - t) * 1000)
    with db.transaction(write=False) as s:
        period = s.scalar(select(func.to_char(func.current_date() - 45, "YYYY-MM")))
        timings = {}
        for group in ("province", "agency", "commune"):
            t = time.perf_counter()
            res = index766.compute(s, period, group)
            timings[group] = (time.perf_counter() - t, len(res), sum(r["dossiers"] for r in res))
        t = time.perf_counter()
        everything = index766.compute_many(s, period)
        full = time.perf_counter() - t
        n_scopes = sum(len(v) for v in everything.values())

    print()
    print("baseline: the queue query without the queue indexes; the 766 index computed group by group")
    print(f"{'measure':<52}{'measured':>12}{'baseline':>14}{'goal':>10}  ok")
    print(
        f"{'work queue p50 (ms)':<52}{statistics.median(queue):>12.2f}{statistics.median(queue_base):>14.2f}{'':>10}"
    )
    print(
        f"{'work queue p95 (ms)  [baseline: no queue index]':<52}{pct(queue, 0.95):>12.2f}"
        f"{pct(queue_base, 0.95):>14.2f}{GOAL_QUERY_MS:>10.0f}  {'yes' if pct(queue, 0.95) < GOAL_QUERY_MS else 'NO'}"
    )
    print(f"{'status lookup p50 (ms)':<52}{statistics.median(lookup):>12.2f}{'':>14}{'':>10}")
    print(
        f"{'status lookup p95 (ms)':<52}{pct(lookup, 0.95):>12.2f}{'':>14}{GOAL_QUERY_MS:>10.0f}"
        f"  {'yes' if pct(lookup, 0.95) < GOAL_QUERY_MS else 'NO'}"
    )
    for group, (secs, scopes, dossiers) in timings.items():
        print(
            f"{f'766 index {period}, by {group} ({scopes} scopes, {int(dossiers):,} dossiers) (s)':<52}{secs:>12.2f}"
        )
    label = f"766 index, one month, all {n_scopes} scopes in one pass (s)"
    print(
        f"{label:<52}{full:>12.2f}{sum(v[0] for v in timings.values()):>14.2f}{GOAL_INDEX_S:>10.0f}"
        f"  {'yes' if full < GOAL_INDEX_S else 'NO'}"
    )
    db.dispose()


if __name__ == "__main__":
    main()
