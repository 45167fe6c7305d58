"""Quality scores (sống decays with age against the entity's refresh rate), KPI measures, JSON ingestion, and
creating a new dictionary entity."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.factories import TUPHAP
from tinhso.data.ingest import ingest_file
from tinhso.data.measures import MEASURES
from tinhso.data.models import Batch
from tinhso.data.quality import scores
from tinhso.kit.db import utcnow


def _rows() -> list[dict[str, object]]:
    return [
        {"personal_id": "040190001234", "full_name": "Nguyễn Thị Hoa", "birth_date": "1990-05-12", "sex": "F", "commune_code": "16681"},
        {"personal_id": "040085004321", "full_name": "Hồ Văn Bình", "birth_date": "1985-09-03", "sex": "M", "commune_code": "17464"},
        {"personal_id": "040085004321", "full_name": "Hồ Văn Bình", "birth_date": "1985-09-03", "sex": "M", "commune_code": "17464"},
        {"personal_id": "040085009999", "full_name": "Trần Văn Thiếu", "birth_date": "", "sex": "M", "commune_code": "17464"},
    ]  # fmt: skip


def test_quality_dimensions_and_measures(data_db, tmp_path) -> None:  # noqa: ANN001
    lines = tmp_path / "dan-cu.jsonl"
    lines.write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in _rows()) + "\nnot json\n", encoding="utf-8"
    )
    batch, _ = ingest_file(data_db, lines, "citizen", "jsonl")
    assert (batch.rows_total, batch.rows_accepted, batch.rows_rejected) == (5, 3, 2)
    q = batch.quality
    assert q["du"] < 1 and q["sach"] < 1 and q["dung"] == 1.0 and q["song"] == 1.0
    array = tmp_path / "dan-cu.json"
    array.write_text(json.dumps(_rows()[:2], ensure_ascii=False), encoding="utf-8")
    assert ingest_file(data_db, array, "citizen", "json-array")[0].rows_accepted == 2

    with data_db.transaction() as s:
        fresh = {(x["source"]): x["scores"]["song"] for x in scores(s)["sources"]}
        assert fresh == {"json-array": 1.0, "jsonl": 1.0}
        # the citizen entity expects a refresh every 30 days: 45 days old is half alive, 60 days is dead
        s.get(Batch, batch.id).finished_at = utcnow() - timedelta(days=45)
    with data_db.transaction() as s:
        song = {x["source"]: x["scores"]["song"] for x in scores(s)["sources"]}
        assert abs(song["jsonl"] - 0.5) < 0.01 and song["json-array"] == 1.0
        entity = scores(s)["entities"][0]
        assert entity["entity"] == "citizen" and entity["scores"]["dung_chung"] > 0
        now = utcnow()
        overall = MEASURES["data.quality.overall"](s, now - timedelta(days=1), now + timedelta(days=1), None)
        assert overall is not None and 50 < overall <= 100
        assert MEASURES["data.registries"](s, now - timedelta(days=1), now, None) == 0
        assert MEASURES["data.reuse"](s, now - timedelta(days=1), now, None) == 1  # one warehouse table


def test_create_entity(client, data_db, factory) -> None:  # noqa: ANN001
    admin = factory.person(("agency_admin",), TUPHAP)
    body = {
        "code": "tourist_accommodation", "name_vi": "Cơ sở lưu trú du lịch", "name_en": "Tourist accommodation",
        "key_field": "code", "refresh_days": 90,
        "fields": [
            {"name": "code", "type": "string", "label_vi": "Mã", "label_en": "Code", "classification": "public", "required": True},
            {"name": "rooms", "type": "integer", "label_vi": "Số phòng", "label_en": "Rooms", "classification": "public"},
        ],
    }  # fmt: skip
    r = client.post("/api/v1/data/entities", json=body, headers=admin.headers)
    assert r.status_code == 201 and r.json()["owner_agency"] == TUPHAP and r.json()["version"] == 1
    assert client.post("/api/v1/data/entities", json=body, headers=admin.headers).status_code == 409
    bad = body | {"code": "x_bad", "fields": [{**body["fields"][0], "classification": "secret"}]}
    assert (
        client.post("/api/v1/data/entities", json=bad, headers=admin.headers).json()["code"]
        == "entity_field_classification"
    )
    assert client.get("/api/v1/data/entities/x_bad").status_code == 404
    citizen = factory.citizen()
    assert (
        client.post("/api/v1/data/entities", json=body | {"code": "y"}, headers=citizen.headers).status_code
        == 403
    )
