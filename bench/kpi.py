"""Governance benchmark on PostgreSQL: the registry's compliance run, the full KPI computation and the IOC's first load.

A throw-away database gets the reference data (130 communes, agencies, the 142 roadmap tasks, the KPI
definitions), then N registered systems (1,000; `--small`: 100) spread over the agencies, with progress on a
third of the tasks. Figures, side by side with the issue's goals and a baseline:
- compliance: every rule on every system (the nightly re-run), and per system;
- the full KPI computation (every KPI, every module's measures over whatever their tables hold);
- the baseline: computing the same KPIs one transaction per KPI (no shared measure registry, no savepoints);
- the commune map (one measure for the 130 communes) and the IOC page, first load, through the real app.

    .venv/bin/python bench/kpi.py            # 1,000 systems
    .venv/bin/python bench/kpi.py --small    # 100 systems

The other modules' tables (dossiers, exchange log) stay as the migrations leave them: this benchmark does not
generate their rows; their own benchmarks (bench/procedures.py, bench/exchange_gateway.py) measure their measures'
queries at scale.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
os.environ.setdefault("TINHSO_VAR_DIR", tempfile.mkdtemp(prefix="tinhso-bench-kpi-"))
os.environ.setdefault("TINHSO_LOG_LEVEL", "WARNING")
os.environ.setdefault("TINHSO_RUN_DISPATCHER", "false")
os.environ.setdefault("TINHSO_ENVIRONMENT", "test")  # no background work competing with the figures

from sqlalchemy import create_engine, select, text  # noqa: E402

from tinhso.kit.db import Database, make_engine, set_database  # noqa: E402
from tinhso.migrate import upgrade  # noqa: E402
from tinhso.modules import load_models, plugins  # noqa: E402

ADMIN = os.environ.get("TINHSO_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
GOAL_KPI_S = 30.0
GOAL_IOC_S = 1.0


def _systems(session, n: int) -> None:  # noqa: ANN001
    from tinhso.governance.models import RegisteredSystem
    from tinhso.identity.models import Agency

    rng = random.Random(4520)
    agencies = list(session.scalars(select(Agency.code)))
    now = datetime.now(UTC)
    for i in range(n):
        level = rng.choice([None, 1, 2, 3, 3, 4])
        session.add(
            RegisteredSystem(
                code=f"HT{i:05d}",
                agency_code=rng.choice(agencies),
                name=f"Hệ thống {i}",
                layer=rng.choice(["infrastructure", "data", "application", "channel"]),
                status=rng.choice(["planned", "building", "live", "live", "live", "retired"]),
                security_level=level,
                security_approved=rng.random() < 0.7,
                hosting=rng.choice(["provincial_dc", "gov_cloud", "agency_premises"]),
                integration=rng.choice(["lgsp", "lgsp", "ndxp", "direct"]),
                sign_in=rng.choice(["shared_sso", "vneid", "own_accounts"]),
                entities_mastered=["cong_dan"] if rng.random() < 0.2 else [],
                services_exposed=[
                    {"code": f"api{i}", "openapi_url": None if rng.random() < 0.3 else f"https://x/{i}.json"}
                ]
                if rng.random() < 0.5
                else [],
                holds_important_data=rng.random() < 0.6,
                backup_frequency=rng.choice(["none", "daily", "weekly"]),
                last_backup_at=now - timedelta(hours=rng.randint(1, 400)),
                monitoring=rng.sample(["network", "application", "database", "endpoint"], rng.randint(0, 4)),
                reports_operational_data=rng.random() < 0.6,
                results=[],
            )
        )
    session.flush()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", action="store_true")
    args = parser.parse_args()
    n = 100 if args.small else 1000
    name = f"tinhso_bench_kpi_{uuid.uuid4().hex[:6]}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        load_models()
        upgrade(url)
        db = Database(make_engine(url=url))
        set_database(db)
        for _, plugin in plugins():
            if hasattr(plugin, "seed"):
                with db.transaction() as s:
                    plugin.seed(s, False)
        from tinhso.governance import kpi, service
        from tinhso.governance.measures import registry
        from tinhso.governance.models import RoadmapTask, TaskProgress

        with db.transaction() as s:
            _systems(s, n)
            for t in list(s.scalars(select(RoadmapTask)))[::3]:
                s.add(TaskProgress(task_id=t.id, status="in_progress", percent=50, agency_code=None))
        t0 = time.perf_counter()
        with db.transaction() as s:
            checked = service.recheck_all(s)
        compliance_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        with db.transaction() as s:
            run = kpi.run(s, trigger="bench")
            counts = (run.computed, run.not_measured, run.failed)
        kpi_s = time.perf_counter() - t0

        # Baseline: one transaction per KPI, the measure registry rebuilt every time.
        t0 = time.perf_counter()
        now = datetime.now(UTC)
        for spec in kpi.SPECS:
            with db.transaction() as s:
                start, _ = kpi.period_of(spec.frequency, now)
                kpi.evaluate(s, spec, start, now, None, registry())
        baseline_s = time.perf_counter() - t0

        from fastapi.testclient import TestClient

        from tinhso.app import create_app
        from tinhso.identity import tokens
        from tinhso.identity.auth import access_token_for
        from tinhso.identity.models import Person, RoleAssignment
        from tinhso.identity.service import principal_for_person
        from tinhso.settings import get_settings

        tokens.prime(db)
        with db.transaction() as s:
            person = Person(username="bench.leader", full_name="Lãnh đạo", agency_code="000.00.00.H41")
            person.roles = [RoleAssignment(role_code="leader")]
            s.add(person)
            s.flush()
            principal = principal_for_person(s, person)
        headers = {"Authorization": f"Bearer {access_token_for(db, principal)}"}
        with TestClient(create_app(get_settings(), db)) as client:
            t0 = time.perf_counter()
            r = client.get("/ioc", headers=headers)
            ioc_s = time.perf_counter() - t0
            assert r.status_code == 200
            t0 = time.perf_counter()
            m = client.get(
                "/api/v1/ioc/communes",
                params={"measure": "governance.systems_registered"},
                headers=headers,
            )
            map_s = time.perf_counter() - t0
            assert m.status_code == 200 and len(m.json()["items"]) == 130
            t0 = time.perf_counter()
            client.get("/ioc", headers=headers)
            ioc_warm_s = time.perf_counter() - t0

        print(f"governance benchmark on PostgreSQL — {n} systems, {len(kpi.SPECS)} KPIs")
        print(f"{'what':44} {'measured':>12} {'goal / baseline':>18}")
        print(f"{'compliance, every rule on every system':44} {compliance_s:>10.2f} s {'':>18}")
        print(f"{'  per system':44} {1000 * compliance_s / max(checked, 1):>9.2f} ms {'':>18}")
        print(f"{'full KPI computation (one run)':44} {kpi_s:>10.2f} s {'< ' + str(GOAL_KPI_S) + ' s':>18}")
        print(f"{'  baseline: one transaction per KPI':44} {baseline_s:>10.2f} s {'':>18}")
        print(f"{'  computed / not measured / failed':44} {'{} / {} / {}'.format(*counts):>12}")
        print(f"{'IOC page, first load (server)':44} {ioc_s:>10.3f} s {'< ' + str(GOAL_IOC_S) + ' s':>18}")
        print(f"{'IOC page, warm':44} {ioc_warm_s:>10.3f} s {'':>18}")
        print(f"{'commune map, one measure × 130 communes':44} {map_s:>10.3f} s {'':>18}")
    finally:
        set_database(None)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
