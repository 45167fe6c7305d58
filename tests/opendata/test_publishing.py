"""Publishing reference data and warehouse tables: personal columns refused, small cells suppressed,
refresh on `data.warehouse.updated`, audit."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.opendata.conftest import THONG_KE, action
from tinhso.kit.audit import AuditEntry
from tinhso.kit.events import wait_until_dispatched
from tinhso.opendata.models import Dataset

META = {"title": "Bộ dữ liệu công bố", "owner_org": THONG_KE, "license_id": "CC-BY-4.0"}


def publish(client, actor, **body):
    return client.post("/api/v1/opendata/publications", json=body, headers=actor.headers)


def rows_of(client, resource_id, **params):
    return action(client, "datastore_search", {"resource_id": resource_id, "limit": 1000, **params}).json()[
        "result"
    ]


def test_publish_reference_communes_and_aggregate(client, db, publisher):
    r = publish(client, publisher, source="reference:communes", dataset={**META, "name": "xa-phuong"})
    assert r.status_code == 201, r.text
    found = rows_of(client, r.json()["resource_id"])
    assert found["total"] == 130
    fields = {f["id"]: f for f in found["fields"]}
    assert fields["name"]["info"]["label"] == "Tên đơn vị"
    r = publish(
        client,
        publisher,
        source="reference:communes",
        group_by=["type"],
        measure="count",
        threshold=12,
        dataset={**META, "name": "xa-phuong-theo-loai"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["suppressed_cells"] == 1
    by_type = {x["type"]: x["value"] for x in rows_of(client, r.json()["resource_id"])["records"]}
    assert by_type == {"xa": 119, "phuong": None}  # 11 wards < 12: suppressed
    r = publish(client, publisher, source="reference:roadmap", dataset={**META, "name": "lo-trinh"})
    assert rows_of(client, r.json()["resource_id"])["total"] == 142


def test_publication_refusals_change_nothing(client, db, publisher, other_publisher, factory):
    with db.transaction(write=False) as s:
        before = s.scalar(select(func.count()).select_from(Dataset))
    cases = [
        (publisher, {"source": "reference:khong-co", "dataset": {**META, "name": "a1"}}, 404),
        (
            publisher,
            {"source": "reference:communes", "columns": ["khong_co"], "dataset": {**META, "name": "a2"}},
            422,
        ),
        (
            publisher,
            {"source": "reference:communes", "group_by": ["type"], "dataset": {**META, "name": "a3"}},
            422,
        ),
        (other_publisher, {"source": "reference:communes", "dataset": {**META, "name": "a4"}}, 403),
        (factory.citizen(), {"source": "reference:communes", "dataset": {**META, "name": "a5"}}, 403),
        (
            publisher,
            {
                "source": "reference:communes",
                "measure": "drop table",
                "group_by": ["type"],
                "dataset": {**META, "name": "a6"},
            },
            422,
        ),
    ]
    for actor, body, status in cases:
        r = publish(client, actor, **body)
        assert r.status_code == status, (body, r.text)
    assert (
        client.post("/api/v1/opendata/publications", json={"source": "reference:communes"}).status_code == 401
    )
    with db.transaction(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Dataset)) == before


@pytest.fixture
def warehouse_table(db):
    """A warehouse table with a personal column, through the data module's contract."""
    warehouse_api = pytest.importorskip("tinhso.data.warehouse_api")
    from tinhso.data import warehouse

    columns = [
        {
            "name": "personal_id",
            "type": "text",
            "classification": "personal",
            "label_vi": "Số định danh",
            "label_en": "Personal id",
        },
        {
            "name": "commune_code",
            "type": "text",
            "classification": "public",
            "label_vi": "Mã xã",
            "label_en": "Commune",
        },
        {
            "name": "sex",
            "type": "text",
            "classification": "public",
            "label_vi": "Giới tính",
            "label_en": "Sex",
        },
        {
            "name": "age",
            "type": "integer",
            "classification": "internal",
            "label_vi": "Tuổi",
            "label_en": "Age",
        },
    ]
    rows = [
        {
            "personal_id": f"0400{i:08d}",
            "commune_code": "17329" if i < 7 else "17380",
            "sex": "Nam" if i % 2 else "Nữ",
            "age": 20 + i,
        }
        for i in range(10)
    ]
    with db.transaction() as session:
        warehouse.replace_table(warehouse.path_for(session), "od_test_residents", columns, rows)
        warehouse_api.register_table(
            session,
            "od_test_residents",
            "resident",
            "Cư dân (thử)",
            "Residents (test)",
            columns,
            len(rows),
            THONG_KE,
        )
    wait_until_dispatched(db)
    return warehouse, warehouse_api, columns


def test_warehouse_personal_columns_refused_aggregates_suppressed_and_refreshed(
    client, db, publisher, warehouse_table
):
    warehouse, warehouse_api, columns = warehouse_table
    sources = client.get("/api/v1/opendata/sources", headers=publisher.headers).json()
    mine = next(s for s in sources if s["key"] == "warehouse:od_test_residents")
    assert {c["name"]: c["classification"] for c in mine["columns"]}["personal_id"] == "personal"
    r = publish(
        client,
        publisher,
        source="warehouse:od_test_residents",
        columns=["commune_code", "personal_id"],
        dataset={**META, "name": "cu-dan"},
    )
    assert r.status_code == 422 and r.json()["code"] == "opendata_personal_column"
    r = publish(
        client,
        publisher,
        source="warehouse:od_test_residents",
        group_by=["personal_id"],
        measure="count",
        dataset={**META, "name": "cu-dan"},
    )
    assert r.status_code == 422
    assert action(client, "package_show", {"id": "cu-dan"}).status_code == 404
    # without columns: only public ones are published
    r = publish(
        client, publisher, source="warehouse:od_test_residents", dataset={**META, "name": "cu-dan-cong-khai"}
    )
    assert r.status_code == 201, r.text
    assert [f["id"] for f in rows_of(client, r.json()["resource_id"])["fields"]] == [
        "_id",
        "commune_code",
        "sex",
    ]
    r = publish(
        client,
        publisher,
        source="warehouse:od_test_residents",
        group_by=["commune_code"],
        measure="count",
        dataset={**META, "name": "cu-dan-theo-xa"},
    )
    assert r.status_code == 201, r.text
    resource_id = r.json()["resource_id"]
    assert {x["commune_code"]: x["value"] for x in rows_of(client, resource_id)["records"]} == {
        "17329": 7,
        "17380": None,
    }
    # the warehouse changes: the publication follows through the event
    rows = [
        {"personal_id": f"0500{i:08d}", "commune_code": "17380", "sex": "Nam", "age": 30} for i in range(6)
    ]
    with db.transaction() as session:
        warehouse.replace_table(warehouse.path_for(session), "od_test_residents", columns, rows)
        warehouse_api.register_table(
            session,
            "od_test_residents",
            "resident",
            "Cư dân (thử)",
            "Residents (test)",
            columns,
            len(rows),
            THONG_KE,
        )
    wait_until_dispatched(db)
    assert {x["commune_code"]: x["value"] for x in rows_of(client, resource_id)["records"]} == {"17380": 6}
    with db.transaction(write=False) as s:
        actions = set(
            s.scalars(select(AuditEntry.action).where(AuditEntry.action.like("opendata.publication.%")))
        )
    assert actions == {"opendata.publication.create", "opendata.publication.refresh"}


def test_scheduled_refresh_and_quality_endpoint(client, db, publisher):
    from datetime import timedelta

    from tinhso.kit.db import utcnow
    from tinhso.opendata import publishing
    from tinhso.opendata.models import Publication

    r = publish(
        client, publisher, source="reference:agencies", refresh_days=7, dataset={**META, "name": "co-quan"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["next_refresh_at"] is not None
    with db.transaction() as session:
        assert publishing.refresh_due(session) == 0
        pub = session.get(Publication, r.json()["id"])
        pub.next_refresh_at = utcnow() - timedelta(minutes=1)
    with db.transaction() as session:
        assert publishing.refresh_due(session) == 1
        assert session.get(Publication, r.json()["id"]).next_refresh_at > utcnow() + timedelta(days=6)
    quality = client.get("/api/v1/opendata/datasets/co-quan/quality").json()
    assert quality["checks"]["license"]["ok"] is True and quality["checks"]["description"]["ok"] is False
    assert client.get("/api/v1/opendata/datasets/khong-co/quality").status_code == 404
