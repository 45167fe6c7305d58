"""Open-data benchmark: package_search and datastore_search latency (p50/p95) over a fixed query mix, on SQLite
and PostgreSQL, side by side with a baseline and the issue's goals.

    .venv/bin/python bench/opendata.py              # 10,000 datasets, a 1,000,000-row DataStore resource
    .venv/bin/python bench/opendata.py --small      # 1,000 datasets, 50,000 rows
    .venv/bin/python bench/opendata.py --backends sqlite

Each backend gets a fresh, migrated database (a temporary SQLite file; a temporary PostgreSQL database on
127.0.0.1:5432, dropped afterwards). Datasets are inserted in bulk with the same folded search text the
service writes; the DataStore rows go through `datastore.replace_rows`, as publishing does. Actions are
called in-process through the CKAN action layer (parsing, search, dict shaping and JSON encoding included,
HTTP excluded).

Baselines: package_search text queries answered by a LIKE scan over the folded text (no full-text index);
datastore_search's first page with a COUNT(*) of the whole table (CKAN before PR #9260, which reported
0.515 s -> 0.041 s on 2M rows). Goals (issue 5): p95 < 100 ms for search, < 200 ms for DataStore pages.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

PG_ADMIN = os.environ.get(
    "TINHSO_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
WORDS = [
    "dân",
    "số",
    "hộ",
    "gia",
    "đình",
    "giáo",
    "dục",
    "y",
    "tế",
    "chất",
    "lượng",
    "không",
    "khí",
    "nước",
    "môi",
    "trường",
    "doanh",
    "nghiệp",
    "ngân",
    "sách",
    "thuế",
    "du",
    "lịch",
    "giao",
    "thông",
    "tai",
    "nạn",
    "nông",
    "nghiệp",
    "lúa",
    "rừng",
    "đất",
    "đai",
    "thủ",
    "tục",
    "hành",
    "chính",
    "hồ",
    "sơ",
    "dịch",
    "vụ",
    "công",
    "chuyển",
    "đổi",
    "số",
    "lao",
    "động",
    "việc",
    "làm",
    "bảo",
    "hiểm",
    "xã",
    "hội",
    "trường",
    "học",
    "bệnh",
    "viện",
    "di",
    "tích",
    "văn",
    "hoá",
    "xây",
    "dựng",
    "giấy",
    "phép",
    "xuất",
    "khẩu",
]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def build(db: Any, n_datasets: int, n_rows: int) -> tuple[str, dict[str, Any]]:
    """Reference data, `n_datasets` datasets in bulk and one DataStore resource of `n_rows` rows."""
    from sqlalchemy import insert, select

    from tinhso.identity.demo import seed_roles
    from tinhso.identity.models import Agency
    from tinhso.kit.db import new_id, utcnow
    from tinhso.kit.text import fold
    from tinhso.opendata import datastore, demo, service
    from tinhso.opendata.models import Dataset, DatasetGroup, DatasetTag, Group, Organization, Resource
    from tinhso.reference.models import Commune
    from tinhso.reference.service import load_agencies, load_communes

    with db.transaction() as s:
        seed_roles(s)
        load_communes(s)
        load_agencies(s)
        demo.seed_reference(s)
    rng = random.Random(4520)
    with db.transaction() as s:
        orgs = list(s.execute(select(Organization.agency_code, Organization.name)))
        agencies = {a.code: a.name for a in s.scalars(select(Agency))}
        groups = list(s.execute(select(Group.id, Group.title)))
        communes = list(s.scalars(select(Commune).where(Commune.province_code == "40")))
        licenses = ["CC-BY-4.0", "CC0-1.0", "ODC-BY-1.0", "nghean-odl-1.0"]
        formats = ["CSV", "JSON", "XLSX", "PDF", "PARQUET"]
        now = utcnow()
        for start in range(0, n_datasets, 1000):
            ds_rows, tag_rows, group_rows, res_rows = [], [], [], []
            for i in range(start, min(n_datasets, start + 1000)):
                did = new_id()
                org_code, _ = orgs[rng.randrange(len(orgs))]
                words = rng.sample(WORDS, 5)
                commune = communes[rng.randrange(len(communes))]
                title = f"{' '.join(words[:3]).capitalize()} {commune.name} {2015 + i % 11}"
                notes = f"Số liệu {' '.join(words)} của {commune.name}, tỉnh Nghệ An."
                tags = rng.sample(WORDS, 2)
                gid, gtitle = groups[rng.randrange(len(groups))]
                res_name = f"Bảng {' '.join(words[3:])}"
                search_text = fold(" ".join([title, notes, *tags, res_name, agencies[org_code], gtitle]))
                modified = now.replace(microsecond=0) if i % 7 else now
                ds_rows.append(
                    dict(
                        id=did,
                        name=f"bo-du-lieu-{i:06d}",
                        title=title,
                        notes=notes,
                        owner_org=org_code,
                        license_id=licenses[i % 4],
                        private=False,
                        state="active",
                        featured=False,
                        language="vi",
                        extras={},
                        tag_names=tags,
                        quality_score=70,
                        search_text=search_text,
                        metadata_created=modified,
                        metadata_modified=modified,
                        frequency="ANNUAL",
                    )
                )
                tag_rows += [dict(dataset_id=did, name=t) for t in dict.fromkeys(tags)]
                group_rows.append(dict(dataset_id=did, group_id=gid))
                res_rows.append(
                    dict(
                        id=new_id(),
                        dataset_id=did,
                        position=0,
                        name=res_name,
                        format=formats[i % 5],
                        url=f"https://example.org/{did}.csv",
                        datastore_active=False,
                        row_count=0,
                        fields=[],
                        extras={},
                        created=now,
                    )
                )
            s.execute(insert(Dataset), ds_rows)
            s.execute(insert(DatasetTag), tag_rows)
            s.execute(insert(DatasetGroup), group_rows)
            s.execute(insert(Resource), res_rows)
    with db.transaction() as s:
        dataset = s.scalar(select(Dataset).where(Dataset.name == "bo-du-lieu-000000"))
        resource = Resource(
            dataset_id=dataset.id, name="Dân số theo xã, năm, giới tính, nhóm tuổi", format="CSV"
        )
        s.add(resource)
        s.flush()
        ages = ["0-14", "15-24", "25-39", "40-59", "60+"]

        def rows() -> Any:
            for i in range(n_rows):
                c = communes[i % len(communes)]
                yield {
                    "commune_code": c.code,
                    "commune_name": c.name,
                    "year": 2000 + (i // 1300) % 26,
                    "sex": "Nam" if i % 2 else "Nữ",
                    "age_group": ages[(i // 2) % 5],
                    "value": (i * 7919) % 5000,
                }

        fields = [
            {"id": "commune_code", "type": "text", "info": {}},
            {"id": "commune_name", "type": "text", "info": {}},
            {"id": "year", "type": "int", "info": {}},
            {"id": "sex", "type": "text", "info": {}},
            {"id": "age_group", "type": "text", "info": {}},
            {"id": "value", "type": "int", "info": {}},
        ]
        datastore.replace_rows(s, resource, fields, rows())
        service.refresh_derived(s, dataset)
        return resource.id, {"commune": communes[7].code, "org": orgs[3][1], "n_rows": n_rows}


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def run_backend(backend: str, n_datasets: int, n_rows: int, repeat: int) -> dict[str, tuple[float, float]]:
    from sqlalchemy import create_engine, func, select, text

    from tinhso.kit.db import Database, make_engine, set_database
    from tinhso.kit.text import fold
    from tinhso.migrate import upgrade
    from tinhso.modules import load_models
    from tinhso.opendata import datastore
    from tinhso.opendata.ckan.actions import ACTIONS, Context
    from tinhso.opendata.models import Dataset, Resource

    load_models()
    admin = None
    if backend == "sqlite":
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='tinhso-bench-opendata-')) / 'bench.db'}"
    else:
        name = f"tinhso_bench_opendata_{uuid.uuid4().hex[:6]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(url)
        db = Database(make_engine(url=url))
        set_database(db)
        t0 = time.perf_counter()
        resource_id, ctx = build(db, n_datasets, n_rows)
        print(
            f"  [{backend}] loaded {n_datasets:,} datasets and {n_rows:,} rows in {time.perf_counter() - t0:.0f} s",
            file=sys.stderr,
        )
        if backend == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("ANALYZE"))

        def call(name: str, data: dict[str, Any]) -> Callable[[], Any]:
            def go() -> Any:
                with db.transaction(write=False) as s:
                    result = ACTIONS[name].fn(Context(s, None, "http://bench", {}), dict(data))
                    return json.dumps(result, ensure_ascii=False, default=str)

            return go

        facets = '["organization","groups","tags","res_format","license_id"]'
        search_mix = [
            {"q": "dan so"},
            {"q": "chat luong khong khi"},
            {"fq": f"organization:{ctx['org']}", "facet.field": facets},
            {"fq": 'tags:"giáo dục"'},
            {"q": "ngan sach", "fq": "res_format:CSV"},
            {"rows": 100, "start": n_datasets // 2, "sort": "id asc"},
            {"fq": "metadata_modified:[2020-01-01T00:00:00Z TO *]", "sort": "id asc", "rows": 100},
            {"q": "ho so thu tuc hanh chinh", "facet.field": facets},
            {"sort": "metadata_modified desc", "rows": 20},
            {"q": "xa anh son"},
        ]
        ds_mix = [
            {"limit": 100},
            {"limit": 100, "offset": n_rows // 2},
            {"filters": {"commune_code": ctx["commune"]}, "limit": 100},
            {"filters": {"sex": "Nữ", "year": 2024}, "limit": 100},
            {"sort": "value desc", "limit": 100},
            {"q": "yen xuan", "limit": 100},
        ]
        results: dict[str, tuple[float, float]] = {}
        for name, mix, action in (
            ("package_search", search_mix, "package_search"),
            ("datastore_search", ds_mix, "datastore_search"),
        ):
            samples: list[float] = []
            for data in mix:
                if action == "datastore_search":
                    data = {**data, "resource_id": resource_id}
                call(action, data)()  # warm
                samples += timed(call(action, data), repeat)
            results[name] = (statistics.median(samples), percentile(samples, 95))
            for data in mix:
                label = json.dumps(data, ensure_ascii=False)[:60]
                if action == "datastore_search":
                    data = {**data, "resource_id": resource_id}
                one = timed(call(action, data), max(3, repeat // 2))
                results[f"  {action} {label}"] = (statistics.median(one), percentile(one, 95))

        def like_search(q: str) -> Callable[[], Any]:
            def go() -> Any:
                with db.transaction(write=False) as s:
                    conds = [Dataset.search_text.contains(w) for w in fold(q).split()]
                    stmt = select(Dataset.id).where(Dataset.state == "active", *conds)
                    s.scalar(select(func.count()).select_from(stmt.subquery()))
                    return list(
                        s.scalars(stmt.order_by(Dataset.metadata_modified.desc(), Dataset.id).limit(10))
                    )

            return go

        base: list[float] = []
        for q in ("dan so", "chat luong khong khi", "ngan sach", "ho so thu tuc hanh chinh", "xa anh son"):
            base += timed(like_search(q), repeat)
        results["baseline: LIKE scan, text queries"] = (statistics.median(base), percentile(base, 95))

        def counted_first_page() -> Any:
            with db.transaction(write=False) as s:
                resource = s.get(Resource, resource_id)
                assert resource is not None
                table = datastore.table_for(resource)
                s.scalar(select(func.count()).select_from(table))
                return s.execute(select(table).order_by(table.c["_id"]).limit(100)).all()

        samples = timed(counted_first_page, repeat)
        results["baseline: first page + COUNT(*) (CKAN < #9260)"] = (
            statistics.median(samples),
            percentile(samples, 95),
        )
        db.dispose()
        set_database(None)
        return results
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="1,000 datasets and 50,000 rows")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--datasets", type=int)
    parser.add_argument("--rows", type=int)
    parser.add_argument("--repeat", type=int)
    args = parser.parse_args()
    os.environ.setdefault("TINHSO_VAR_DIR", tempfile.mkdtemp(prefix="tinhso-bench-var-"))
    os.environ.setdefault("TINHSO_LOG_LEVEL", "WARNING")
    n_datasets = args.datasets or (1_000 if args.small else 10_000)
    n_rows = args.rows or (50_000 if args.small else 1_000_000)
    repeat = args.repeat or (5 if args.small else 15)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    figures = {b: run_backend(b, n_datasets, n_rows, repeat) for b in backends}
    keys = list(next(iter(figures.values())))
    goal = {"package_search": "p95 < 100", "datastore_search": "p95 < 200"}
    print(f"\nOpen data: {n_datasets:,} datasets, DataStore resource of {n_rows:,} rows; ms, p50 / p95")
    header = f"{'measure':<72}" + "".join(f"{b:>22}" for b in backends) + f"{'goal':>14}"
    print(header)
    print("-" * len(header))
    for key in keys:
        cells = "".join(f"{figures[b][key][0]:>10.1f} / {figures[b][key][1]:>8.1f}  " for b in backends)
        print(f"{key:<72}{cells}{goal.get(key, ''):>14}")
    print(
        "\nPublished CKAN figure for comparison: datastore_search, 100 records, no filters: 2M rows 515 ms -> 41 ms (PR #9260)."
    )


if __name__ == "__main__":
    main()
