"""Ingestion into the warehouse, the warehouse API contract, read-only analytics and the dictionary API."""

from __future__ import annotations

import csv
import io
import time
import unicodedata
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from tests.factories import CONGAN
from tinhso.data import warehouse_api
from tinhso.data.ingest import ingest_file, reports_dir
from tinhso.data.synth import write_citizens
from tinhso.kit.errors import BadRequest, NotFound
from tinhso.kit.events import OutboxEvent
from tinhso.kit.vn.names import TONES

HEADER = "personal_id,full_name,birth_date,sex,ethnicity,nationality,phone,commune_code,address\n"
ROWS = [
    "040190001234,  nguyễn thị HOÀ ,12/05/1990,F,01,VN,0912 345 678,16681,",
    '040085004321,Hồ Văn Bình,1985-09-03,M,01,VN,,,"Xóm 3, Xã Diễn Kỷ, Huyện Diễn Châu, Tỉnh Nghệ An"',
    "040190009999,Lê Văn Sai,12/05/1990,M,01,VN,,16681,",  # sex digit says female: contradiction
    "12345,Không Hợp Lệ,31/02/2000,F,99,VN,,16681,",  # bad id, impossible date, unknown ethnic code
    '040095001111,Lò Thị Xoan,00/00/1995,F,03,VN,,,"Xã Hòa Sơn, Huyện Đô Lương, Tỉnh Nghệ An"',  # split commune
]


def _cp1258(text: str) -> bytes:
    """Windows-1258 keeps tone marks as combining characters after the (precomposed) base letter."""
    out = []
    for ch in text:
        d = unicodedata.normalize("NFD", ch)
        tones = "".join(c for c in d if c in TONES)
        out.append(unicodedata.normalize("NFC", "".join(c for c in d if c not in TONES)) + tones)
    return "".join(out).encode("cp1258")


def _csv(tmp_path: Path, rows: list[str], encoding: str = "utf-8", name: str = "dan-cu.csv") -> Path:
    path = tmp_path / name
    text = HEADER + "\n".join(rows) + "\n"
    path.write_bytes(_cp1258(text) if encoding == "cp1258" else text.encode(encoding))
    return path


def test_ingest_standardises_rejects_and_is_idempotent(data_db, tmp_path) -> None:  # noqa: ANN001
    path = _csv(tmp_path, ROWS, "utf-8-sig")
    batch, reused = ingest_file(data_db, path, "citizen", "cong-an")
    assert not reused and batch.status == "done"
    assert (batch.rows_total, batch.rows_accepted, batch.rows_rejected) == (5, 2, 3)
    assert batch.rows_fixed == 2
    report = (reports_dir() / batch.error_report).read_text(encoding="utf-8-sig")
    assert "personal_id_contradiction" in report and "date_invalid" in report and "codelist" in report
    assert "address_ambiguous" in report and "Xã Vĩnh Tường (17357)" in report
    with data_db.transaction() as s:
        tables = {t.name: t for t in warehouse_api.warehouse_tables(s)}
        assert tables["citizen"].row_count == 2
        assert {c.name: c.classification for c in tables["citizen"].columns}["personal_id"] == "personal"
        rows = warehouse_api.read_rows(s, "citizen", ["personal_id", "full_name", "commune_code"])
        assert rows == [
            {"personal_id": "040085004321", "full_name": "Hồ Văn Bình", "commune_code": "17416"},
            {"personal_id": "040190001234", "full_name": "Nguyễn Thị Hòa", "commune_code": "16681"},
        ]
        assert warehouse_api.aggregate(s, "citizen", ["sex"]) == [
            {"sex": "F", "value": 1},
            {"sex": "M", "value": 1},
        ]
        events = [
            e.payload
            for e in s.scalars(select(OutboxEvent).where(OutboxEvent.topic == "data.warehouse.updated"))
        ]
        assert events == [{"table": "citizen", "rows": 2}]
        with pytest.raises(NotFound):
            warehouse_api.read_rows(s, "nope")
        with pytest.raises(BadRequest):
            warehouse_api.aggregate(s, "citizen", ["sex"], "sum:full_name")
    again, reused = ingest_file(data_db, path, "citizen", "cong-an")
    assert reused and again.id == batch.id
    with data_db.transaction() as s:
        assert warehouse_api.warehouse_tables(s)[0].row_count == 2


@pytest.mark.parametrize("encoding", ["utf-16", "cp1258"])
def test_ingest_other_encodings(data_db, tmp_path, encoding) -> None:  # noqa: ANN001
    batch, _ = ingest_file(data_db, _csv(tmp_path, ROWS[:2], encoding), "citizen", f"src-{encoding}")
    assert batch.rows_accepted == 2
    with data_db.transaction() as s:
        names = {r["full_name"] for r in warehouse_api.read_rows(s, "citizen", ["full_name"])}
    assert names == {"Nguyễn Thị Hòa", "Hồ Văn Bình"}


def test_ingest_xlsx_merged_header_and_truncated_csv(data_db, tmp_path) -> None:  # noqa: ANN001
    wb = Workbook()
    ws = wb.active
    ws.append(["Thông tin công dân", None, None, None])
    ws.merge_cells("A1:D1")
    ws.append(
        [
            "Số định danh cá nhân",
            "Họ, chữ đệm và tên",
            "Ngày, tháng, năm sinh",
            "Giới tính",
            "Xã, phường (2025)",
        ]
    )
    ws.append(["040190001234", "Nguyễn Thị Hoa", 32_945, "F", "16681"])  # birth date as an Excel serial
    ws.append([40085004321, "Hồ Văn Bình", "=DATE(1985,9,3)", "M", "17464"])  # number lost its zero; formula
    ws.append(["040090001235", "Lê Văn An", "=DATE(1990,1,2)", "M", "16681"])  # formula saved with its result
    path = tmp_path / "dan-cu.xlsx"
    wb.save(path)
    # openpyxl saves formulas without results; give the second one the result a spreadsheet program would save
    with zipfile.ZipFile(path) as zin:
        parts = {n: zin.read(n) for n in zin.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"]
    assert sheet.count(b"<v></v>") == 2
    parts["xl/worksheets/sheet1.xml"] = sheet.replace(
        b"<f>DATE(1990,1,2)</f><v></v>", b"<f>DATE(1990,1,2)</f><v>32875</v>"
    )
    with zipfile.ZipFile(path, "w") as zout:
        for n, data in parts.items():
            zout.writestr(n, data)
    batch, _ = ingest_file(data_db, path, "citizen", "xlsx")
    assert batch.rows_total == 3 and batch.rows_accepted == 2 and batch.rows_rejected == 1
    lines = list(
        csv.DictReader(io.StringIO((reports_dir() / batch.error_report).read_text(encoding="utf-8-sig")))
    )
    assert [(r["row"], r["field"], r["rule"]) for r in lines] == [
        ("4", "birth_date", "formula_without_value")
    ]
    assert "C4" in lines[0]["message_vi"] and "công thức" in lines[0]["message_vi"]
    assert lines[0]["value"] == "'=DATE(1985,9,3)"  # the formula text, neutralised for spreadsheets
    with data_db.transaction() as s:
        stored = warehouse_api.read_rows(s, "citizen", ["personal_id", "birth_date"])
    assert {r["personal_id"]: r["birth_date"] for r in stored}["040090001235"] == "1990-01-02"
    injected = _csv(tmp_path, ['=HYPERLINK("http://x"),Ai Đó,12/05/1990,F,01,VN,,16681,'], name="inject.csv")
    report = (reports_dir() / ingest_file(data_db, injected, "citizen", "inject")[0].error_report).read_text(
        encoding="utf-8-sig"
    )
    assert """,\"'=HYPERLINK""" in report and ",=HYPERLINK" not in report and ',"=HYPERLINK' not in report
    truncated = _csv(tmp_path, [ROWS[0], "040085004321,Hồ Văn"], name="cut.csv")
    cut, _ = ingest_file(data_db, truncated, "citizen", "cut")
    assert cut.rows_rejected == 1 and "row_malformed" in (reports_dir() / cut.error_report).read_text(
        encoding="utf-8-sig"
    )


def test_ingest_refuses_xml_entities_and_unknown_entity(data_db, tmp_path) -> None:  # noqa: ANN001
    evil = tmp_path / "evil.xml"
    evil.write_text(
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><rows><row><full_name>&x;</full_name></row></rows>'
    )
    with pytest.raises(BadRequest) as exc:
        ingest_file(data_db, evil, "citizen", "xml")
    assert exc.value.code == "ingest_xml_forbidden"
    good = tmp_path / "ok.xml"
    good.write_text(
        "<rows><row><personal_id>040190001234</personal_id><full_name>Nguyễn Thị Hoa</full_name><birth_date>1990-05-12</birth_date><sex>F</sex><commune_code>16681</commune_code></row></rows>",
        encoding="utf-8",
    )  # noqa: E501
    assert ingest_file(data_db, good, "citizen", "xml")[0].rows_accepted == 1
    with pytest.raises(NotFound):
        ingest_file(data_db, good, "no_such_entity", "xml")
    with data_db.transaction() as s:
        assert warehouse_api.warehouse_tables(s)[0].row_count == 1


def test_upload_api_and_query(client, data_db, factory, tmp_path) -> None:  # noqa: ANN001
    official = factory.person(("official",), CONGAN)
    citizen = factory.citizen()
    path = tmp_path / "c.csv"
    write_citizens(path, 300, seed=5)
    with path.open("rb") as fh:
        r = client.post(
            "/api/v1/data/batches",
            files={"file": ("c.csv", fh, "text/csv")},
            data={"entity": "citizen", "source": "api"},
            headers=official.headers,
        )
    assert r.status_code == 202, r.text
    batch_id = r.json()["id"]
    for _ in range(600):
        b = client.get(f"/api/v1/data/batches/{batch_id}", headers=official.headers).json()
        if b["status"] not in ("queued", "running"):
            break
        time.sleep(0.1)
    assert b["status"] == "done" and b["rows_accepted"] > 250 and 0 < b["quality"]["overall"] <= 1
    assert client.get(f"/api/v1/data/batches/{batch_id}/errors", headers=official.headers).status_code == 200
    assert client.get(f"/api/v1/data/batches/{batch_id}", headers=citizen.headers).status_code == 404

    q = client.post(
        "/api/v1/warehouse/query",
        json={"sql": "SELECT sex, count(*) AS n FROM citizen GROUP BY sex ORDER BY sex"},
        headers=official.headers,
    )
    assert q.status_code == 200 and q.json()["columns"] == ["sex", "n"] and len(q.json()["rows"]) == 2
    masked = client.post(
        "/api/v1/warehouse/query",
        json={"sql": "SELECT full_name AS x, sex FROM citizen LIMIT 3"},
        headers=official.headers,
    ).json()
    assert masked["masked"] == ["x"] and all(r[0] == "***" for r in masked["rows"])
    for sql, code in [
        ("DELETE FROM citizen", "query_not_select"),
        ("SELECT * FROM duckdb_tables()", "query_table_function"),
        ("SELECT * FROM information_schema.tables", "query_table_not_allowed"),
        ("SELECT * FROM read_csv('/etc/passwd')", "query_table_function"),
        ("SELECT 1; SELECT 2", "query_one_statement"),
        ("SELECT count(*) FROM citizen WHERE personal_id = '040190001234'", "query_personal_filter"),
    ]:
        bad = client.post("/api/v1/warehouse/query", json={"sql": sql}, headers=official.headers)
        assert bad.json()["code"] == code, (sql, bad.text)
    assert (
        client.post("/api/v1/warehouse/query", json={"sql": "SELECT 1"}, headers=citizen.headers).status_code
        == 403
    )
    saved = client.post(
        "/api/v1/warehouse/queries",
        json={
            "name": "Theo giới tính",
            "sql": "SELECT sex, count(*) FROM citizen GROUP BY sex",
            "chart": {"type": "bar"},
        },
        headers=official.headers,
    )
    assert saved.status_code == 201
    run = client.post(f"/api/v1/warehouse/queries/{saved.json()['id']}/run", headers=official.headers)
    assert run.status_code == 200 and run.json()["chart"] == {"type": "bar"}
    quality = client.get("/api/v1/data/quality", headers=official.headers).json()
    assert quality["entities"][0]["entity"] == "citizen" and quality["entities"][0]["scores"]["song"] == 1.0
    pq = client.get("/api/v1/warehouse/tables/citizen/parquet", headers=official.headers)
    assert pq.status_code == 200 and pq.content[:4] == b"PAR1"


def test_dictionary_api_and_pages(client, data_db, factory) -> None:  # noqa: ANN001
    entities = client.get("/api/v1/data/entities?q=ho kinh doanh").json()["items"]
    assert [e["code"] for e in entities] == ["household_business"]
    assert len(client.get("/api/v1/data/entities").json()["items"]) == 8
    assert client.get("/api/v1/data/entities/nope").status_code == 404
    ethnic = client.get("/api/v1/data/codelists/ethnic_groups").json()["items"]
    assert len(ethnic) == 54 and {"code": "29", "label_vi": "Khơ-mú", "label_en": "Khmu"} in ethnic
    school = client.get("/api/v1/data/entities/school").json()
    new_field = {
        "name": "phone",
        "type": "string",
        "label_vi": "Điện thoại",
        "label_en": "Phone",
        "classification": "public",
        "rule": "phone",
    }
    outsider = factory.person(("agency_admin",), CONGAN)
    r = client.post(
        "/api/v1/data/entities/school/versions",
        json={"fields": school["fields"] + [new_field]},
        headers=outsider.headers,
    )
    assert r.status_code == 403
    owner = factory.person(("agency_admin",), "000.00.09.H41")
    r = client.post(
        "/api/v1/data/entities/school/versions",
        json={"fields": school["fields"] + [new_field]},
        headers=owner.headers,
    )
    assert r.status_code == 201 and r.json()["version"] == 2
    assert (
        client.post(
            "/api/v1/data/entities/school/versions", json={"key_field": "nope"}, headers=owner.headers
        ).status_code
        == 400
    )
    versions = client.get("/api/v1/data/entities/school/versions").json()["items"]
    assert [v["status"] for v in versions] == ["superseded", "published"]
    page = client.get("/du-lieu/tu-dien?lang=vi")
    assert page.status_code == 200 and "Hộ kinh doanh" in page.text
    assert "Phone" in client.get("/du-lieu/tu-dien/school?lang=en").text


def test_upload_over_the_limit_is_refused_and_changes_nothing(client, data_db, factory, monkeypatch) -> None:  # noqa: ANN001
    """Files over the API's limit (1 GB; here lowered to 4 kB) are refused while streaming, before any batch."""
    from tinhso.data import endpoints
    from tinhso.data.jobs import uploads_dir
    from tinhso.data.models import Batch

    monkeypatch.setattr(endpoints, "MAX_UPLOAD", 4096)
    official = factory.person(("official",), CONGAN)
    body = (HEADER + "\n".join(ROWS * 40) + "\n").encode()
    assert len(body) > 4096
    stored = set(uploads_dir(data_db.engine).iterdir())
    r = client.post(
        "/api/v1/data/batches",
        files={"file": ("big.csv", body, "text/csv")},
        data={"entity": "citizen", "source": "big"},
        headers=official.headers,
    )
    assert r.status_code == 413 and r.json()["code"] == "upload_too_large"
    with data_db.transaction() as s:
        assert s.scalars(select(Batch)).first() is None and warehouse_api.warehouse_tables(s) == []
    assert set(uploads_dir(data_db.engine).iterdir()) == stored  # nothing of the refused file is kept
