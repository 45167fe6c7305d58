"""The DataStore's move from JSON rows to one typed table per resource keeps every existing record."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import BACKENDS, PG_ADMIN_URL
from tinhso.identity.models import Agency
from tinhso.kit.db import Database, make_engine, utcnow
from tinhso.migrate import upgrade
from tinhso.opendata import datastore
from tinhso.opendata.models import Dataset, Resource


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{Path(tempfile.mkdtemp(prefix='tinhso-ds-upgrade-')) / 'db.sqlite'}"
        return
    name = f"tinhso_ds_upgrade_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_upgrade_copies_json_rows_into_typed_tables(empty_url: str) -> None:
    upgrade(empty_url, ("opendata@opendata_0003",))  # the previous release's schema
    engine = make_engine(url=empty_url)
    fields = [
        {"id": "Xã/phường", "type": "text", "info": {}},
        {"id": "dân số", "type": "int", "info": {}},
        {"id": "tỷ lệ", "type": "numeric", "info": {}},
    ]
    rows = [
        {"Xã/phường": "Phường Vinh Hưng", "dân số": 52310, "tỷ lệ": 0.51},
        {"Xã/phường": "Xã Anh Sơn", "dân số": 30112, "tỷ lệ": None},
        {"Xã/phường": "Xã Diễn Châu", "dân số": "không rõ", "tỷ lệ": 0.49},  # kept, the number dropped
    ]
    _previous_release_data(engine, fields, rows)
    upgrade(empty_url)
    engine.dispose()
    db = Database(make_engine(url=empty_url))
    try:
        with db.transaction() as s:
            res = s.get(Resource, "r" * 32)
            assert res is not None and res.datastore_table
            out = datastore.search(s, res, sort='"dân số" desc')
            named = [r["Xã/phường"] for r in out["records"] if r["dân số"] is not None]
            assert named == ["Phường Vinh Hưng", "Xã Anh Sơn"]  # where NULL sorts is the database's
            assert next(r for r in out["records"] if r["_id"] == 1) == {
                "_id": 1,
                "Xã/phường": "Phường Vinh Hưng",
                "dân số": 52310,
                "tỷ lệ": 0.51,
            }
            assert next(r for r in out["records"] if r["_id"] == 3)["dân số"] is None
            found = datastore.search(s, res, q="anh son")
            assert [r["_id"] for r in found["records"]] == [2] and found["total"] == 1
            assert datastore.search(s, res, filters={"dân số": 30112})["total"] == 1
    finally:
        db.dispose()


def _previous_release_data(engine, fields, rows) -> None:  # noqa: ANN001
    """What the previous release wrote: a dataset and a resource whose records are JSON rows."""
    db = Database(engine)
    with db.transaction() as s:  # agencies and datasets did not change shape in this release
        s.add(Agency(code="000.00.16.H41", name="Thống kê tỉnh", kind="department"))
        s.add(Dataset(id="d" * 32, name="dan-so", title="Dân số", owner_org="000.00.16.H41"))
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO opendata_resource (id, dataset_id, position, name, datastore_active, row_count, "
                "fields, extras, created) VALUES (:id, :ds, 0, 'Bảng', true, :n, :fields, '{}', :now)"
            ),
            {"id": "r" * 32, "ds": "d" * 32, "n": len(rows), "fields": json.dumps(fields), "now": utcnow()},
        )
        for i, row in enumerate(rows, start=1):
            conn.execute(
                text(
                    "INSERT INTO opendata_datastore_row (resource_id, row_no, data, search_text) "
                    "VALUES (:r, :n, :data, '')"
                ),
                {"r": "r" * 32, "n": i, "data": json.dumps(row, ensure_ascii=False)},
            )


def test_replacing_and_removing_keep_one_table_per_resource(db, publisher) -> None:  # noqa: ANN001
    from sqlalchemy import inspect

    from tests.opendata.conftest import make_dataset

    rid = make_dataset(db, publisher, name="bang-thu", title="Bảng thử", rows=[{"a": 1}, {"a": 2}])

    def tables() -> set[str]:
        return {n for n in inspect(db.engine).get_table_names() if n.startswith(f"opendata_ds_{rid}")}

    first = tables()
    assert len(first) == 1
    with db.transaction() as s:
        res = s.get(Resource, rid)
        assert res is not None
        datastore.replace_rows(s, res, [{"id": "a", "type": "int", "info": {}}], [{"a": 3}])
    assert len(tables()) == 1 and tables() != first  # the new generation replaced the old
    with db.transaction() as s:
        res = s.get(Resource, rid)
        assert res is not None
        assert [r["a"] for r in datastore.iter_rows(s, res)] == [3]
        res.datastore_table = None  # as if the resource had gone with its dataset
    with db.transaction() as s:
        assert datastore.drop_orphans(s) >= 1  # this one, and any left by other tests
    assert tables() == set()
