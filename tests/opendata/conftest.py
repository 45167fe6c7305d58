"""Open-data fixtures: a small catalogue made through the real services, publishers and their API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import Actor, Factory
from tinhso.kit.db import Database
from tinhso.opendata import datastore, service
from tinhso.opendata.schemas import DatasetIn, ResourceIn

THONG_KE = "000.00.16.H41"
NNMT = "000.00.06.H41"
TK_ORG = "thong-ke-tinh-nghe-an"


@dataclass
class Catalog:
    names: list[str]
    table_resource: str  # a DataStore resource of "dan-so-theo-xa"


def action(
    client: TestClient,
    name: str,
    data: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    get: bool = False,
) -> Any:
    if get:
        return client.get(f"/api/3/action/{name}", params=data or {}, headers=headers or {})
    return client.post(f"/api/action/{name}", json=data or {}, headers=headers or {})


def make_dataset(db: Database, actor: Actor, **fields: Any) -> str:
    rows = fields.pop("rows", None)
    with db.transaction() as session:
        dataset = service.create_dataset(session, actor.principal, DatasetIn(**fields))
        if rows is not None:
            res = service.create_resource(
                session,
                actor.principal,
                dataset.id,
                ResourceIn(name=f"Bảng {fields['name']}", format="CSV", url="about:datastore"),
            )
            res.url_type, res.url = "datastore", f"/datastore/dump/{res.id}"
            datastore.replace_rows(session, res, datastore.infer_fields(list(rows[0]), rows), rows)
            service.refresh_derived(session, dataset)
            return res.id
        return dataset.id


@pytest.fixture
def publisher(factory: Factory) -> Actor:
    """An official of Thống kê tỉnh (000.00.16.H41)."""
    return factory.person(("official",), agency=THONG_KE)


@pytest.fixture
def other_publisher(factory: Factory) -> Actor:
    return factory.person(("official",), agency=NNMT)


@pytest.fixture
def catalog(db: Database, publisher: Actor, other_publisher: Actor) -> Catalog:
    rows = [
        {"commune_code": "17329", "commune_name": "Xã Anh Sơn", "sex": "Nam", "population": 12034},
        {"commune_code": "17329", "commune_name": "Xã Anh Sơn", "sex": "Nữ", "population": 12511},
        {"commune_code": "17380", "commune_name": "Xã Yên Xuân", "sex": "Nam", "population": 9012},
        {"commune_code": "17380", "commune_name": "Xã Yên Xuân", "sex": "Nữ", "population": 9377},
        {"commune_code": "16681", "commune_name": "Phường Vinh Phú", "sex": "Nam", "population": 40210},
        {"commune_code": "16681", "commune_name": "Phường Vinh Phú", "sex": "Nữ", "population": 41876},
    ]
    table = make_dataset(
        db,
        publisher,
        name="dan-so-theo-xa",
        title="Dân số theo xã và giới tính",
        notes="Dân số của các xã, phường tỉnh Nghệ An theo giới tính, tổng hợp hằng năm từ cơ sở dữ liệu dân cư.",
        owner_org=THONG_KE,
        license_id="CC-BY-4.0",
        tags=["dân số", "giới tính"],
        groups=["dan-cu"],
        frequency="ANNUAL",
        temporal_start=date(2025, 1, 1),
        spatial="Tỉnh Nghệ An",
        rows=rows,
    )
    make_dataset(
        db,
        other_publisher,
        name="chat-luong-khong-khi",
        title="Chất lượng không khí Vinh",
        notes="Chỉ số VN_AQI trung bình theo tháng.",
        owner_org=NNMT,
        license_id="nghean-odl-1.0",
        tags=["không khí"],
        groups=["moi-truong"],
        rows=[{"month": "2025-01", "aqi": 80}, {"month": "2025-02", "aqi": 95}],
    )
    make_dataset(
        db,
        publisher,
        name="ho-gia-dinh",
        title="Số hộ gia đình",
        owner_org=THONG_KE,
        tags=["hộ gia đình"],
        groups=["dan-cu"],
    )
    make_dataset(
        db, publisher, name="so-lieu-noi-bo", title="Dân số dự báo (nội bộ)", owner_org=THONG_KE, private=True
    )
    return Catalog(["dan-so-theo-xa", "chat-luong-khong-khi", "ho-gia-dinh", "so-lieu-noi-bo"], table)
