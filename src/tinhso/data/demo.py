"""Demo data: the "citizen" registry (with the demo citizens), and warehouse tables loaded through the real
ingestion pipeline from synthetic files (citizens, household businesses) plus population by commune and sex."""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.data import registries, warehouse, warehouse_api
from tinhso.data.ingest import Pipeline, columns_of
from tinhso.data.models import Record, Registry, WarehouseTable
from tinhso.data.readers import chunks
from tinhso.data.synth import write_citizens, write_household_businesses
from tinhso.identity.principal import Principal

CONGAN = "000.00.15.H41"
TAICHINH = "000.00.03.H41"
DEMO_CITIZENS = [
    {"personal_id": "040190001234", "full_name": "Nguyễn Thị Hoa", "birth_date": "12/05/1990", "sex": "F",
     "ethnicity": "01", "nationality": "VN", "phone": "0912345678", "commune_code": "16681",
     "address": "Số 12 Lê Lợi, Phường Thành Vinh, Tỉnh Nghệ An"},
    {"personal_id": "040085004321", "full_name": "Hồ Văn Bình", "birth_date": "03/09/1985", "sex": "M",
     "ethnicity": "01", "nationality": "VN", "phone": "0983456789", "commune_code": "17464",
     "address": "Xóm 5, Xã Diễn Châu, Tỉnh Nghệ An"},
]  # fmt: skip
SYSTEM = Principal(
    kind="system",
    id="data-demo",
    name="Demo loader",
    agency_code=CONGAN,
    roles=frozenset({"platform_admin"}),
    scopes=frozenset({"*"}),
)


def _registry(
    session: Session, code: str, vi: str, en: str, entity: str, agency: str, shared: list[str]
) -> Registry:
    found = session.scalars(select(Registry).where(Registry.code == code)).first()
    if found is not None:
        return found
    actor = Principal(
        kind="system",
        id="data-demo",
        name="demo",
        agency_code=agency,
        roles=frozenset({"platform_admin"}),
        scopes=frozenset({"*"}),
    )
    return registries.create_registry(
        session, actor, code, vi, en, entity, shared_with=shared, agency_code=agency
    )


def load_file_rows(
    session: Session, entity_code: str, path: Path, registry: Registry | None, limit: int
) -> None:
    """Put the first `limit` accepted rows of a file into a registry (validated by the same pipeline)."""
    from tinhso.data import dictionary

    if registry is None:
        return
    entity = dictionary.latest(session, entity_code)
    pipeline = Pipeline(session, entity)
    actor = Principal(
        kind="system",
        id="data-demo",
        name="demo",
        agency_code=registry.agency_code,
        roles=frozenset({"platform_admin"}),
        scopes=frozenset({"*"}),
    )
    added = 0
    for chunk in chunks(path, "csv", entity.fields, 5000):
        accepted, _ = pipeline.run(chunk)
        for row in accepted.to_pylist():
            if added >= limit:
                return
            key = str(row[entity.key_field])
            exists = session.scalar(
                select(Record.id).where(Record.registry_id == registry.id, Record.key == key)
            )
            if exists:
                continue
            data = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
            registries.create_record(session, actor, registry, data)
            added += 1


def population_table(session: Session) -> None:
    """population_by_commune: the citizen table aggregated by 2025 commune and sex."""
    from tinhso.reference.models import Commune

    names = {c.code: c.name for c in session.scalars(select(Commune))}
    path = warehouse.path_for(session)
    with warehouse.reader(path) as cur:
        if not warehouse.table_exists(cur, "citizen"):
            return
        rows = cur.execute(
            "SELECT commune_code, sex, count(*) FROM citizen WHERE commune_code IS NOT NULL GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    from tinhso.data import dictionary

    entity = dictionary.latest(session, "population_stat")
    data = [
        {"commune_code": c, "commune_name": names.get(c, c), "sex": s, "population": int(n)}
        for c, s, n in rows
    ]
    n = warehouse.replace_table(path, "population_by_commune", columns_of(entity), data)
    warehouse_api.register_table(
        session, "population_by_commune", "population_stat", "Dân số theo xã, phường và giới tính",
        "Population by commune and sex", columns_of(entity), n, "000.00.16.H41",
    )  # fmt: skip


def seed_demo(session: Session, citizens: int = 3000, businesses: int = 400) -> None:
    """Load the demo registries and warehouse tables (idempotent: a second run changes nothing)."""
    from tinhso.data.ingest import run_batch, start_batch
    from tinhso.kit.db import Database

    citizen_reg = _registry(session, "citizen", "Công dân", "Citizens", "citizen", CONGAN, ["*"])
    hkd_reg = _registry(
        session,
        "household_business",
        "Hộ kinh doanh",
        "Household businesses",
        "household_business",
        TAICHINH,
        ["*"],
    )
    with tempfile.TemporaryDirectory() as tmp:
        cpath, bpath = Path(tmp) / "dan-cu-demo.csv", Path(tmp) / "ho-kinh-doanh-demo.csv"
        write_citizens(cpath, citizens, seed=2025, dup_rate=0.02, error_rate=0.05, extra=DEMO_CITIZENS)
        write_household_businesses(bpath, businesses, seed=2026)
        load_file_rows(session, "citizen", cpath, citizen_reg, 200)
        load_file_rows(session, "household_business", bpath, hkd_reg, 100)
        # Warehouse loads run in their own transactions; the demo seed's session must not hold the write lock.
        session.commit()
        bind = session.get_bind()
        db = Database(bind if hasattr(bind, "dispose") else bind.engine)  # type: ignore[arg-type]
        for path, entity, source in (
            (cpath, "citizen", "demo-dan-cu"),
            (bpath, "household_business", "demo-hkd"),
        ):
            with db.transaction() as s:
                batch, reused = start_batch(s, path, entity, source, path.name, SYSTEM)
                batch_id = batch.id
            if not reused:
                run_batch(db, batch_id, path, principal=SYSTEM)
    population_table(session)
    session.commit()
    # Golden records: the demo population linked across its duplicates (Splink).
    from tinhso.data import linkage

    linked = session.get(WarehouseTable, "citizen_golden") is not None
    session.commit()  # release the write lock before linkage opens its own transactions
    if not linked:
        linkage.link_table(db, "citizen", SYSTEM)
