"""Registries through the GovStack Digital Registries API: versioned, validated, agency-scoped, audited reads."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.factories import CONGAN, TUPHAP
from tinhso.data import warehouse_api
from tinhso.data.models import Record, RecordVersion
from tinhso.kit.audit import AuditEntry

REG = "/api/v1/registries"
HOA = {"personal_id": "040190001234", "full_name": "  nguyễn thị HOÀ", "birth_date": "12/05/1990", "sex": "F",
       "ethnicity": "01", "nationality": "VN", "phone": "0912 345 678", "commune_code": "16681"}  # fmt: skip


def _registry(client, admin) -> None:  # noqa: ANN001
    r = client.post(
        f"{REG}/database/modify",
        json={
            "code": "citizen",
            "name_vi": "Công dân",
            "name_en": "Citizens",
            "entity": "citizen",
            "shared_with": [],
        },
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text


def test_registry_lifecycle(client, data_db, factory) -> None:  # noqa: ANN001
    admin = factory.person(("agency_admin", "official"), CONGAN)
    _registry(client, admin)
    assert client.get(f"{REG}/databases", headers=admin.headers).json()["count"] == 1
    schema = client.get(f"{REG}/database/citizen", headers=admin.headers).json()["schema"]
    assert schema["$schema"].endswith("2020-12/schema") and "personal_id" in schema["required"]

    r = client.post(f"{REG}/data/citizen/1.0/create", json={"write": {"content": HOA}}, headers=admin.headers)
    assert r.status_code == 200, r.text
    content = r.json()["content"]
    assert content["full_name"] == "Nguyễn Thị Hòa" and content["phone"] == "+84912345678"
    assert content["birth_date"] == "1990-05-12"
    # the same create again is refused and changes nothing
    again = client.post(
        f"{REG}/data/citizen/1.0/create", json={"write": {"content": HOA}}, headers=admin.headers
    )
    assert again.status_code == 409 and again.json()["code"] == "record_exists"

    # reading personal data needs a purpose, and is audited with the subject
    q = {"query": {"content": {"personal_id": "040190001234"}}}
    assert (
        client.post(f"{REG}/data/citizen/1.0/read", json=q, headers=admin.headers).json()["code"]
        == "purpose_required"
    )
    read = client.post(
        f"{REG}/data/citizen/1.0/read", json=q | {"purpose": "Kiểm tra hồ sơ"}, headers=admin.headers
    )
    assert read.status_code == 200 and read.json()["content"]["sex"] == "F"
    with data_db.transaction() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "data.record.read")).one()
        assert entry.subject_id == "040190001234" and entry.purpose == "Kiểm tra hồ sơ"

    up = client.put(
        f"{REG}/data/citizen/1.0/update",
        json={
            "query": {"content": {"personal_id": "040190001234"}},
            "write": {"content": {"phone": "0983456789"}},
        },
        headers=admin.headers,
    )
    assert up.status_code == 200 and up.json()["content"]["phone"] == "+84983456789"
    hist = client.get(
        f"{REG}/data/citizen/1.0/040190001234/history", headers=admin.headers | {"X-Purpose": "audit"}
    ).json()
    assert [v["operation"] for v in hist["items"]] == ["create", "update"]
    assert hist["items"][1]["changed_fields"] == ["phone"] and hist["items"][1]["changed_by"] == admin.id

    # invalid data: refused, nothing changed
    bad = client.put(
        f"{REG}/data/citizen/1.0/update",
        json={"query": {"content": {"personal_id": "040190001234"}}, "write": {"content": {"sex": "M"}}},
        headers=admin.headers,
    )
    assert bad.status_code == 422 and bad.json()["code"] == "record_invalid"
    with data_db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(RecordVersion)) == 2

    ex = client.post(
        f"{REG}/data/citizen/1.0/exists", json={"query": {"content": {"sex": "F"}}}, headers=admin.headers
    )
    assert ex.json()["answer"]["status"] is True
    lst = client.get(f"{REG}/data/citizen/1.0?search=hoa&query.sex=F&purpose=thống kê", headers=admin.headers)
    assert lst.status_code == 200 and lst.json()["count"] == 1
    value = client.get(
        f"{REG}/data/citizen/1.0/040190001234/read-value/full_name.json",
        headers=admin.headers | {"X-Purpose": "x"},
    )
    assert value.json() == {"value": "Nguyễn Thị Hòa"}
    upc = client.post(
        f"{REG}/data/citizen/1.0/update-or-create",
        json={
            "write": {
                "content": HOA
                | {
                    "personal_id": "040085004321",
                    "full_name": "Hồ Văn Bình",
                    "sex": "M",
                    "birth_date": "1985-09-03",
                }
            }
        },
        headers=admin.headers,
    )
    assert upc.status_code == 200, upc.text
    assert (
        client.delete(f"{REG}/data/citizen/1.0/040085004321/delete", headers=admin.headers).status_code == 204
    )
    assert (
        client.delete(f"{REG}/data/citizen/1.0/040085004321/delete", headers=admin.headers).status_code == 404
    )
    with data_db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Record).where(Record.deleted.is_(False))) == 1


def test_other_agencies_cannot_read_or_write(client, data_db, factory) -> None:  # noqa: ANN001
    admin = factory.person(("agency_admin", "official"), CONGAN)
    other = factory.person(("agency_admin", "official"), TUPHAP)
    _registry(client, admin)
    client.post(f"{REG}/data/citizen/1.0/create", json={"write": {"content": HOA}}, headers=admin.headers)
    q = {"query": {"content": {"personal_id": "040190001234"}}, "purpose": "tò mò"}
    r = client.post(f"{REG}/data/citizen/1.0/read", json=q, headers=other.headers)
    assert r.status_code == 403 and r.json()["code"] == "registry_read_forbidden"
    w = client.post(f"{REG}/data/citizen/1.0/create", json={"write": {"content": HOA}}, headers=other.headers)
    assert w.status_code == 403
    assert client.post(f"{REG}/data/nope/1.0/read", json=q, headers=admin.headers).status_code == 404
    assert client.get(f"{REG}/databases").status_code == 401


def test_lookup_record_audits_subject_person(client, data_db, factory) -> None:  # noqa: ANN001
    admin = factory.person(("agency_admin", "official"), CONGAN)
    hoa = factory.citizen(personal_id="040190001234", full_name="Nguyễn Thị Hoa")
    _registry(client, admin)
    client.post(f"{REG}/data/citizen/1.0/create", json={"write": {"content": HOA}}, headers=admin.headers)
    with data_db.transaction() as s:
        # the citizen reads her own record (pre-filling a form); someone else's number gives nothing she may see
        data = warehouse_api.lookup_record(
            s, "citizen", "personal_id", "040190001234", hoa.principal, "Điền tờ khai"
        )
        assert data is not None and data["full_name"] == "Nguyễn Thị Hòa"
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "data.record.read")).one()
        assert entry.subject_id == hoa.id and entry.purpose == "Điền tờ khai"
    usage = client.get(f"{REG}/data/MyPersonalDataUsage/1.0", headers=hoa.headers).json()
    assert usage and usage[0]["purpose"] == "Điền tờ khai"


def test_citizen_page_shows_who_used_her_data(client, data_db, factory) -> None:  # noqa: ANN001
    admin = factory.person(("agency_admin", "official"), CONGAN)
    hoa = factory.citizen(personal_id="040190001234", full_name="Nguyễn Thị Hoa")
    other = factory.citizen(personal_id="040085004321", full_name="Hồ Văn Bình")
    _registry(client, admin)
    client.post(f"{REG}/data/citizen/1.0/create", json={"write": {"content": HOA}}, headers=admin.headers)
    q = {"query": {"content": {"personal_id": "040190001234"}}, "purpose": "Xác minh nơi cư trú"}
    assert client.post(f"{REG}/data/citizen/1.0/read", json=q, headers=admin.headers).status_code == 200
    page = client.get("/du-lieu/cua-toi", headers=hoa.headers)
    assert page.status_code == 200
    assert "Xác minh nơi cư trú" in page.text and "data.record.read" in page.text
    with data_db.transaction() as s:
        from tinhso.identity.models import Agency

        agency = s.get(Agency, CONGAN)
        assert agency is not None and agency.name in page.text
    # another citizen sees nothing of hers; without signing in the page only asks to sign in
    assert "Xác minh nơi cư trú" not in client.get("/du-lieu/cua-toi", headers=other.headers).text
    assert 'href="/du-lieu/cua-toi"' in client.get("/du-lieu/tu-dien").text
    anonymous = client.get("/du-lieu/cua-toi")
    assert anonymous.status_code == 200 and "Đăng nhập để xem" in anonymous.text
    # an agency system has no personal data of its own
    system = factory.system(CONGAN)
    assert client.get(f"{REG}/data/MyPersonalDataUsage/1.0", headers=system.headers).status_code == 403
